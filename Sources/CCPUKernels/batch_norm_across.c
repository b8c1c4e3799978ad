#include "batch_norm.h"
#include "isa_variants.h"

// Batch norm over a run of channels at once (see batch_norm.h). In row n the run's values are
// contiguous: width = count·inner floats, value j belonging to channel j / inner. Per-value
// accumulators (scratch) are summed over the rows with plain vector adds, flushed to double
// every FLUSH rows, and reduced per channel at the end; per-channel parameters are spread to
// per-value rows once, so the sweeps are pure vector arithmetic.

#define FLUSH 256

/// scratch: float accumulators (2 rows), double accumulators (2 rows, as 4 floats' room), and
/// per-value parameter rows (4).
long cnn_bn_across_scratch_floats(long count, long inner) { return (2 + 4 + 4) * (count * inner + 16); }

/// Spreads `values[c]` to `row[c·inner + i]`.
INLINE void spread(float *row, const float *values, long count, long inner) {
    for (long c = 0; c < count; c++)
        for (long i = 0; i < inner; i++) row[c * inner + i] = values[c];
}

/// Sums each channel's `inner` row positions of `total`: out[c] = Σ_i total[c·inner + i].
INLINE void fold_channels(const double *total, long count, long inner, double *out) {
    for (long c = 0; c < count; c++) {
        double s = 0;
        for (long i = 0; i < inner; i++) s += total[c * inner + i];
        out[c] = s;
    }
}

/// Adds the float accumulators into the double ones and clears them.
INLINE void flush(float *acc, double *total, long width) {
    for (long j = 0; j < width; j++) {
        total[j] += acc[j];
        acc[j] = 0;
    }
}

/// Σ over rows of `term(o + j)` for every value j, into `total` (double, `width` entries).
#define ACROSS_SUM(total, acc, rows, stride, width, vectorTerm, scalarTerm)                     \
    do {                                                                                      \
        for (long j_ = 0; j_ < (width); j_++) { (total)[j_] = 0; (acc)[j_] = 0; }              \
        for (long n_ = 0; n_ < (rows); n_++) {                                                \
            long o_ = n_ * (stride), j = 0;                                                   \
            for (; j + 16 <= (width); j += 16) store16((acc) + j, load16((acc) + j) + vectorTerm(o_, j)); \
            for (; j < (width); j++) (acc)[j] += scalarTerm(o_, j);                           \
            if ((n_ + 1) % FLUSH == 0) flush((acc), (total), (width));                        \
        }                                                                                     \
        flush((acc), (total), (width));                                                       \
    } while (0)

INLINE void moments_across_body(const float *x, long rows, long stride, long inner, long count, double *mean,
                                double *m2, float *scratch) {
    long width = count * inner;
    float *acc = scratch, *meanRow = scratch + (width + 16);
    double *total = (double *)(scratch + 2 * (width + 16));
    double n = (double)(rows * inner);
#define V(o, j) load16(x + (o) + (j))
#define S(o, j) x[(o) + (j)]
    ACROSS_SUM(total, acc, rows, stride, width, V, S);
#undef V
#undef S
    fold_channels(total, count, inner, mean);
    for (long c = 0; c < count; c++) {
        mean[c] /= n;
        for (long i = 0; i < inner; i++) meanRow[c * inner + i] = (float)mean[c];
    }
#define V(o, j) ((load16(x + (o) + (j)) - load16(meanRow + (j))) * (load16(x + (o) + (j)) - load16(meanRow + (j))))
#define S(o, j) ((x[(o) + (j)] - meanRow[j]) * (x[(o) + (j)] - meanRow[j]))
    ACROSS_SUM(total, acc, rows, stride, width, V, S);
#undef V
#undef S
    for (long c = 0; c < count; c++) {
        double q = 0;
        for (long i = 0; i < inner; i++) q += total[c * inner + i];
        // Σ(x − m)² about the float-rounded mean, moved to the exact one.
        double shift = mean[c] - (double)(float)mean[c];
        m2[c] = q - n * shift * shift;
    }
}

ISA_VARIANTS(moments_across, moments_across_body,
             (const float *x, long rows, long stride, long inner, long count, double *mean, double *m2, float *scratch),
             (x, rows, stride, inner, count, mean, m2, scratch))

void cnn_bn_moments_across(const float *x, long rows, long stride, long inner, long count, double *mean, double *m2,
                           float *scratch) {
    moments_across_dispatch(x, rows, stride, inner, count, mean, m2, scratch);
}

INLINE void normalize_across_body(const float *x, float *y, long rows, long stride, long inner, long count,
                                  const float *mean, const float *a, const float *b, int relu, float *scratch) {
    long width = count * inner;
    float *m = scratch, *va = scratch + (width + 16), *vb = scratch + 2 * (width + 16);
    spread(m, mean, count, inner);
    spread(va, a, count, inner);
    spread(vb, b, count, inner);
    vf16 zero = splat16(0);
    for (long n = 0; n < rows; n++) {
        const float *xr = x + n * stride;
        float *yr = y + n * stride;
        long j = 0;
        for (; j + 16 <= width; j += 16) {
            vf16 v = (load16(xr + j) - load16(m + j)) * load16(va + j) + load16(vb + j);
            store16(yr + j, relu ? select16(v < zero, zero, v) : v);
        }
        for (; j < width; j++) {
            float v = (xr[j] - m[j]) * va[j] + vb[j];
            yr[j] = relu && v < 0 ? 0 : v;
        }
    }
}

