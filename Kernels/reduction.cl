// reduction.cl: per-axis bias add and its gradient, the per-axis sum.
//
// Layout: a tensor seen as [outer, axis, inner] (NCHW bias: outer = N, axis = C,
// inner = H·W; dense bias: outer = N, axis = features, inner = 1), contiguous.
//
// Tunable: REDUCE_LOCAL, the work-group size of reduce_sum_axis (a power of two; the host
// launches with this size and passes REDUCE_LOCAL floats of local memory).

#ifndef REDUCE_LOCAL
#define REDUCE_LOCAL 64
#endif

// y[o][a][i] += bias[a], in place. Range: [inner, axis, outer], so no division is needed.
__kernel void add_bias(const int outer, const int axis, const int inner,
                       __global const float* bias, __global float* y) {
    const int i = get_global_id(0), a = get_global_id(1), o = get_global_id(2);
    if (i >= inner || a >= axis || o >= outer) return;
    y[(o * axis + a) * inner + i] += bias[a];
}

// out[a] = Σ over o and i of x[o][a][i]. One work-group of REDUCE_LOCAL work-items per axis
// entry: along each contiguous run of `inner` elements, work-item l sums the float8 blocks
// l, l + REDUCE_LOCAL, … (vector loads a CPU device runs as vector instructions) and then the
// tail elements; a tree reduction in local memory adds the partial sums. Every order is
// fixed, so the result is deterministic.
__kernel void reduce_sum_axis(const int outer, const int axis, const int inner,
                              __global const float* x, __global float* out, __local float* partial) {
    const int a = get_group_id(0);
    const int lid = get_local_id(0);
    const int blocks = inner / 8;
    float8 sum8 = (float8)(0.0f);
    float sum = 0.0f;
    for (int o = 0; o < outer; ++o) {
        __global const float* run = x + (o * axis + a) * inner;
        for (int b = lid; b < blocks; b += REDUCE_LOCAL) sum8 += vload8(b, run);
        for (int i = blocks * 8 + lid; i < inner; i += REDUCE_LOCAL) sum += run[i];
    }
    const float4 s4 = sum8.lo + sum8.hi;
    const float2 s2 = s4.lo + s4.hi;
    partial[lid] = sum + s2.x + s2.y;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = REDUCE_LOCAL / 2; width > 0; width >>= 1) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[a] = partial[0];
}

// out[a] = Σ over o of x[o][a]: the per-axis sum where inner = 1 (a fully connected layer's
// bias gradient). One work-item per axis entry, adding the rows in order: consecutive
// work-items read consecutive addresses of each row. reduce_sum_axis would give each entry a
// work-group of REDUCE_LOCAL work-items with one element per row between them (on PoCL, 8×1000
// took 0.31 ms that way, a tree of barriers per entry). Deterministic, like the other.
__kernel void reduce_sum_columns(const int outer, const int axis, __global const float* x, __global float* out) {
    const int a = get_global_id(0);
    if (a >= axis) return;
    float sum = 0.0f;
    for (int o = 0; o < outer; ++o) sum += x[o * axis + a];
    out[a] = sum;
}
