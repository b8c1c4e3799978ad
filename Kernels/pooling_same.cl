// pooling_same.cl: 2-D average and max pooling, forward and backward, for "same" stride-1
// windows (window 2·pad + 1 along both axes, stride 1: GoogLeNet's and Inception's 3×3/1
// padding-1 pool branches), whose output planes have the input's shape.
//
// Layout: NCHW Float32, as pooling.cl. Column sweeps: a work-item walks down SAME_ROWS
// consecutive rows (a strip) of one plane with the window's rows in registers, so each input
// row's reduction over the window's columns is computed once for the 2·pad + 1 output rows
// that hold it (separable, as pooling.cl's vector forms). The strip is unrolled (constant
// trip counts), so a work-item's body is straight-line code.
//
// Average pooling: a work-group is one row's POOL_IN_W columns (rounded up to a multiple of
// POOL_SAME_ALIGN), work-item c takes column c. At every step consecutive work-items touch
// consecutive addresses (a GPU coalesces them; PoCL, which runs a group's work-items as a
// loop, vectorizes that loop with one plain vector load per tap). Rows outside the image are
// read from a clamped row and masked (a condition uniform over the group). Columns are not
// clamped: a tap left or right of the image reads the previous or next row's end and is
// masked per work-item. Only the first plane's first row and the last plane's last row would
// read outside the buffer that way, so the host runs those two planes with the `_edge`
// kernels, which clamp the columns too; a clamped column per work-item would make every tap a
// gather on PoCL. It sums each row's columns, then the rows in order, as pooling.cl's vector
// form, and divides once. Average backward with padding counted is average forward of dy
// (every window has WINDOW_H·WINDOW_W positions, and the outputs covering a pixel are its own
// window in a "same" pool), one division per pixel instead of one per gradient: last-bit
// differences from pooling.cl's Σ (g / divisor).
//
// Max pooling: work-item s takes a strip of POOL_SAME_VEC columns (below). Forward: each
// input row's first maximum over the window's columns and its column, then the rows' in
// order, values and indices bit for bit pooling.cl's (and, with POOL_MASK_NON_POSITIVE, its
// winner −1 where the maximum is not positive). Backward: a gather that adds, in
// ascending (oh, ow) order, the gradients of the outputs whose saved index is its pixel
// (pooling.cl's sums bit for bit).
//
// Tunables (family poolingSame of MemoryBoundTunables.swift, set by -D): POOL_SAME_ROWS rows
// per strip (capped at the plane's height), POOL_SAME_ALIGN, the multiple a work-group (one
// row's columns or column strips) is rounded up to, and POOL_SAME_VEC (1, 4 or 8) columns per
// work-item of the max kernels. Launch: (group, strips, planes); the average kernels run the
// interior kernels over planes 1 … N − 2 and the `_edge` kernels over planes 0 and N − 1.
// Geometry: pooling.cl's POOL_* constants from the same descriptor (the host uses this file
// only where POOL_WINDOW_H = 2·POOL_PAD_TOP + 1, the same along the width, and both strides
// are 1).

#ifndef POOL_SAME_ROWS
#define POOL_SAME_ROWS 8
#endif
#ifndef POOL_SAME_ALIGN
#define POOL_SAME_ALIGN 8
#endif
#ifndef POOL_SAME_VEC
#define POOL_SAME_VEC 8
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
#define POOL_MASK_NON_POSITIVE 0
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

// ---- Max pooling: strips of POOL_SAME_VEC columns ----
// Work-item s takes columns s·VEC … s·VEC + VEC − 1 of SAME_ROWS rows of one plane (VEC 1:
// one column, as the average kernels; on CPU devices a vector of 8, whose taps are vector
// loads within the work-item instead of PoCL's vectors across work-items, which it built
// only for straight-line bodies). The last strip starts at POOL_IN_W − VEC, overlapping the
// one before where VEC does not divide the row, and stores only its own last STRIP_TAIL
// columns. Taps are plain loads where the strip's window columns all lie in the row, else
// masked (below). No load leaves its row, so the first and last planes need no `_edge`
// kernels.
#if POOL_SAME_VEC == 1
#define stripF float
#define stripI int
#define STRIP_LANES 0
#define STRIP_LOAD(p) (*(p))
#define STRIP_STORE(v, p) (*(p) = (v))
#define STRIP_GATHER(V, p, c) ((p)[c])
#elif POOL_SAME_VEC == 4
#define stripF float4
#define stripI int4
#define STRIP_LANES ((int4)(0, 1, 2, 3))
#define STRIP_LOAD(p) vload4(0, p)
#define STRIP_STORE(v, p) vstore4(v, 0, p)
#define STRIP_GATHER(V, p, c) ((V)((p)[(c).s0], (p)[(c).s1], (p)[(c).s2], (p)[(c).s3]))
#elif POOL_SAME_VEC == 8
#define stripF float8
#define stripI int8
#define STRIP_LANES ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#define STRIP_LOAD(p) vload8(0, p)
#define STRIP_STORE(v, p) vstore8(v, 0, p)
#define STRIP_GATHER(V, p, c) \
    ((V)((p)[(c).s0], (p)[(c).s1], (p)[(c).s2], (p)[(c).s3], (p)[(c).s4], (p)[(c).s5], (p)[(c).s6], (p)[(c).s7]))