ISA_VARIANTS(normalize_across, normalize_across_body,
             (const float *x, float *y, long rows, long stride, long inner, long count, const float *mean,
              const float *a, const float *b, int relu, float *scratch),
             (x, y, rows, stride, inner, count, mean, a, b, relu, scratch))

void cnn_bn_normalize_across(const float *x, float *y, long rows, long stride, long inner, long count,
                             const float *mean, const float *a, const float *b, int relu, float *scratch) {
    normalize_across_dispatch(x, y, rows, stride, inner, count, mean, a, b, relu, scratch);
}

/// dy masked by y > 0 where there is a y (see batch_norm.c).
INLINE vf16 masked16(const float *y, const float *dy, long i) {
    vf16 g = load16(dy + i);
    return y ? select16(load16(y + i) > splat16(0), g, splat16(0)) : g;
}

INLINE float masked1(const float *y, const float *dy, long i) { return y && !(y[i] > 0) ? 0 : dy[i]; }

INLINE void backward_sums_across_rows(const float *x, const float *y, const float *dy, long rows, long stride,
                                      long inner, long count, const float *mean, double *sumG, double *sumGCentered,
                                      float *scratch) {
    long width = count * inner;
    float *m = scratch, *acc = scratch + (width + 16);
    double *total = (double *)(scratch + 2 * (width + 16));
    spread(m, mean, count, inner);
#define V(o, j) masked16(y, dy, (o) + (j))
#define S(o, j) masked1(y, dy, (o) + (j))
    ACROSS_SUM(total, acc, rows, stride, width, V, S);
#undef V
#undef S
    fold_channels(total, count, inner, sumG);
#define V(o, j) (masked16(y, dy, (o) + (j)) * (load16(x + (o) + (j)) - load16(m + (j))))
#define S(o, j) (masked1(y, dy, (o) + (j)) * (x[(o) + (j)] - m[j]))
    ACROSS_SUM(total, acc, rows, stride, width, V, S);
#undef V
#undef S
    fold_channels(total, count, inner, sumGCentered);
}

INLINE void backward_sums_across_body(const float *x, const float *y, const float *dy, long rows, long stride,
                                      long inner, long count, const float *mean, double *sumG, double *sumGCentered,
                                      float *scratch) {
    if (y) backward_sums_across_rows(x, y, dy, rows, stride, inner, count, mean, sumG, sumGCentered, scratch);
    else backward_sums_across_rows(x, 0, dy, rows, stride, inner, count, mean, sumG, sumGCentered, scratch);
}

ISA_VARIANTS(backward_sums_across, backward_sums_across_body,
             (const float *x, const float *y, const float *dy, long rows, long stride, long inner, long count,
              const float *mean, double *sumG, double *sumGCentered, float *scratch),
             (x, y, dy, rows, stride, inner, count, mean, sumG, sumGCentered, scratch))

void cnn_bn_backward_sums_across(const float *x, const float *y, const float *dy, long rows, long stride, long inner,
                                 long count, const float *mean, double *sumG, double *sumGCentered, float *scratch) {
    backward_sums_across_dispatch(x, y, dy, rows, stride, inner, count, mean, sumG, sumGCentered, scratch);
}

INLINE void backward_data_across_rows(const float *x, const float *y, const float *dy, float *dx, long rows,
                                      long stride, long inner, long count, const float *mean, const float *a,
                                      const float *b, const float *k, float *scratch) {
    long width = count * inner;
    float *m = scratch, *va = scratch + (width + 16), *vb = scratch + 2 * (width + 16), *vk = scratch + 3 * (width + 16);
    spread(m, mean, count, inner);
    spread(va, a, count, inner);
    spread(vb, b, count, inner);
    spread(vk, k, count, inner);
    for (long n = 0; n < rows; n++) {
        long o = n * stride, j = 0;
        for (; j + 16 <= width; j += 16)
            store16(dx + o + j, load16(va + j) * masked16(y, dy, o + j) + load16(vb + j) * (load16(x + o + j) - load16(m + j)) +
                                    load16(vk + j));
        for (; j < width; j++) dx[o + j] = va[j] * masked1(y, dy, o + j) + vb[j] * (x[o + j] - m[j]) + vk[j];
    }
}

INLINE void backward_data_across_body(const float *x, const float *y, const float *dy, float *dx, long rows,
                                      long stride, long inner, long count, const float *mean, const float *a,
                                      const float *b, const float *k, float *scratch) {
    if (y) backward_data_across_rows(x, y, dy, dx, rows, stride, inner, count, mean, a, b, k, scratch);
    else backward_data_across_rows(x, 0, dy, dx, rows, stride, inner, count, mean, a, b, k, scratch);
}

ISA_VARIANTS(backward_data_across, backward_data_across_body,
             (const float *x, const float *y, const float *dy, float *dx, long rows, long stride, long inner,
              long count, const float *mean, const float *a, const float *b, const float *k, float *scratch),
             (x, y, dy, dx, rows, stride, inner, count, mean, a, b, k, scratch))

void cnn_bn_backward_data_across(const float *x, const float *y, const float *dy, float *dx, long rows, long stride,
                                 long inner, long count, const float *mean, const float *a, const float *b,
                                 const float *k, float *scratch) {
    backward_data_across_dispatch(x, y, dy, dx, rows, stride, inner, count, mean, a, b, k, scratch);
}
