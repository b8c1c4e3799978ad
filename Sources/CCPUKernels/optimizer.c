#include "optimizer.h"
#include "isa_variants.h"
#include <math.h>

// One function per update, each walking its buffers once, 16 parameters per step; the scalar
// tail repeats the vector formula. The buffers never alias (distinct parameter state), which
// the compiler cannot know, hence the explicit vectors.

INLINE void sgd_rows(float *w, const float *g, float *vel, long count, float lr, float wd, float momentum, float keep,
                     int nesterov) {
    long i = 0;
    vf16 vlr = splat16(lr), vwd = splat16(wd), vmom = splat16(momentum), vkeep = splat16(keep);
    for (; i + 16 <= count; i += 16) {
        vf16 wi = load16(w + i), gi = load16(g + i) + vwd * wi;
        if (!vel) {
            store16(w + i, wi - vlr * gi);
            continue;
        }
        vf16 vi = vmom * load16(vel + i) + vkeep * gi;
        store16(vel + i, vi);
        store16(w + i, wi - vlr * (nesterov ? gi + vmom * vi : vi));
    }
    for (; i < count; i++) {
        float gi = g[i] + wd * w[i];
        if (!vel) {
            w[i] -= lr * gi;
            continue;
        }
        float vi = momentum * vel[i] + keep * gi;
        vel[i] = vi;
        w[i] -= lr * (nesterov ? gi + momentum * vi : vi);
    }
}

/// The variants with and without momentum and Nesterov, each inlined with constants.
INLINE void sgd_body(float *w, const float *g, float *vel, long count, float lr, float wd, float momentum, float keep,
                     int nesterov) {
    if (!vel) sgd_rows(w, g, 0, count, lr, wd, momentum, keep, 0);
    else if (nesterov) sgd_rows(w, g, vel, count, lr, wd, momentum, keep, 1);
    else sgd_rows(w, g, vel, count, lr, wd, momentum, keep, 0);
}

ISA_VARIANTS(sgd, sgd_body,
             (float *w, const float *g, float *vel, long count, float lr, float wd, float momentum, float keep,
              int nesterov),
             (w, g, vel, count, lr, wd, momentum, keep, nesterov))

void cnn_sgd_update(float *w, const float *g, float *velocity, long count, float lr, float wd, float momentum,
                    float keep, int nesterov) {
    sgd_dispatch(w, g, velocity, count, lr, wd, momentum, keep, nesterov);
}

INLINE void adam_body(float *w, const float *g, float *m, float *v, long count, float stepSize, float invSqrtBias2,
                      float l2, float shrink, float beta1, float beta2, float epsilon) {
    long i = 0;
    vf16 vstep = splat16(stepSize), vbias = splat16(invSqrtBias2), vl2 = splat16(l2), vshrink = splat16(shrink);
    vf16 b1 = splat16(beta1), c1 = splat16(1 - beta1), b2 = splat16(beta2), c2 = splat16(1 - beta2);
    vf16 eps = splat16(epsilon);
    for (; i + 16 <= count; i += 16) {
        vf16 wi = load16(w + i) * vshrink;
        vf16 gi = load16(g + i) + vl2 * wi;
        vf16 mi = b1 * load16(m + i) + c1 * gi;
        vf16 vi = b2 * load16(v + i) + c2 * gi * gi;
        store16(m + i, mi);
        store16(v + i, vi);
        vf16 root;
        root = __builtin_elementwise_sqrt(vi);
        store16(w + i, wi - vstep * mi / (root * vbias + eps));
    }
    for (; i < count; i++) {
        float wi = w[i] * shrink, gi = g[i] + l2 * wi;
        float mi = beta1 * m[i] + (1 - beta1) * gi, vi = beta2 * v[i] + (1 - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - stepSize * mi / (__builtin_sqrtf(vi) * invSqrtBias2 + epsilon);
    }
}

ISA_VARIANTS(adam, adam_body,
             (float *w, const float *g, float *m, float *v, long count, float stepSize, float invSqrtBias2, float l2,
              float shrink, float beta1, float beta2, float epsilon),
             (w, g, m, v, count, stepSize, invSqrtBias2, l2, shrink, beta1, beta2, epsilon))

void cnn_adam_update(float *w, const float *g, float *m, float *v, long count, float stepSize, float invSqrtBias2,
                     float l2, float shrink, float beta1, float beta2, float epsilon) {
    adam_dispatch(w, g, m, v, count, stepSize, invSqrtBias2, l2, shrink, beta1, beta2, epsilon);
}

INLINE void rmsprop_rows(float *w, const float *g, float *s, float *b, long count, float lr, float alpha,
                         float epsilon, float mu, float wd) {
    long i = 0;
    vf16 vlr = splat16(lr), va = splat16(alpha), vc = splat16(1 - alpha), eps = splat16(epsilon);
    vf16 vmu = splat16(mu), vwd = splat16(wd);
    for (; i + 16 <= count; i += 16) {
        vf16 wi = load16(w + i), gi = load16(g + i) + vwd * wi;
        vf16 si = va * load16(s + i) + vc * gi * gi, root;
        store16(s + i, si);
        root = __builtin_elementwise_sqrt(si);
        vf16 step = gi / (root + eps);
        if (b) {
            vf16 bi = vmu * load16(b + i) + step;
            store16(b + i, bi);
            store16(w + i, wi - vlr * bi);
        } else {
            store16(w + i, wi - vlr * step);
        }
    }
    for (; i < count; i++) {
        float gi = g[i] + wd * w[i];
        float si = alpha * s[i] + (1 - alpha) * gi * gi;
        s[i] = si;
        float step = gi / (__builtin_sqrtf(si) + epsilon);
        if (b) {
            b[i] = mu * b[i] + step;
            w[i] -= lr * b[i];
        } else {
            w[i] -= lr * step;
        }
    }
}

INLINE void rmsprop_body(float *w, const float *g, float *s, float *b, long count, float lr, float alpha,
                         float epsilon, float mu, float wd) {
    if (b) rmsprop_rows(w, g, s, b, count, lr, alpha, epsilon, mu, wd);
    else rmsprop_rows(w, g, s, 0, count, lr, alpha, epsilon, mu, wd);
}

ISA_VARIANTS(rmsprop, rmsprop_body,
             (float *w, const float *g, float *s, float *b, long count, float lr, float alpha, float epsilon, float mu,
              float wd),
             (w, g, s, b, count, lr, alpha, epsilon, mu, wd))

void cnn_rmsprop_update(float *w, const float *g, float *s, float *momentum, long count, float lr, float alpha,
                        float epsilon, float mu, float wd) {
    rmsprop_dispatch(w, g, s, momentum, count, lr, alpha, epsilon, mu, wd);
}