#else
#error "POOL_SAME_VEC must be 1, 4 or 8"
#endif
#define STRIPS ((POOL_IN_W + POOL_SAME_VEC - 1) / POOL_SAME_VEC)
#define STRIP_TAIL (POOL_IN_W - (STRIPS - 1) * POOL_SAME_VEC)
#define STRIP_GROUP ((STRIPS + POOL_SAME_ALIGN - 1) / POOL_SAME_ALIGN * POOL_SAME_ALIGN)

// Stores the last STRIP_TAIL lanes of v (type T) at p + VEC − STRIP_TAIL … : all of v in
// every strip but an overlapping last one.
#define STRIP_STORE_TAIL(T, v, p, last)                                                      \
    if (!(last) || STRIP_TAIL == POOL_SAME_VEC) STRIP_STORE(v, p);                           \
    else {                                                                                   \
        T a_[POOL_SAME_VEC];                                                                 \
        STRIP_STORE(v, a_);                                                                  \
        _Pragma("unroll") for (int j_ = POOL_SAME_VEC - STRIP_TAIL; j_ < POOL_SAME_VEC; ++j_) (p)[j_] = a_[j_]; \
    }

// Tap b of the strip at column c0 of `row` (the row's columns c0 + lane + b − pad), lanes
// outside the row set to `fill`. `inside`: the strip's window columns all lie in the row.
#define STRIP_TAP(T, row, c0, b, inside, fill)                                               \
    ((inside) ? STRIP_LOAD((row) + (c0) + (b) - POOL_PAD_LEFT) : strip_masked_tap_##T(row, c0, b, fill))
// The row's first and last strips (constant c0) take their columns from the row's first or
// last 2·VEC floats, loaded as two vectors, lane by lane with constant indices, which the
// compiler turns into shuffles: as a gather of clamped columns the forward took 1.4× the
// time on PoCL. Other strips that reach past the row (windows wider than the strips) gather.
#define STRIP_MASKED_TAP(T, V, I)                                                            \
    SAME_INLINE V strip_masked_tap_##T(__global const T* row, int c0, int b, T fill) {       \
        if (POOL_PAD_LEFT <= POOL_SAME_VEC && (c0 == 0 || c0 == POOL_IN_W - POOL_SAME_VEC)) { \
            const int base = c0 == 0 ? 0 : POOL_IN_W - 2 * POOL_SAME_VEC;                    \
            T near[2 * POOL_SAME_VEC], lanes[POOL_SAME_VEC];                                 \
            STRIP_STORE(STRIP_LOAD(row + base), near);                                       \
            STRIP_STORE(STRIP_LOAD(row + base + POOL_SAME_VEC), near + POOL_SAME_VEC);       \
            _Pragma("unroll") for (int j = 0; j < POOL_SAME_VEC; ++j) {                      \
                const int c = c0 + j + b - POOL_PAD_LEFT;                                    \
                lanes[j] = (uint)c < (uint)POOL_IN_W ? near[c - base] : fill;                \
            }                                                                                \
            return STRIP_LOAD(lanes);                                                        \
        }                                                                                    \
        const I c = c0 + STRIP_LANES + b - POOL_PAD_LEFT;                                    \
        const I clamped = clamp(c, (I)0, (I)(POOL_IN_W - 1));                                \
        return select((V)fill, STRIP_GATHER(V, row, clamped), (I)(c == clamped));            \
    }
STRIP_MASKED_TAP(float, stripF, stripI)
STRIP_MASKED_TAP(int, stripI, stripI)

