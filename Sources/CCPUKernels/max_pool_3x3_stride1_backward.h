// Private to CCPUKernels (pooling.c's cnn_max_pool_backward calls it): kept out of the public
// include directory, whose module a build may have cached without it.
#ifndef CNN_MAX_POOL_3X3_STRIDE1_BACKWARD_H
#define CNN_MAX_POOL_3X3_STRIDE1_BACKWARD_H

#include "pooling.h"

/// `cnn_max_pool_backward` for 3×3/1 max pools with padding at most 1 per side whose outputs are
/// the padded image less 2 (GoogLeNet's pool branches), as a gather with AVX-512: each dx pixel
/// is the sum of its winning windows' gradients in the scatter's order, stored once. Winners must
/// lie in their window or be −1. Returns 1 when it ran, 0 (nothing written) for other
/// geometries or without AVX-512 in use.
int cnn_max_pool_backward_3x3s1(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                                long planes);

#endif
