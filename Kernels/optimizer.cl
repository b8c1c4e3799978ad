// optimizer.cl: in-place optimizer updates for OptimizerOps (launched by
// OpenCLBackend+Optimizer.swift), PyTorch's formulas. Every buffer is a flat Float32 array of
// `count` elements, walked in streaming tiles of vectors (vector_io.cl); gradients are read,
// never written.
//
//   sgd_update           w -= lr * (g + wd*w)                                  (no momentum)
//   sgd_momentum_update  g' = g + wd*w;  v = momentum*v + (1 - dampening)*g';
//                        w -= lr * (nesterov ? g' + momentum*v : v)
//   adam_update          Adam / AdamW: w *= shrink (AdamW's decoupled decay, 1 - lr*wd; else 1);
//                        g' = g + l2*w (Adam's L2 term; 0 for AdamW);
//                        m = b1*m + (1-b1)*g';  v = b2*v + (1-b2)*g'^2;
//                        w -= stepSize * m / (sqrt(v) * invSqrtBias2 + eps), where the host
//                        computes stepSize = lr / (1 - b1^t) and invSqrtBias2 = 1/sqrt(1 - b2^t)
//                        in double precision.
//   rmsprop_update       RMSprop (not centered): g' = g + wd*w;  s = alpha*s + (1-alpha)*g'^2;
//                        w -= lr * g' / (sqrt(s) + eps)
//   rmsprop_momentum_update  the same, then b = momentum*b + g'/(sqrt(s) + eps);  w -= lr*b
//
// Tunables (streaming family of MemoryBoundTunables.swift, set by -D): STREAM_WG work-items
// per group, STREAM_VEC floats per vector, STREAM_ITEMS vectors per work-item.

// The streaming family's tunable defaults and tile shape are vector_io.cl's (STREAMING).
#define STREAMING

#include "vector_io.cl"

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void sgd_update(const int count, const float lr, const float weightDecay,
                __global float* weights, __global const float* gradients) {
    FOR_EACH_VECTOR(e, get_group_id(0), count, {
        const floatV w = load_v(weights, e, count);
        store_v(w - lr * (load_v(gradients, e, count) + weightDecay * w), weights, e, count);
    })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void sgd_momentum_update(const int count, const float lr, const float momentum,
                         const float oneMinusDampening, const float weightDecay,
                         const int nesterov, __global float* weights,
                         __global const float* gradients, __global float* velocity) {
    FOR_EACH_VECTOR(e, get_group_id(0), count, {
        const floatV w = load_v(weights, e, count);
        const floatV g = load_v(gradients, e, count) + weightDecay * w;
        const floatV v = momentum * load_v(velocity, e, count) + oneMinusDampening * g;
        store_v(v, velocity, e, count);
        store_v(w - lr * (nesterov ? g + momentum * v : v), weights, e, count);
    })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void adam_update(const int count, const float beta1, const float beta2,
                 const float epsilon, const float stepSize, const float invSqrtBias2,
                 const float l2, const float shrink, __global float* weights,
                 __global const float* gradients, __global float* m, __global float* v) {
    FOR_EACH_VECTOR(e, get_group_id(0), count, {
        const floatV w = load_v(weights, e, count) * shrink;
        const floatV g = load_v(gradients, e, count) + l2 * w;
        const floatV mi = beta1 * load_v(m, e, count) + (1.0f - beta1) * g;
        const floatV vi = beta2 * load_v(v, e, count) + (1.0f - beta2) * g * g;
        store_v(mi, m, e, count);
        store_v(vi, v, e, count);
        store_v(w - stepSize * mi / (sqrt(vi) * invSqrtBias2 + epsilon), weights, e, count);
    })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void rmsprop_update(const int count, const float lr, const float alpha, const float epsilon,
                    const float weightDecay, __global float* weights,
                    __global const float* gradients, __global float* square) {
    FOR_EACH_VECTOR(e, get_group_id(0), count, {
        const floatV w = load_v(weights, e, count);
        const floatV g = load_v(gradients, e, count) + weightDecay * w;
        const floatV s = alpha * load_v(square, e, count) + (1.0f - alpha) * g * g;
        store_v(s, square, e, count);
        store_v(w - lr * g / (sqrt(s) + epsilon), weights, e, count);
    })
}

__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void rmsprop_momentum_update(const int count, const float lr, const float alpha,
                             const float epsilon, const float momentum, const float weightDecay,
                             __global float* weights, __global const float* gradients,
                             __global float* square, __global float* buffer) {
    FOR_EACH_VECTOR(e, get_group_id(0), count, {
        const floatV w = load_v(weights, e, count);
        const floatV g = load_v(gradients, e, count) + weightDecay * w;
        const floatV s = alpha * load_v(square, e, count) + (1.0f - alpha) * g * g;
        const floatV b = momentum * load_v(buffer, e, count) + g / (sqrt(s) + epsilon);
        store_v(s, square, e, count);
        store_v(b, buffer, e, count);
        store_v(w - lr * b, weights, e, count);
    })
}
