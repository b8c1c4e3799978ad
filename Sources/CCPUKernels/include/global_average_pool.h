#ifndef CNN_GLOBAL_AVERAGE_POOL_H
#define CNN_GLOBAL_AVERAGE_POOL_H

/// Global average pooling for the CPU backend: y[p] = the mean of plane p's `spatial`
/// contiguous floats, for `planes` planes. Each plane is summed in blocks of 4096 floats, 16
/// lanes at a time in float, the blocks' sums added in double and divided by `spatial` there.
/// AVX-512, AVX2 and baseline builds are picked at run time (cpu_isa.h).
void cnn_global_average_pool_forward(const float *x, float *y, long planes, long spatial);

#endif
