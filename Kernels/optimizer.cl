// optimizer.cl: in-place optimizer updates for OptimizerOps (launched by
// OpenCLBackend+Optimizer.swift), PyTorch's formulas. One work-item per parameter; every
// buffer is a flat Float32 array of `count` elements; gradients are read, never written.
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
//
// Tunable parameters: none.

__kernel void sgd_update(const int count, const float lr, const float weightDecay,
                         __global float* weights, __global const float* gradients) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const float w = weights[i];
    weights[i] = w - lr * (gradients[i] + weightDecay * w);
}

__kernel void sgd_momentum_update(const int count, const float lr, const float momentum,
                                  const float oneMinusDampening, const float weightDecay,
                                  const int nesterov, __global float* weights,
                                  __global const float* gradients, __global float* velocity) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const float w = weights[i];
    const float g = gradients[i] + weightDecay * w;
    const float v = momentum * velocity[i] + oneMinusDampening * g;
    velocity[i] = v;
    weights[i] = w - lr * (nesterov ? g + momentum * v : v);
}

__kernel void adam_update(const int count, const float beta1, const float beta2,
                          const float epsilon, const float stepSize, const float invSqrtBias2,
                          const float l2, const float shrink, __global float* weights,
                          __global const float* gradients, __global float* m, __global float* v) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const float w = weights[i] * shrink;
    const float g = gradients[i] + l2 * w;
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    weights[i] = w - stepSize * mi / (sqrt(vi) * invSqrtBias2 + epsilon);
}
