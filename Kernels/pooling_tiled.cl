// pooling_tiled.cl: average pooling backward where the windows tile the input: window =
// stride along both axes, no padding, and the input exactly OUT_H·WINDOW_H × OUT_W·WINDOW_W
// (DenseNet's 2×2/2 transitions). Each input pixel lies in one window, so dx is dy / (window
// size) spread over the window: no gather, no masks.
//
// Layout: NCHW Float32, as pooling.cl. A work-group is POOL_TILED_ROWS output rows of one plane
// (its second dimension) by the row's POOL_OUT_W outputs (its first, rounded up to a multiple
// of POOL_TILED_ALIGN; those past the row, or past the plane's last row, return at once):
// work-item (ow, oh) reads dy[oh, ow] and writes its WINDOW_H × WINDOW_W block of dx.
// Consecutive work-items read consecutive gradients and write consecutive pairs (2×2), so a
// GPU coalesces them and PoCL vectorizes the group's inner loop over ow; the group's rows are
// PoCL's outer loop, not a loop in the kernel body (a loop over rows per work-item measured
// 0.9–2× the time on PoCL, one row per group 0.52–0.78; Benchmarks/NOTES-memory-bound.md).
// pooling.cl's gather adds its one candidate to 0: equal bit for bit but for the sign of a zero.
//
// Tunables (family poolingTiled of MemoryBoundTunables.swift, set by -D): POOL_TILED_ROWS
// output rows per group, POOL_TILED_ALIGN the multiple a row's outputs are rounded up to.
// Geometry: pooling.cl's POOL_* constants from the same descriptor.

#ifndef POOL_TILED_ROWS
#define POOL_TILED_ROWS 14
#endif
#ifndef POOL_TILED_ALIGN
#define POOL_TILED_ALIGN 8
#endif
// Defaults only so that the file also builds alone (the host builds every file of Kernels/);
// the host always sets every one of them.
#ifndef POOL_IN_H
#define POOL_IN_H 4
#define POOL_IN_W 4
#define POOL_OUT_H 2
#define POOL_OUT_W 2
#define POOL_WINDOW_H 2
#define POOL_WINDOW_W 2
#endif

#define TILED_GROUP ((POOL_OUT_W + POOL_TILED_ALIGN - 1) / POOL_TILED_ALIGN * POOL_TILED_ALIGN)

__kernel __attribute__((reqd_work_group_size(TILED_GROUP, POOL_TILED_ROWS, 1)))
void avg_pool_tiled_backward(__global const float* dy, __global float* dx) {
    const int ow = (int)get_global_id(0), oh = (int)get_global_id(1);
    if ((TILED_GROUP != POOL_OUT_W && ow >= POOL_OUT_W) || (POOL_OUT_H % POOL_TILED_ROWS != 0 && oh >= POOL_OUT_H)) return;
    const size_t p = get_global_id(2);
    const float share = dy[(p * POOL_OUT_H + oh) * POOL_OUT_W + ow] / (float)(POOL_WINDOW_H * POOL_WINDOW_W);
    __global float* block = dx + p * (POOL_IN_H * POOL_IN_W) + oh * POOL_WINDOW_H * POOL_IN_W + ow * POOL_WINDOW_W;
#pragma unroll
    for (int a = 0; a < POOL_WINDOW_H; ++a) {
#if POOL_WINDOW_W == 2
        vstore2((float2)(share), 0, block + a * POOL_IN_W);
#else
#pragma unroll
        for (int b = 0; b < POOL_WINDOW_W; ++b) block[a * POOL_IN_W + b] = share;
#endif
    }
}