// Whether the strip at c0 reads only columns inside the row: a constant for the first and
// last strips, and for the others where the window reaches no further than a strip and the
// last strip's own columns (the strips between then start at VEC or more and end a strip
// before the row's end).
#define MIDDLE_STRIPS_INSIDE (POOL_PAD_LEFT <= POOL_SAME_VEC && POOL_PAD_LEFT <= STRIP_TAIL)
SAME_INLINE bool strip_inside(int c0) {
    return c0 >= POOL_PAD_LEFT && c0 + POOL_SAME_VEC + POOL_PAD_LEFT <= POOL_IN_W;
}

// Runs the body with `c0`, `last` and `inside` for work-item s's strip: constants in the
// row's first and last strips.
#define WITH_STRIP(s, ...)                                                                   \
    if ((s) == 0) { const int c0 = 0; const bool last = STRIPS == 1; const bool inside = strip_inside(0); __VA_ARGS__ } \
    else if ((s) == STRIPS - 1) {                                                            \
        const int c0 = POOL_IN_W - POOL_SAME_VEC; const bool last = true; const bool inside = strip_inside(c0); \
        __VA_ARGS__                                                                          \
    } else {                                                                                 \
        const int c0 = (s) * POOL_SAME_VEC; const bool last = false;                         \
        const bool inside = MIDDLE_STRIPS_INSIDE || strip_inside(c0);                        \
        __VA_ARGS__                                                                          \
    }

// A value that wins over the best so far: greater, or NaN (the first maximum in the window's
// row-major order, the last NaN, as pooling.cl). Bitwise, not short-circuit: PoCL then keeps
// the body branch-free.
SAME_INLINE stripI strip_wins(stripF v, stripF best) { return (stripI)(v > best) | (stripI)(v != v); }

