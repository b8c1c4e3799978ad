#include "pooling.h"
#include "isa_variants.h"

// The same blocks as RowReduction (Sources/CNNGPU/Backends/CPU/CPURowReduction.swift), which
// this replaces for the head's pooling: float accumulators over at most 4096 values each.
#define BLOCK 4096

/// The lanes' sum, added pairwise in four shuffle steps. The Swift loop this replaces (SSE2
/// vectors, the lanes then added one by one) reached 0.31 of a copy's bandwidth on ResNet-50's
/// 7² head; a C transcription of it took 3× this file's time on one core (NOTES-memory-bound.md,
/// cmem8).
INLINE float lanes_sum(vf16 v) {
    v += __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    v += __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    v += __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    v += __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    return v[0];
}

/// Σ of n ≤ BLOCK floats: two accumulators so that consecutive adds do not wait for each
/// other; loads never pass the plane (the last whole vector, then the remaining floats one by
/// one).
INLINE float block_sum(const float *x, long n) {
    vf16 a0 = splat16(0), a1 = a0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 += load16(x + i);
        a1 += load16(x + i + 16);
    }
    if (i + 16 <= n) a0 += load16(x + i), i += 16;
    float sum = lanes_sum(a0 + a1);
    for (; i < n; i++) sum += x[i];
    return sum;
}

/// Planes of one block (every model's head) skip the loop over blocks and its double running
/// total (0 + the block's sum, the same value): with it a 7² plane took 2.2× as long.
INLINE void global_average_pool_forward_body(const float *x, float *y, long planes, long spatial) {
    if (spatial <= BLOCK) {
        for (long p = 0; p < planes; p++) y[p] = (float)((double)block_sum(x + p * spatial, spatial) / (double)spatial);
        return;
    }
    for (long p = 0; p < planes; p++) {
        double total = 0;
        for (long start = 0; start < spatial; start += BLOCK)
            total += block_sum(x + p * spatial + start, start + BLOCK < spatial ? BLOCK : spatial - start);
        y[p] = (float)(total / (double)spatial);
    }
}

ISA_VARIANTS(global_average_pool_forward, global_average_pool_forward_body,
             (const float *x, float *y, long planes, long spatial), (x, y, planes, spatial))

void cnn_global_average_pool_forward(const float *x, float *y, long planes, long spatial) {
    global_average_pool_forward_dispatch(x, y, planes, spatial);
}
