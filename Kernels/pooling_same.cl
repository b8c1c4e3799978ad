// pooling_same.cl: 2-D average pooling forward and backward, and max pooling backward, for "same" stride-1
// windows (window 2·pad + 1 along both axes, stride 1: GoogLeNet's and Inception's 3×3/1
// padding-1 pool branches), whose output planes have the input's shape.
//
// Layout: NCHW Float32, as pooling.cl. Column sweeps: a work-group is one row's POOL_IN_W
// columns (rounded up to a multiple of POOL_SAME_ALIGN), work-item c takes column c of SAME_ROWS consecutive rows (a strip) of one plane,
// walking down the strip with the window's rows in registers. At every step consecutive
// work-items touch consecutive addresses (a GPU coalesces them; PoCL, which runs a group's
// work-items as a loop, vectorizes that loop with one plain vector load per tap), and each
// input row's reduction over the window's columns is computed once for the 2·pad + 1 output
// rows that hold it (separable, as pooling.cl's vector forms). The strip is unrolled (constant
// trip counts), so a work-item's body is straight-line code.
//
// Rows outside the image are read from a clamped row and masked (a condition uniform over
// the group). Columns are not clamped: a tap left or right of the image reads the previous
// or next row's end and is masked per work-item. Only the first plane's first row and the
// last plane's last row would read outside the buffer that way, so the host runs those two
// planes with the `_edge` kernels, which clamp the columns too; a clamped
// column per work-item would make every tap a gather on PoCL.
//
// Max pooling forward stays in pooling.cl: its column-sweep form (each input row's first
// maximum and column, then the rows' in order) measured no faster there on PoCL
// (Benchmarks/NOTES-memory-bound.md). Average pooling sums each row's columns, then the rows in order, as
// pooling.cl's vector form, and divides once. The max backward gather adds, in ascending
// (oh, ow) order, the gradients of the outputs whose saved index is its pixel (pooling.cl's
// sums bit for bit). Average backward with padding counted is average forward of dy (every
// window has WINDOW_H·WINDOW_W positions, and the outputs covering a pixel are its own window
// in a "same" pool), one division per pixel instead of one per gradient: last-bit
// differences from pooling.cl's Σ (g / divisor).
//
// Tunables (family poolingSame of MemoryBoundTunables.swift, set by -D): POOL_SAME_ROWS rows
// per strip (capped at the plane's height) and POOL_SAME_ALIGN, the multiple the work-group
// (one row's columns) is rounded up to. Launch: (group, strips, planes), the interior kernels
// over planes 1 … N − 2, the `_edge` kernels over planes 0 and N − 1. Geometry: pooling.cl's
// POOL_* constants from the same descriptor (the host uses this file only where
// POOL_WINDOW_H = 2·POOL_PAD_TOP + 1, the same along the width, and both strides are 1).

#ifndef POOL_SAME_ROWS
#define POOL_SAME_ROWS 32
#endif
#ifndef POOL_SAME_ALIGN
#define POOL_SAME_ALIGN 8
#endif
// Defaults only so that the file also builds alone (the host builds every file of Kernels/);
// the host always sets every one of them.
#ifndef POOL_IN_H
#define POOL_IN_H 4
#define POOL_IN_W 4
#define POOL_WINDOW_H 3
#define POOL_WINDOW_W 3
#define POOL_PAD_TOP 1
#define POOL_PAD_LEFT 1
#define POOL_DIVISOR 1
#endif
#define SAME_PLANE (POOL_IN_H * POOL_IN_W)
// Work-items per group: the row's columns rounded up to a multiple of POOL_SAME_ALIGN (those
// past the row return at once). PoCL vectorizes a group's work-items 8 at a time and runs
// a remainder one by one: 28 columns in groups of 28 left 4 scalar work-items per group.
#define SAME_GROUP ((POOL_IN_W + POOL_SAME_ALIGN - 1) / POOL_SAME_ALIGN * POOL_SAME_ALIGN)
#define SAME_ROWS (POOL_SAME_ROWS < POOL_IN_H ? POOL_SAME_ROWS : POOL_IN_H)
// Rows a strip reads: its own and pad more on each side.
#define SAME_SPAN (SAME_ROWS + POOL_WINDOW_H - 1)
#define SAME_INLINE inline __attribute__((always_inline))

