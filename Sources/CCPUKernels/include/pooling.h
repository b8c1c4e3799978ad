#ifndef CNN_POOLING_H
#define CNN_POOLING_H

#include <stdint.h>

/// 2-D pooling of float planes for the CPU backend (layout `[planes][inH][inW]` in,
/// `[planes][outH][outW]` out), 16 outputs of a row at a time in vector lanes, with AVX-512,
/// AVX2 and baseline builds picked at run time (cpu_isa.h). The caller has validated the
/// geometry: positive sizes, padding at most half the window, so every window sees a pixel.
typedef struct {
    long inH, inW, outH, outW;
    long windowH, windowW, strideH, strideW;
    long top, left, bottom, right;
} cnn_pool_geometry;

/// Floats of scratch one call of the pooling functions below needs.
long cnn_pool_scratch_floats(const cnn_pool_geometry *g);

/// Max pooling of `planes` planes. NaN wins and otherwise the first maximum in row-major window
/// order is kept, as in PyTorch; `indices` (NULL: not written) receives each winner's flat
/// position in its input plane.
void cnn_max_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                          float *scratch);

/// `cnn_max_pool_forward` for a pool after ReLU whose backward pass the pool takes over:
/// `indices` (required) gets −1 where the window's maximum is not positive (or is NaN), so
/// `cnn_max_pool_backward` leaves ReLU's zero gradient there.
void cnn_max_pool_forward_masking_non_positive(const cnn_pool_geometry *g, const float *x, float *y,
                                               int32_t *indices, long planes, float *scratch);

/// Average pooling of `planes` planes: window sums in row-major order divided by PyTorch's
/// divisor, the window clipped to the padded input (`includePadding`) or to the image. With
/// AVX-512, 3×3/1 pools that keep the size sum columns first and multiply by the divisor's
/// reciprocal instead (within a rounding).
void cnn_average_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int includePadding,
                              long planes, float *scratch);

/// Floats of scratch one call of `cnn_average_pool_backward` needs.
long cnn_average_pool_backward_scratch_floats(const cnn_pool_geometry *g);

/// Average pooling's backward pass over `planes` planes, dx overwritten: each input pixel sums
/// dy / divisor of the outputs whose window holds it, output row by output row (each row's
/// terms first summed across the window's columns; with AVX-512, 3×3/1 pools that keep the
/// size sum dy · 1/divisor column by column first, and 2×2/2 pools tiling rows of 32 to 64
/// columns write dy · 1/4 by permutes, the same bits as the other builds).
void cnn_average_pool_backward(const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding,
                               long planes, float *scratch);

/// Max pooling's backward pass over `planes` planes of geometry `g`: each dx plane is zeroed,
/// then every output's gradient is added at its winner's position, row by row, each row in
/// passes of outputs whose windows do not overlap (the same order every run); indices outside
/// the plane are skipped. With AVX-512, 3×3/1 pools that keep the size less 2 gather instead
/// (max_pool_3x3_stride1_backward.c: the same sums, each pixel stored once), where a winner
/// outside its window is skipped too.
void cnn_max_pool_backward(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                           long planes);

/// Whether `g` is a 2×2/2 pool of planes at most 32 wide with every window inside the image,
/// which the forward functions above run on their small-plane path.
int cnn_max_pool_small_2x2_applies(const cnn_pool_geometry *g);

/// `cnn_max_pool_backward` for geometries `cnn_max_pool_small_2x2_applies` accepts: windows do
/// not overlap, so each dx pixel is written once (its window's gradient where it is the winner,
/// else 0), without a zeroing pass; winners −1 write 0.
void cnn_max_pool_backward_small_2x2(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                                     long planes);

/// Whether `g` is a 3×3/2 pool with padding 0 or 1 on each side, at least 16 outputs and 32
/// inputs a row, which `cnn_max_pool_forward` and `cnn_max_pool_forward_masking_non_positive`
/// run separably, straight from the plane (max_pool_3x3_stride2.c).
int cnn_max_pool_3x3s2_applies(const cnn_pool_geometry *g);

/// Floats of scratch `cnn_max_pool_3x3s2_forward` needs (within `cnn_pool_scratch_floats`).
long cnn_max_pool_3x3s2_scratch_floats(const cnn_pool_geometry *g);

/// `cnn_max_pool_forward` (or with `maskNonPositive`, its masking form) for geometries
/// `cnn_max_pool_3x3s2_applies` accepts: the same values and indices to the bit.
void cnn_max_pool_3x3s2_forward(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                                float *scratch, int maskNonPositive);

/// Global average pooling (global_average_pool.c): y[p] = the mean of plane p's `spatial`
/// contiguous floats, for `planes` planes. Each plane is summed in blocks of 4096 floats, 16
/// lanes at a time in float, the blocks' sums added in double and divided by `spatial` there.
/// Declared here rather than in a header of its own: a new header in this umbrella directory
/// is not seen by a module already cached from it.
void cnn_global_average_pool_forward(const float *x, float *y, long planes, long spatial);

#endif
