// activation.cl: element-wise activation functions and their gradients, plus maxout.
//
// Layout: flat arrays of `n` floats, walked in streaming tiles (vector_io.cl). The function
// is chosen at run time by an int code (one kernel with a switch rather than one kernel per
// function: the code is uniform across the launch, so the branch costs nothing next to the
// memory traffic, and the host needs one launch path). Codes, matching `Activation.kernelCode`
// in OpenCLBackend+Activation.swift (the forward functions live in activation_function.cl):
//   0 relu        y = x < 0 ? 0 : x                 dx = x > 0 ? dy : 0
//   1 leaky relu  y = x > 0 ? x : alpha·x           dx = x > 0 ? dy : alpha·dy
//   2 elu         y = x > 0 ? x : alpha·(e^x − 1)   dx = x > 0 ? dy : dy·(y + alpha)
//   3 sigmoid     y = 1 / (1 + e^−x)                dx = dy·y·(1 − y)
//   4 tanh        y = tanh(x)                       dx = dy·(1 − y²)
// x and y may be the same buffer in the forward pass (in-place activation). For relu, and
// for leaky relu and elu with alpha > 0, y > 0 exactly where x > 0, so after an in-place
// forward pass the backward pass gives the same dx with y passed as x. The backward pass reads
// only the inputs its function needs (x for relu and leaky relu, y for sigmoid and tanh).
//
// Maxout: x is [N, C, S], y is [N, C/G, S]; y[n, k, s] = max over j < G of x[n, k·G + j, s].
// The backward pass gives each output element's dy to the first maximum of its group
// (recomputed from x) and zero to the rest; each work-item owns one group, so every dx
// element is written by exactly one work-item (no atomics, deterministic).
//
// Tunables (streaming family of MemoryBoundTunables.swift, set by -D): STREAM_WG work-items
// per group, STREAM_VEC floats per vector, STREAM_ITEMS vectors per work-item. Maxout has none.

// The streaming family's tunable defaults and tile shape are vector_io.cl's (STREAMING).
#define STREAMING

#include "activation_function.cl"
#include "vector_io.cl"

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void activation_forward(const int n, const int code, const float alpha,
                        __global const float* x, __global float* y) {
    FOR_EACH_VECTOR(e, get_group_id(0), n, {
        store_v(activate_v(code, alpha, load_v(x, e, n)), y, e, n);
    })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void activation_backward(const int n, const int code, const float alpha,
                         __global const float* x, __global const float* y,
                         __global const float* dy, __global float* dx) {
    const bool readsX = code == ACT_RELU || code == ACT_LEAKY_RELU || code == ACT_ELU;
    const bool readsY = code != ACT_RELU && code != ACT_LEAKY_RELU;
    FOR_EACH_VECTOR(e, get_group_id(0), n, {
        const floatV g = load_v(dy, e, n);
        const floatV xv = readsX ? load_v(x, e, n) : (floatV)(0.0f);
        const floatV yv = readsY ? load_v(y, e, n) : (floatV)(0.0f);
        floatV r;
        switch (code) {
        case ACT_RELU: r = select((floatV)(0.0f), g, xv > 0.0f); break;
        case ACT_LEAKY_RELU: r = select(alpha * g, g, xv > 0.0f); break;
        case ACT_ELU: r = select(g * (yv + alpha), g, xv > 0.0f); break;
        case ACT_SIGMOID: r = g * yv * (1.0f - yv); break;
        default: r = g * (1.0f - yv * yv); break;
        }
        store_v(r, dx, e, n);
    })
}

// One work-item per output element (n, k, s), on a 2-D range [S, N·(C/G)].
__kernel void maxout_forward(const int planes, const int groupSize,
                             const int spatial, __global const float* x, __global float* y) {
    const int s = get_global_id(0);
    const int nk = get_global_id(1);            // n·(C/G) + k
    if (s >= spatial || nk >= planes) return;
    const int o = nk * spatial + s;
    // x[n, k·G + j, s] = x[(nk·G + j)·S + s]
    const int base = nk * groupSize * spatial + s;
    float best = x[base];
    for (int j = 1; j < groupSize; ++j) {
        const float v = x[base + j * spatial];
        if (v > best) best = v;
    }
    y[o] = best;
}

// One work-item per group, on the same range: writes all G elements of dx the group covers.
__kernel void maxout_backward(const int planes, const int groupSize,
                              const int spatial, __global const float* x, __global const float* dy,
                              __global float* dx) {
    const int s = get_global_id(0);
    const int nk = get_global_id(1);
    if (s >= spatial || nk >= planes) return;
    const int o = nk * spatial + s;
    const int base = nk * groupSize * spatial + s;
    int arg = 0;
    float best = x[base];
    for (int j = 1; j < groupSize; ++j) {
        const float v = x[base + j * spatial];
        if (v > best) { best = v; arg = j; }
    }
    const float g = dy[o];
    for (int j = 0; j < groupSize; ++j) dx[base + j * spatial] = j == arg ? g : 0.0f;
}
