#include "batch_norm.h"
#include "isa_variants.h"
#include <stdint.h>

#define BLOCK 4096

/// Four independent accumulators for 64 floats per step: one accumulator made every add (or
/// FMA) wait for the previous one, 3–4 cycles per 16 floats, slower than the memory it reads.
#define SUM_BLOCK(acc, i, end, vectorTerm)                                                        \
    do {                                                                                        \
        vf16 a1_ = splat16(0), a2_ = splat16(0), a3_ = splat16(0);                              \
        for (; (i) + 64 <= (end); (i) += 64) {                                                  \
            (acc) += vectorTerm((i));                                                           \
            a1_ += vectorTerm((i) + 16);                                                        \
            a2_ += vectorTerm((i) + 32);                                                        \
            a3_ += vectorTerm((i) + 48);                                                        \
        }                                                                                       \
        for (; (i) + 16 <= (end); (i) += 16) (acc) += vectorTerm((i));                          \
        (acc) += (a1_ + a2_) + a3_;                                                             \
    } while (0)

/// Σ p[i] over one row.
INLINE double row_sum(const float *p, long n) {
    double total = 0;
    for (long start = 0; start < n; start += BLOCK) {
        long end = start + BLOCK < n ? start + BLOCK : n, i = start;
        vf16 acc = splat16(0);
#define V(j) load16(p + (j))
        SUM_BLOCK(acc, i, end, V);
#undef V
        float block = sum16(acc);
        for (; i < end; i++) block += p[i];
        total += block;
    }
    return total;
}

/// Σ (p[i] − mean)² over one row.
INLINE double row_squared_deviations(const float *p, long n, float mean) {
    double total = 0;
    vf16 m = splat16(mean);
    for (long start = 0; start < n; start += BLOCK) {
        long end = start + BLOCK < n ? start + BLOCK : n, i = start;
        vf16 acc = splat16(0);
#define V(j) ((load16(p + (j)) - m) * (load16(p + (j)) - m))
        SUM_BLOCK(acc, i, end, V);
#undef V
        float block = sum16(acc);
        for (; i < end; i++) block += (p[i] - mean) * (p[i] - mean);
        total += block;
    }
    return total;
}

/// Up to this many values, a channel stays in L2 between two passes over it.
#define CACHED_CHANNEL 65536

