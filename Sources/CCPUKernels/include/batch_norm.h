#ifndef CNN_BATCH_NORM_H
#define CNN_BATCH_NORM_H

/// Batch normalization's per-channel loops for the CPU backend. One channel's values are
/// `rows` rows of `inner` floats, `stride` floats apart (NCHW: rows = N, inner = H·W,
/// stride = C·H·W). Sums run 16 lanes at a time in float within blocks of 4096 values and add
/// the blocks in double, so long rows keep a small error. AVX-512, AVX2 and baseline builds
/// are picked at run time (cpu_isa.h).

/// The channel's mean and Σ(x − mean)², never as E[x²] − E[x]² (which cancels): a channel of
/// up to 65536 values in two passes (it stays in L2), a larger one with each row's mean and
/// squared deviations taken while the row is in cache, rows merged by Chan et al.'s formula.
void cnn_bn_moments(const float *x, long rows, long stride, long inner, double *mean, double *m2);

/// y = (x − mean)·a + b, then ReLU when `relu` (NaN stays NaN). y may be x. When `rows · stride`
/// (the whole tensor) spans 16 MiB or more, y is written with non-temporal stores (fenced
/// before returning): it would not stay cached for the next op, and they skip reading each
/// destination line first.
void cnn_bn_normalize(const float *x, float *y, long rows, long stride, long inner, float mean, float a, float b,
                      int relu);

/// Σ g and Σ g·(x − mean), where g is dy, or dy where y > 0 and 0 elsewhere when `y` is not
/// NULL (batch norm + ReLU, y its output).
void cnn_bn_backward_sums(const float *x, const float *y, const float *dy, long rows, long stride, long inner,
                          float mean, double *sumG, double *sumGCentered);

/// dx = a·g + b·(x − mean) + k, g as in `cnn_bn_backward_sums`. dx may be dy. Non-temporal
/// stores from 16 MiB up, as in `cnn_bn_normalize`.
void cnn_bn_backward_data(const float *x, const float *y, const float *dy, float *dx, long rows, long stride,
                          long inner, float mean, float a, float b, float k);

/// The same four steps for `count` consecutive channels at once, vectorized along the
/// `count·inner` values the channels hold in each of the `rows` rows: for short rows (ResNet-50's
/// later stages at 64² input have 4 or 16 values per row), where per-channel loops are all
/// loop overhead. `x`, `y`, `dy`, `dx` point at the first channel's first value; per-channel
/// arrays have `count` entries. Sums are added in float over at most 256 rows, then in double.
/// `scratch` holds `cnn_bn_across_scratch_floats(count, inner)` floats.
long cnn_bn_across_scratch_floats(long count, long inner);

void cnn_bn_moments_across(const float *x, long rows, long stride, long inner, long count, double *mean, double *m2,
                           float *scratch);

void cnn_bn_normalize_across(const float *x, float *y, long rows, long stride, long inner, long count,
                             const float *mean, const float *a, const float *b, int relu, float *scratch);

void cnn_bn_backward_sums_across(const float *x, const float *y, const float *dy, long rows, long stride, long inner,
                                 long count, const float *mean, double *sumG, double *sumGCentered, float *scratch);

void cnn_bn_backward_data_across(const float *x, const float *y, const float *dy, float *dx, long rows, long stride,
                                 long inner, long count, const float *mean, const float *a, const float *b,
                                 const float *k, float *scratch);

#endif
