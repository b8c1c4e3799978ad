// activation.cl: element-wise activation functions and their gradients, plus maxout.
//
// Layout: flat arrays of `n` floats; one work-item per element. The function is chosen at run
// time by an int code (one kernel with a switch rather than one kernel per function: the code
// is uniform across the launch, so the branch costs nothing next to the memory traffic, and
// the host needs one launch path). Codes, matching `Activation.kernelCode` in
// OpenCLBackend+Activation.swift (the forward functions live in activation_function.cl):
//   0 relu        y = x < 0 ? 0 : x                 dx = x > 0 ? dy : 0
//   1 leaky relu  y = x > 0 ? x : alpha·x           dx = x > 0 ? dy : alpha·dy
//   2 elu         y = x > 0 ? x : alpha·(e^x − 1)   dx = x > 0 ? dy : dy·(y + alpha)
//   3 sigmoid     y = 1 / (1 + e^−x)                dx = dy·y·(1 − y)
//   4 tanh        y = tanh(x)                       dx = dy·(1 − y²)
// x and y may be the same buffer in the forward pass (in-place activation). For relu, and
// for leaky relu and elu with alpha > 0, y > 0 exactly where x > 0, so after an in-place
// forward pass the backward pass gives the same dx with y passed as x.
//
// Maxout: x is [N, C, S], y is [N, C/G, S]; y[n, k, s] = max over j < G of x[n, k·G + j, s].
// The backward pass gives each output element's dy to the first maximum of its group
// (recomputed from x) and zero to the rest; each work-item owns one group, so every dx
// element is written by exactly one work-item (no atomics, deterministic).
//
// No tunable parameters.

#include "activation_function.cl"

__kernel void activation_forward(const int n, const int code, const float alpha,
                                 __global const float* x, __global float* y) {
    const int i = get_global_id(0);
    if (i >= n) return;
    y[i] = activate(code, alpha, x[i]);
}

__kernel void activation_backward(const int n, const int code, const float alpha,
                                  __global const float* x, __global const float* y,
                                  __global const float* dy, __global float* dx) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float g = dy[i];
    float r;
    switch (code) {
    case ACT_RELU: r = x[i] > 0.0f ? g : 0.0f; break;
    case ACT_LEAKY_RELU: r = x[i] > 0.0f ? g : alpha * g; break;
    case ACT_ELU: r = x[i] > 0.0f ? g : g * (y[i] + alpha); break;
    case ACT_SIGMOID: { const float s = y[i]; r = g * s * (1.0f - s); } break;
    default: { const float t = y[i]; r = g * (1.0f - t * t); } break;
    }
    dx[i] = r;
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