// Whether output / input row `row` of a strip exists (the last strip may be partial).
#if POOL_IN_H % SAME_ROWS == 0
#define SAME_ROW_EXISTS(row) true
#else
#define SAME_ROW_EXISTS(row) ((row) < POOL_IN_H)
#endif

// The work-item's column, first row and plane (the `_edge` kernels take plane 0 at
// get_global_id(2) 0 and the last plane at 1).
#define SAME_WORK_ITEM(c, r0, p, planes, clamped)                                            \
    const int c = (int)get_global_id(0), r0 = (int)get_global_id(1) * SAME_ROWS;             \
    if (SAME_GROUP != POOL_IN_W && c >= POOL_IN_W) return;                                   \
    const size_t p = (clamped) ? (get_global_id(2) == 0 ? 0 : (size_t)(planes) - 1) : get_global_id(2) + 1;

// Tap b of row `row` (a pointer to the row's column c): straight, or from a clamped column.
#define SAME_TAP(row, c, b, clamped)                                                         \
    ((clamped) ? (row)[clamp((c) + (b) - POOL_PAD_LEFT, 0, POOL_IN_W - 1) - (c)] : (row)[(b) - POOL_PAD_LEFT])

// Whether tap b of column c lies inside the row (the centre tap always does).
SAME_INLINE bool same_column_inside(int c, int b) {
    return b == POOL_PAD_LEFT || (uint)(c + b - POOL_PAD_LEFT) < (uint)POOL_IN_W;
}

// Max pooling backward of column c, rows r0 … r0 + SAME_ROWS − 1 (`grad`, `winners`, `out`
// at column c of row 0): each candidate output row's gradients and winners are loaded once
// (winner −1 outside the output) and offered to the input rows it covers.
SAME_INLINE void same_max_backward(__global const float* grad, __global const int* winners, __global float* out,
                                   int c, int r0, bool clamped) {
    // The last WINDOW_H candidate rows, oldest first, shifted down a row per step.
    float g[POOL_WINDOW_H][POOL_WINDOW_W];
    int w[POOL_WINDOW_H][POOL_WINDOW_W];
#pragma unroll
    for (int i = 0; i < SAME_SPAN; ++i) {
        const int oh = r0 - POOL_PAD_TOP + i, row = clamp(oh, 0, POOL_IN_H - 1) * POOL_IN_W;
        const bool rowInside = (uint)oh < (uint)POOL_IN_H;
#pragma unroll
        for (int a = 0; a + 1 < POOL_WINDOW_H; ++a)
#pragma unroll
            for (int b = 0; b < POOL_WINDOW_W; ++b) { g[a][b] = g[a + 1][b]; w[a][b] = w[a + 1][b]; }
#pragma unroll
        for (int b = 0; b < POOL_WINDOW_W; ++b) {
            // Every tap loaded, then masked: a conditional load kept PoCL's loop scalar.
            const int winner = SAME_TAP(winners + row, c, b, clamped);
            g[POOL_WINDOW_H - 1][b] = SAME_TAP(grad + row, c, b, clamped);
            w[POOL_WINDOW_H - 1][b] = select(-1, winner, (int)rowInside & (int)same_column_inside(c, b));
        }
        const int ih = oh - POOL_PAD_TOP, self = ih * POOL_IN_W + c;
        if (i < POOL_WINDOW_H - 1 || !SAME_ROW_EXISTS(ih)) continue;
        float sum = 0.0f;
#pragma unroll
        for (int a = 0; a < POOL_WINDOW_H; ++a)
#pragma unroll
            for (int b = 0; b < POOL_WINDOW_W; ++b) sum += select(0.0f, g[a][b], w[a][b] == self);
        out[ih * POOL_IN_W] = sum;
    }
}

