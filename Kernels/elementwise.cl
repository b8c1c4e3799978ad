// elementwise.cl: element-wise arithmetic on flat float arrays of `n` elements.
//   add       out = activation(a + b)   (code ACT_NONE for a plain add; ReLU after a residual add)
//   multiply  out = a · b      (also the dropout backward pass: dx = dy · mask)
//   scale     out = alpha · x
//   axpy      y  += alpha · x
// Walked in streaming tiles of vectors (vector_io.cl). Outputs may alias inputs: each
// work-item reads its vector before writing it, and no two work-items share an element.
//
// Tunables (streaming family of MemoryBoundTunables.swift, set by -D): STREAM_WG work-items
// per group, STREAM_VEC floats per vector, STREAM_ITEMS vectors per work-item.

// The streaming family's tunable defaults and tile shape are vector_io.cl's (STREAMING).
#define STREAMING

#include "activation_function.cl"
#include "vector_io.cl"

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void add_elementwise(const int n, const int code, const float alpha, __global const float* a,
                     __global const float* b, __global float* out) {
    FOR_EACH_VECTOR(e, get_group_id(0), n, {
        store_v(activate_v(code, alpha, load_v(a, e, n) + load_v(b, e, n)), out, e, n);
    })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void multiply_elementwise(const int n, __global const float* a, __global const float* b,
                          __global float* out) {
    FOR_EACH_VECTOR(e, get_group_id(0), n, { store_v(load_v(a, e, n) * load_v(b, e, n), out, e, n); })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void scale_elementwise(const int n, const float alpha, __global const float* x, __global float* out) {
    FOR_EACH_VECTOR(e, get_group_id(0), n, { store_v(alpha * load_v(x, e, n), out, e, n); })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void axpy_elementwise(const int n, const float alpha, __global const float* x, __global float* y) {
    FOR_EACH_VECTOR(e, get_group_id(0), n, { store_v(load_v(y, e, n) + alpha * load_v(x, e, n), y, e, n); })
}