/// Σ over the whole channel of `term(p, i)`, 16 lanes at a time and across row boundaries, the
/// float partial sums flushed to double every BLOCK values or more: a row of 4 (ResNet-50's
/// last stage at 64² input) costs four scalar adds, not a horizontal sum.
#define CHANNEL_SUM(result, rows, stride, inner, vectorTerm, scalarTerm)                          \
    do {                                                                                        \
        double total_ = 0;                                                                      \
        vf16 acc_ = splat16(0);                                                                 \
        float tail_ = 0;                                                                        \
        long pending_ = 0;                                                                      \
        for (long n_ = 0; n_ < (rows); n_++) {                                                  \
            long o_ = n_ * (stride);                                                            \
            for (long start_ = 0; start_ < (inner); start_ += BLOCK) {                          \
                long end_ = start_ + BLOCK < (inner) ? start_ + BLOCK : (inner), i = start_;    \
                long j_ = o_ + i, e_ = o_ + end_;                                               \
                SUM_BLOCK(acc_, j_, e_, vectorTerm);                                            \
                i = j_ - o_;                                                                    \
                for (; i < end_; i++) tail_ += scalarTerm(o_ + i);                              \
                pending_ += end_ - start_;                                                      \
                if (pending_ >= BLOCK) {                                                        \
                    total_ += (double)(sum16(acc_) + tail_);                                    \
                    acc_ = splat16(0);                                                          \
                    tail_ = 0;                                                                  \
                    pending_ = 0;                                                               \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        (result) = total_ + (double)(sum16(acc_) + tail_);                                      \
    } while (0)

/// A channel that fits in L2: the mean, then Σ(x − mean)², two passes over cached data.
INLINE void moments_cached(const float *x, long rows, long stride, long inner, double *meanOut, double *m2Out) {
    double sum, squares, count = (double)(rows * inner);
#define V(j) load16(x + (j))
#define S(j) x[j]
    CHANNEL_SUM(sum, rows, stride, inner, V, S);
#undef V
#undef S
    double mean = sum / count;
    float meanF = (float)mean;
    vf16 m = splat16(meanF);
#define V(j) ((load16(x + (j)) - m) * (load16(x + (j)) - m))
#define S(j) ((x[j] - meanF) * (x[j] - meanF))
    CHANNEL_SUM(squares, rows, stride, inner, V, S);
#undef V
#undef S
    // Σ(x − m)² about the float-rounded mean, moved to the exact one.
    double shift = mean - (double)meanF;
    *meanOut = mean;
    *m2Out = squares - count * shift * shift;
}

/// A channel larger than L2: per row its mean and squared deviations while the row is in
/// cache, rows merged by Chan et al.'s formula, so memory is read once.
INLINE void moments_by_row(const float *x, long rows, long stride, long inner, double *meanOut, double *m2Out) {
    double count = 0, mean = 0, m2 = 0;
    for (long n = 0; n < rows; n++) {
        const float *row = x + n * stride;
        double rowMean = row_sum(row, inner) / (double)inner;
        double rowM2 = row_squared_deviations(row, inner, (float)rowMean);
        double shift = rowMean - (double)(float)rowMean;
        double rowSquares = rowM2 - (double)inner * shift * shift;
        double total = count + (double)inner, delta = rowMean - mean;
        mean += delta * (double)inner / total;
        m2 += rowSquares + delta * delta * count * (double)inner / total;
        count = total;
    }
    *meanOut = mean;
    *m2Out = m2;
}

INLINE void moments_body(const float *x, long rows, long stride, long inner, double *meanOut, double *m2Out) {
    if (rows * inner <= CACHED_CHANNEL) moments_cached(x, rows, stride, inner, meanOut, m2Out);
    else moments_by_row(x, rows, stride, inner, meanOut, m2Out);
}

ISA_VARIANTS(moments, moments_body, (const float *x, long rows, long stride, long inner, double *mean, double *m2),
             (x, rows, stride, inner, mean, m2))

void cnn_bn_moments(const float *x, long rows, long stride, long inner, double *mean, double *m2) {
    moments_dispatch(x, rows, stride, inner, mean, m2);
}

/// Tensors from this size up are written with non-temporal stores: larger than half of a
/// 32 MiB L3, they would not stay cached for the next op anyway, and ordinary stores first
/// read every destination line (write-allocate), which made the normalize sweep of ResNet-50's
/// 8×64×112² and 8×256×56² activations take twice its reads' time (NOTES-memory-bound.md).
#define STREAMING_BYTES (16L << 20)

INLINE vf16 normalized(const float *x, vf16 m, vf16 a, vf16 b, int relu) {
    vf16 v = (load16(x) - m) * a + b;
    return relu ? select16(v < splat16(0), splat16(0), v) : v;
}

/// (x − mean)·a + b rather than x·a + (b − mean·a): no cancellation when |mean| ≫ std.
INLINE void normalize_body(const float *x, float *y, long rows, long stride, long inner, float mean, float a, float b,
                           int relu) {
    vf16 m = splat16(mean), va = splat16(a), vb = splat16(b);
    // rows · stride floats span the whole tensor (every channel's rows interleaved).
    int streaming = rows * stride * (long)sizeof(float) >= STREAMING_BYTES;
    for (long n = 0; n < rows; n++) {
        const float *xr = x + n * stride;
        float *yr = y + n * stride;
        long i = 0;
        if (streaming) {
            // Ordinary stores up to a 64-byte boundary: non-temporal stores must be aligned.
            for (; i < inner && ((uintptr_t)(yr + i) & 63) != 0; i++) {
                float v = (xr[i] - mean) * a + b;
                yr[i] = relu && v < 0 ? 0 : v;
            }
            for (; i + 16 <= inner; i += 16) __builtin_nontemporal_store(normalized(xr + i, m, va, vb, relu), (vf16 *)(yr + i));
        }
        for (; i + 16 <= inner; i += 16) store16(yr + i, normalized(xr + i, m, va, vb, relu));
        for (; i < inner; i++) {
            float v = (xr[i] - mean) * a + b;
            yr[i] = relu && v < 0 ? 0 : v;
        }
    }
#if defined(__x86_64__) || defined(__i386__)
    // Non-temporal stores are weakly ordered: make them visible before the caller's thread
    // hand-off publishes y.
    if (streaming) __builtin_ia32_sfence();
#endif
}

ISA_VARIANTS(normalize, normalize_body,
             (const float *x, float *y, long rows, long stride, long inner, float mean, float a, float b, int relu),
             (x, y, rows, stride, inner, mean, a, b, relu))

void cnn_bn_normalize(const float *x, float *y, long rows, long stride, long inner, float mean, float a, float b,
                      int relu) {
    normalize_dispatch(x, y, rows, stride, inner, mean, a, b, relu);
}

/// dy masked by y > 0, or dy itself when there is no y; every operand is loaded
/// unconditionally so the loop stays branch-free.
INLINE vf16 gradient16(const float *y, const float *dy, long i) {
    vf16 g = load16(dy + i);
    return y ? select16(load16(y + i) > splat16(0), g, splat16(0)) : g;
}

INLINE float gradient1(const float *y, const float *dy, long i) { return y && !(y[i] > 0) ? 0 : dy[i]; }

/// Both sums in one pass over x, y and dy, accumulated across rows as CHANNEL_SUM does.
INLINE void backward_sums_rows(const float *x, const float *y, const float *dy, long rows, long stride, long inner,
                               float mean, double *sumG, double *sumGCentered) {
    double totalG = 0, totalC = 0;
    vf16 m = splat16(mean), accG = splat16(0), accC = splat16(0);
    float tailG = 0, tailC = 0;
    long pending = 0;
    for (long n = 0; n < rows; n++) {
        const float *xr = x + n * stride, *yr = y ? y + n * stride : 0, *gr = dy + n * stride;
        for (long start = 0; start < inner; start += BLOCK) {
            long end = start + BLOCK < inner ? start + BLOCK : inner, i = start;
            for (; i + 16 <= end; i += 16) {
                vf16 g = gradient16(yr, gr, i);
                accG += g;
                accC += g * (load16(xr + i) - m);
            }
            for (; i < end; i++) {
                float g = gradient1(yr, gr, i);
                tailG += g;
                tailC += g * (xr[i] - mean);
            }
            pending += end - start;
            if (pending >= BLOCK) {
                totalG += (double)(sum16(accG) + tailG);
                totalC += (double)(sum16(accC) + tailC);
                accG = accC = splat16(0);
                tailG = tailC = 0;
                pending = 0;
            }
        }
    }
    *sumG = totalG + (double)(sum16(accG) + tailG);
    *sumGCentered = totalC + (double)(sum16(accC) + tailC);
}

/// Two inlined copies, with and without the mask, so that neither tests for it per vector.
INLINE void backward_sums_body(const float *x, const float *y, const float *dy, long rows, long stride, long inner,
                               float mean, double *sumG, double *sumGCentered) {
    if (y) backward_sums_rows(x, y, dy, rows, stride, inner, mean, sumG, sumGCentered);
    else backward_sums_rows(x, 0, dy, rows, stride, inner, mean, sumG, sumGCentered);
}

ISA_VARIANTS(backward_sums, backward_sums_body,
             (const float *x, const float *y, const float *dy, long rows, long stride, long inner, float mean,
              double *sumG, double *sumGCentered),
             (x, y, dy, rows, stride, inner, mean, sumG, sumGCentered))

void cnn_bn_backward_sums(const float *x, const float *y, const float *dy, long rows, long stride, long inner,
                          float mean, double *sumG, double *sumGCentered) {
    backward_sums_dispatch(x, y, dy, rows, stride, inner, mean, sumG, sumGCentered);
}

/// dx for tensors of STREAMING_BYTES and more goes out with non-temporal stores, as the
/// training forward's y does (the sums pass has just read x, y and dy; dx is new).
INLINE void backward_data_rows(const float *x, const float *y, const float *dy, float *dx, long rows, long stride,
                               long inner, float mean, float a, float b, float k) {
    vf16 m = splat16(mean), va = splat16(a), vb = splat16(b), vk = splat16(k);
    int streaming = rows * stride * (long)sizeof(float) >= STREAMING_BYTES;
    for (long n = 0; n < rows; n++) {
        const float *xr = x + n * stride, *yr = y ? y + n * stride : 0, *gr = dy + n * stride;
        float *out = dx + n * stride;
        long i = 0;
        if (streaming) {
            for (; i < inner && ((uintptr_t)(out + i) & 63) != 0; i++)
                out[i] = a * gradient1(yr, gr, i) + b * (xr[i] - mean) + k;
            for (; i + 16 <= inner; i += 16)
                __builtin_nontemporal_store(va * gradient16(yr, gr, i) + vb * (load16(xr + i) - m) + vk, (vf16 *)(out + i));
        }
        for (; i + 16 <= inner; i += 16) store16(out + i, va * gradient16(yr, gr, i) + vb * (load16(xr + i) - m) + vk);
        for (; i < inner; i++) out[i] = a * gradient1(yr, gr, i) + b * (xr[i] - mean) + k;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (streaming) __builtin_ia32_sfence();
#endif
}

INLINE void backward_data_body(const float *x, const float *y, const float *dy, float *dx, long rows, long stride,
                               long inner, float mean, float a, float b, float k) {
    if (y) backward_data_rows(x, y, dy, dx, rows, stride, inner, mean, a, b, k);
    else backward_data_rows(x, 0, dy, dx, rows, stride, inner, mean, a, b, k);
}

ISA_VARIANTS(backward_data, backward_data_body,
             (const float *x, const float *y, const float *dy, float *dx, long rows, long stride, long inner,
              float mean, float a, float b, float k),
             (x, y, dy, dx, rows, stride, inner, mean, a, b, k))

void cnn_bn_backward_data(const float *x, const float *y, const float *dy, float *dx, long rows, long stride,
                          long inner, float mean, float a, float b, float k) {
    backward_data_dispatch(x, y, dy, dx, rows, stride, inner, mean, a, b, k);
}
