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

// y[o][a][i] += bias[a], in place. One work-item per element of y.
__kernel void add_bias(const int outer, const int axis, const int inner,
                       __global const float* bias, __global float* y) {
    const int j = get_global_id(0);
    if (j >= outer * axis * inner) return;
    const int row = j / inner;                    // o·axis + a
    y[j] += bias[row - (row / axis) * axis];
}

// out[a] = Σ over o and i of x[o][a][i]. One work-group of REDUCE_LOCAL work-items per axis
// entry: each work-item sums a fixed, strided subset, then a tree reduction in local memory
// adds the partial sums in a fixed order, so the result is deterministic.
__kernel void reduce_sum_axis(const int outer, const int axis, const int inner,
                              __global const float* x, __global float* out, __local float* partial) {
    const int a = get_group_id(0);
    const int lid = get_local_id(0);
    const int span = outer * inner;
    float sum = 0.0f;
    for (int j = lid; j < span; j += REDUCE_LOCAL) {
        const int o = j / inner;
        sum += x[(o * axis + a) * inner + (j - o * inner)];
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = REDUCE_LOCAL / 2; width > 0; width >>= 1) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0 && a < axis) out[a] = partial[0];
}
