// softmax.cl: softmax and log-softmax along one axis, forward and backward.
//
// Layout: a tensor seen as [outer, axis, inner] (AxisShape); element (o, a, i) is at
// (o·axis + a)·inner + i. One work-item per row (o, i) on a 2-D range [inner, outer], each
// walking its `axis` elements with stride `inner`, so neighbouring work-items read
// neighbouring addresses when inner > 1. For that case the host asks for work-groups of up
// to 64 along inner (1.7× faster than PoCL's own choice on [64, 16, 16384]).
// This suits classifier heads and channel softmax on CPU-like devices (PoCL), where rows
// outnumber cores.
//
// The *_workgroup kernels are for long contiguous rows (inner = 1) on GPUs: one work-group of
// SOFTMAX_WG work-items per row, each taking every SOFTMAX_WG-th element, with tree reductions
// in local memory for the max and the sum. (On PoCL a work-group runs on one core and the
// strided loop is slow, so the host keeps the row-wise kernels there.)
//
// Forward (numerically stable): m = max x; s = Σ e^(x − m);
//   softmax y = e^(x − m) / s;  log-softmax y = x − m − log s.
// Backward, from the forward output y:
//   softmax     dx = y·(dy − Σ dy·y)
//   log-softmax dx = dy − e^y · Σ dy
// Each work-item reads and writes only its own row, so x may alias y and dy may alias dx.
//
// Tunable: SOFTMAX_WG (default 128, a power of two), the work-group size of the *_workgroup
// kernels; the host launches them with `softmaxWorkGroupSize` in OpenCLBackend+Activation.swift,
// which must equal it.

#ifndef SOFTMAX_WG
#define SOFTMAX_WG 128
#endif

__kernel void softmax_forward_rowwise(const int outer, const int axis, const int inner, const int logMode,
                                      __global const float* x, __global float* y) {
    const int i = get_global_id(0), o = get_global_id(1);
    if (i >= inner || o >= outer) return;
    const int base = o * axis * inner + i;
    float m = x[base];
    for (int a = 1; a < axis; ++a) m = fmax(m, x[base + a * inner]);
    float s = 0.0f;
    for (int a = 0; a < axis; ++a) s += exp(x[base + a * inner] - m);
    if (logMode) {
        const float shift = m + log(s);
        for (int a = 0; a < axis; ++a) y[base + a * inner] = x[base + a * inner] - shift;
    } else {
        const float inv = 1.0f / s;
        for (int a = 0; a < axis; ++a) y[base + a * inner] = exp(x[base + a * inner] - m) * inv;
    }
}

__kernel void softmax_backward_rowwise(const int outer, const int axis, const int inner, const int logMode,
                                       __global const float* y, __global const float* dy,
                                       __global float* dx) {
    const int i = get_global_id(0), o = get_global_id(1);
    if (i >= inner || o >= outer) return;
    const int base = o * axis * inner + i;
    float s = 0.0f;
    if (logMode) {
        for (int a = 0; a < axis; ++a) s += dy[base + a * inner];
        for (int a = 0; a < axis; ++a) {
            const int k = base + a * inner;
            dx[k] = dy[k] - exp(y[k]) * s;
        }
    } else {
        for (int a = 0; a < axis; ++a) s += dy[base + a * inner] * y[base + a * inner];
        for (int a = 0; a < axis; ++a) {
            const int k = base + a * inner;
            dx[k] = y[k] * (dy[k] - s);
        }
    }
}

// Reductions over one work-group; every work-item gets the result. The last barrier lets the
// caller reuse `scratch` right away.
float workgroup_max(__local float* scratch, const int lid, const float v) {
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = SOFTMAX_WG / 2; step > 0; step >>= 1) {
        if (lid < step) scratch[lid] = fmax(scratch[lid], scratch[lid + step]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

float workgroup_sum(__local float* scratch, const int lid, const float v) {
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = SOFTMAX_WG / 2; step > 0; step >>= 1) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// One work-group per contiguous row of `axis` elements (inner = 1); `rows` work-groups.
__kernel __attribute__((reqd_work_group_size(SOFTMAX_WG, 1, 1)))
void softmax_forward_workgroup(const int axis, const int logMode, __global const float* x,
                               __global float* y) {
    __local float scratch[SOFTMAX_WG];
    const int lid = get_local_id(0);
    const int base = get_group_id(0) * axis;
    float m = -INFINITY;
    for (int a = lid; a < axis; a += SOFTMAX_WG) m = fmax(m, x[base + a]);
    m = workgroup_max(scratch, lid, m);
    float s = 0.0f;
    for (int a = lid; a < axis; a += SOFTMAX_WG) s += exp(x[base + a] - m);
    s = workgroup_sum(scratch, lid, s);
    // Each work-item writes only the elements it read, after both reductions: x may alias y.
    if (logMode) {
        const float shift = m + log(s);
        for (int a = lid; a < axis; a += SOFTMAX_WG) y[base + a] = x[base + a] - shift;
    } else {
        const float inv = 1.0f / s;
        for (int a = lid; a < axis; a += SOFTMAX_WG) y[base + a] = exp(x[base + a] - m) * inv;
    }
}

__kernel __attribute__((reqd_work_group_size(SOFTMAX_WG, 1, 1)))
void softmax_backward_workgroup(const int axis, const int logMode, __global const float* y,
                                __global const float* dy, __global float* dx) {
    __local float scratch[SOFTMAX_WG];
    const int lid = get_local_id(0);
    const int base = get_group_id(0) * axis;
    float s = 0.0f;
    if (logMode) {
        for (int a = lid; a < axis; a += SOFTMAX_WG) s += dy[base + a];
    } else {
        for (int a = lid; a < axis; a += SOFTMAX_WG) s += dy[base + a] * y[base + a];
    }
    s = workgroup_sum(scratch, lid, s);
    for (int a = lid; a < axis; a += SOFTMAX_WG) {
        const int k = base + a;
        dx[k] = logMode ? dy[k] - exp(y[k]) * s : y[k] * (dy[k] - s);
    }
}
