#ifndef CNN_OPTIMIZER_H
#define CNN_OPTIMIZER_H

/// Optimizer updates of `count` parameters in place, for the CPU backend (callers split the
/// parameters across threads). The formulas are those of PyTorch's optimizers as the Swift
/// parameter types document them; AVX-512, AVX2 and baseline builds are picked at run time
/// (cpu_isa.h).

/// SGD: g' = g + wd·w; with `velocity` (NULL: plain SGD) v = momentum·v + keep·g' and
/// w −= lr·(nesterov ? g' + momentum·v : v), else w −= lr·g'.
void cnn_sgd_update(float *w, const float *g, float *velocity, long count, float lr, float wd, float momentum,
                    float keep, int nesterov);

/// Adam / AdamW: w' = shrink·w, g' = g + l2·w', m = β1·m + (1−β1)·g', v = β2·v + (1−β2)·g'²,
/// w = w' − stepSize·m / (√v·invSqrtBias2 + ε).
void cnn_adam_update(float *w, const float *g, float *m, float *v, long count, float stepSize, float invSqrtBias2,
                     float l2, float shrink, float beta1, float beta2, float epsilon);

/// RMSprop: g' = g + wd·w, s = α·s + (1−α)·g'², step = g' / (√s + ε); with `momentum`
/// (NULL: none) b = μ·b + step and w −= lr·b, else w −= lr·step.
void cnn_rmsprop_update(float *w, const float *g, float *s, float *momentum, long count, float lr, float alpha,
                        float epsilon, float mu, float wd);

#endif
