#ifndef CNN_SOFTMAX_H
#define CNN_SOFTMAX_H

/// Softmax (or log-softmax when `log`) over each of `rows` contiguous rows of `axis` floats
/// (classifier outputs), for the CPU backend: the row's maximum, then e^(x − max) 16 lanes at a
/// time (within 1.07·10⁻⁷ relative of e^x with AVX-512, 1.12·10⁻⁷ with AVX2, 8.4·10⁻⁸ with
/// the baseline build, over the normal results; below −87.33 (baseline −87.3) they give 0; NaN
/// stays NaN) and their sum, then a scaling sweep; a softmax row's exponential sweep also takes
/// the next row's maximum and scales the previous row. y may be x. AVX-512, AVX2 and baseline
/// builds are picked at run time (cpu_isa.h).
void cnn_softmax_rows(const float *x, float *y, long rows, long axis, int log);

/// Softmax's backward pass over `rows` contiguous rows of `axis` floats: dx = y·(dy − Σ dy·y)
/// per row, the sum in 16-lane float accumulators. dx may be dy.
void cnn_softmax_rows_backward(const float *y, const float *dy, float *dx, long rows, long axis);

/// Softmax cross-entropy over `rows` contiguous rows of `classes` logits x with integer labels,
/// label smoothing ε and inverse_rows = 1/N: row_loss[r] = log Σ e^x − (1 − ε)·x[label] −
/// ε·mean(x) (log-sum-exp with the row's maximum subtracted, never the log of an underflowed
/// probability; in double), and gradient = (softmax(x) − (1 − ε)·onehot − ε/classes) / N, the
/// exponentials as in cnn_softmax_rows. A label outside 0..<classes makes its row's loss and
/// gradient NaN; a NaN logit makes its row's NaN. gradient may be x. AVX-512, AVX2 and
/// baseline builds are picked at run time.
void cnn_softmax_cross_entropy_rows(const float *x, const int *labels, float *gradient, double *row_loss, long rows,
                                    long classes, float smoothing, float inverse_rows);

#endif