// Max pooling forward of the strip at c0, rows r0 … r0 + SAME_ROWS − 1 (`plane`, `y`,
// `indices` at the plane's start; `indices` unused without `withIndices`). Separable, as
// pooling.cl's vector form: each input row's first maximum over the window's columns and its
// column, kept for the WINDOW_H output rows that hold the row; then the rows' in order. A
// row's maximum starts from its first tap with the window's first column in the image, so a
// window of −∞ keeps its first pixel in the image, as the scalar scan does.
SAME_INLINE void strip_max_forward(__global const float* plane, __global float* y, __global int* indices, int c0,
                                   int r0, bool last, bool inside, bool withIndices) {
    const stripI columns = c0 + STRIP_LANES - POOL_PAD_LEFT;
    const stripI firstColumn = max(columns, (stripI)0);
    // The last WINDOW_H input rows' maxima and flat winners, oldest first.
    stripF rowMax[POOL_WINDOW_H];
    stripI rowWinner[POOL_WINDOW_H];
#pragma unroll
    for (int i = 0; i < SAME_SPAN; ++i) {
        const int ih = r0 - POOL_PAD_TOP + i, oh = ih - POOL_PAD_TOP;
        if (i >= POOL_WINDOW_H - 1 && !SAME_ROW_EXISTS(oh)) break;
        const int rowStart = clamp(ih, 0, POOL_IN_H - 1) * POOL_IN_W;
        __global const float* row = plane + rowStart;
        stripF m = STRIP_TAP(float, row, c0, 0, inside, -INFINITY);
        stripI column = firstColumn;
#pragma unroll
        for (int b = 1; b < POOL_WINDOW_W; ++b) {
            const stripF v = STRIP_TAP(float, row, c0, b, inside, -INFINITY);
            const stripI wins = strip_wins(v, m);
            m = select(m, v, wins);
            if (withIndices) column = select(column, columns + b, wins);
        }
#pragma unroll
        for (int a = 0; a + 1 < POOL_WINDOW_H; ++a) { rowMax[a] = rowMax[a + 1]; rowWinner[a] = rowWinner[a + 1]; }
        // Rows outside the image win nothing; their winner is the window's first column in
        // the nearest row, the scalar scan's start where no pixel beats −∞.
        const bool rowInside = (uint)ih < (uint)POOL_IN_H;
        rowMax[POOL_WINDOW_H - 1] = rowInside ? m : (stripF)(-INFINITY);
        rowWinner[POOL_WINDOW_H - 1] = rowStart + (rowInside ? column : firstColumn);
        if (i < POOL_WINDOW_H - 1) continue;
        stripF best = rowMax[0];
        stripI winner = rowWinner[0];
#pragma unroll
        for (int a = 1; a < POOL_WINDOW_H; ++a) {
            const stripI wins = strip_wins(rowMax[a], best);
            best = select(best, rowMax[a], wins);
            if (withIndices) winner = select(winner, rowWinner[a], wins);
        }
        const int o = oh * POOL_IN_W + c0;
        STRIP_STORE_TAIL(float, best, y + o, last)
        if (withIndices) {
#if POOL_MASK_NON_POSITIVE
            winner = select((stripI)(-1), winner, (stripI)(best > 0.0f));
#endif
            STRIP_STORE_TAIL(int, winner, indices + o, last)
        }
    }
}
// Max pooling backward of the strip at c0, input rows r0 … r0 + SAME_ROWS − 1 (`grad`,
// `winners`, `out` at the plane's start): each candidate output row's gradients and winners
// are loaded once (winner −1 outside the output) and offered, in ascending (oh, ow) order, to
// the input rows it covers: pooling.cl's sums bit for bit.
SAME_INLINE void strip_max_backward(__global const float* grad, __global const int* winners, __global float* out,
                                    int c0, int r0, bool last, bool inside) {
    // The last WINDOW_H candidate rows, oldest first.
    stripF g[POOL_WINDOW_H][POOL_WINDOW_W];
    stripI w[POOL_WINDOW_H][POOL_WINDOW_W];
#pragma unroll
    for (int i = 0; i < SAME_SPAN; ++i) {
        const int oh = r0 - POOL_PAD_TOP + i, ih = oh - POOL_PAD_TOP;
        if (i >= POOL_WINDOW_H - 1 && !SAME_ROW_EXISTS(ih)) break;
        const int rowStart = clamp(oh, 0, POOL_IN_H - 1) * POOL_IN_W;
        const bool rowInside = (uint)oh < (uint)POOL_IN_H;
#pragma unroll
        for (int a = 0; a + 1 < POOL_WINDOW_H; ++a)
#pragma unroll
            for (int b = 0; b < POOL_WINDOW_W; ++b) { g[a][b] = g[a + 1][b]; w[a][b] = w[a + 1][b]; }
#pragma unroll
        for (int b = 0; b < POOL_WINDOW_W; ++b) {
            g[POOL_WINDOW_H - 1][b] = STRIP_TAP(float, grad + rowStart, c0, b, inside, 0.0f);
            const stripI winner = STRIP_TAP(int, winners + rowStart, c0, b, inside, -1);
            w[POOL_WINDOW_H - 1][b] = rowInside ? winner : (stripI)(-1);
        }
        if (i < POOL_WINDOW_H - 1) continue;
        const stripI self = ih * POOL_IN_W + c0 + STRIP_LANES;
        stripF sum = 0.0f;
#pragma unroll
        for (int a = 0; a < POOL_WINDOW_H; ++a)
#pragma unroll
            for (int b = 0; b < POOL_WINDOW_W; ++b) sum += select((stripF)0.0f, g[a][b], (stripI)(w[a][b] == self));
        STRIP_STORE_TAIL(float, sum, out + ih * POOL_IN_W + c0, last)
    }
}

// Launch: (STRIP_GROUP, row strips, planes), groups of (STRIP_GROUP, 1, 1); work-items past
// the row's strips return at once.
#define STRIP_KERNEL_START(s, r0, p)                                                         \
    const int s = (int)get_global_id(0), r0 = (int)get_global_id(1) * SAME_ROWS;             \
    const size_t p = get_global_id(2) * SAME_PLANE;                                          \
    if (STRIP_GROUP != STRIPS && s >= STRIPS) return;

__kernel __attribute__((reqd_work_group_size(STRIP_GROUP, 1, 1)))
void max_pool_same_forward(__global const float* x, __global float* y) {
    STRIP_KERNEL_START(s, r0, p)
    WITH_STRIP(s, strip_max_forward(x + p, y + p, 0, c0, r0, last, inside, false);)
}

__kernel __attribute__((reqd_work_group_size(STRIP_GROUP, 1, 1)))
void max_pool_same_forward_indexed(__global const float* x, __global float* y, __global int* indices) {
    STRIP_KERNEL_START(s, r0, p)
    WITH_STRIP(s, strip_max_forward(x + p, y + p, indices + p, c0, r0, last, inside, true);)
}

__kernel __attribute__((reqd_work_group_size(STRIP_GROUP, 1, 1)))
void max_pool_same_backward(__global const float* dy, __global const int* indices, __global float* dx) {
    STRIP_KERNEL_START(s, r0, p)
    WITH_STRIP(s, strip_max_backward(dy + p, indices + p, dx + p, c0, r0, last, inside);)
}

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