#define SAME_MAX_BACKWARD_KERNEL(name, clamped)                                              \
    __kernel __attribute__((reqd_work_group_size(SAME_GROUP, 1, 1)))                          \
    void name(const int planes, __global const float* dy, __global const int* indices, __global float* dx) { \
        SAME_WORK_ITEM(c, r0, p, planes, clamped)                                            \
        same_max_backward(dy + p * SAME_PLANE + c, indices + p * SAME_PLANE + c, dx + p * SAME_PLANE + c, c, r0, \
                          clamped);                                                          \
    }
SAME_MAX_BACKWARD_KERNEL(max_pool_same_backward, false)
SAME_MAX_BACKWARD_KERNEL(max_pool_same_backward_edge, true)

// Pixels of the image in the window centred on row (column) o: 2·pad + 1 less those outside.
SAME_INLINE int same_rows_inside(int o) {
    return min(o + POOL_PAD_TOP, POOL_IN_H - 1) - max(o - POOL_PAD_TOP, 0) + 1;
}
SAME_INLINE int same_columns_inside(int o) {
    return min(o + POOL_PAD_LEFT, POOL_IN_W - 1) - max(o - POOL_PAD_LEFT, 0) + 1;
}

// Average pooling forward of column c, rows r0 … r0 + SAME_ROWS − 1: each input row's sum
// over the window's columns, then the window's rows in order, divided once. With padding
// counted it is also the backward pass, run on dy.
SAME_INLINE void same_avg(__global const float* plane, __global float* out, int c, int r0, bool clamped) {
#if !POOL_DIVISOR
    const int columns = same_columns_inside(c);
#endif
    // The last WINDOW_H input rows' sums, oldest first, shifted down a row per step.
    float rowSum[POOL_WINDOW_H];
#pragma unroll
    for (int i = 0; i < SAME_SPAN; ++i) {
        const int ih = r0 - POOL_PAD_TOP + i;
        __global const float* x = plane + clamp(ih, 0, POOL_IN_H - 1) * POOL_IN_W;
        float sum = 0.0f;
#pragma unroll
        for (int b = 0; b < POOL_WINDOW_W; ++b) {
            const float v = SAME_TAP(x, c, b, clamped);
            sum += select(0.0f, v, (int)same_column_inside(c, b));
        }
#pragma unroll
        for (int a = 0; a + 1 < POOL_WINDOW_H; ++a) rowSum[a] = rowSum[a + 1];
        rowSum[POOL_WINDOW_H - 1] = (uint)ih < (uint)POOL_IN_H ? sum : 0.0f;
        const int oh = ih - POOL_PAD_TOP;
        if (i < POOL_WINDOW_H - 1 || !SAME_ROW_EXISTS(oh)) continue;
        float total = rowSum[0];
#pragma unroll
        for (int a = 1; a < POOL_WINDOW_H; ++a) total += rowSum[a];
#if POOL_DIVISOR
        out[oh * POOL_IN_W] = total / (float)(POOL_WINDOW_H * POOL_WINDOW_W);
#else
        out[oh * POOL_IN_W] = total / (float)(same_rows_inside(oh) * columns);
#endif
    }
}

#define SAME_AVG_KERNEL(name, clamped)                                                       \
    __kernel __attribute__((reqd_work_group_size(SAME_GROUP, 1, 1)))                          \
    void name(const int planes, __global const float* x, __global float* y) {               \
        SAME_WORK_ITEM(c, r0, p, planes, clamped)                                            \
        same_avg(x + p * SAME_PLANE + c, y + p * SAME_PLANE + c, c, r0, clamped);           \
    }
SAME_AVG_KERNEL(avg_pool_same, false)
SAME_AVG_KERNEL(avg_pool_same_edge, true)
