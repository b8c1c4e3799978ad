// pooling.cl: 2-D max and average pooling, forward and backward, adaptive average pooling, and
// global average pooling.
//
// Layout: NCHW Float32. Every (n, c) pair is an independent "plane" of IN_H×IN_W input pixels
// and OUT_H×OUT_W outputs; kernels index planes as p = n·C + c. Output (oh, ow) covers input rows
// oh·STRIDE_H − PAD_TOP … + WINDOW_H − 1 and columns ow·STRIDE_W − PAD_LEFT … + WINDOW_W − 1;
// padded positions never take part in a maximum and count as zeros in an average.
//
// Max pooling saves, per output, the flat index ih·IN_W + iw (within its plane) of the first
// maximum in row-major window order; NaN wins, as in PyTorch. The backward passes are gathers:
// one work-item per input pixel sums the gradients of the outputs whose window covers it, in
// ascending output order, so results are deterministic and need no atomics.
//
// The 2-D max and average kernels are built for one pooling geometry: the POOL_* sizes below
// are set by -D from the descriptor (one program per geometry, as MIOpen builds its pooling),
// so every window loop has a constant trip count and unrolls, positions outside the image are
// masked instead of skipped, and plane offsets and the pixel → (row, column) split are
// divisions by constants. The kernel body is then straight-line code, which a GPU runs without
// divergence and PoCL vectorizes across work-items (a loop whose trip count varies per
// work-item kept it scalar: 1 GB/s before). They run on a 2-D range of work-groups (pixel tile,
// plane): the POOL_WG work-items of a group take POOL_ITEMS turns over the flattened pixels
// (oh·OUT_W + ow forward, ih·IN_W + iw backward) of one plane, so at every turn consecutive
// work-items touch consecutive outputs and neighbouring windows, which overlap, are read while
// in cache. Adaptive pooling runs on a 3-D range (width, height, planes); global average
// pooling forward on groups of small planes staged in local memory, or one POOL_WG work-group
// per large plane, and backward on POOL_VEC consecutive floats of the flattened planes per
// work-item (both built for one plane size, POOL_GAP_SPATIAL).
//
// Tunables (pooling family of MemoryBoundTunables.swift, set by -D): POOL_WG work-items per
// group, POOL_ITEMS pixels per work-item, POOL_VEC (1, 4 or 8) consecutive pixels of a row
// per work-item in the max and average kernels, outputs forward and inputs backward (1: one
// pixel each; see their vector forms below), and POOL_ROWS (1, 2 or 4) rows per work-item in
// the vector forms: output rows forward, groups of STRIDE_H input rows backward (max, and
// average where CANDIDATES_W ≤ POOL_VEC; ignored at POOL_VEC 1), and POOL_MAX_GATHER_VEC (1, 4, 8
// or 16), the POOL_VEC of max pooling's backward gather for 3-wide stride-2 windows (ResNet's
// stem pool): the host builds that kernel as its own program with -DPOOL_MAX_GATHER=1, in
// which it replaces POOL_VEC. Geometry (from the descriptor, OpenCLBackend+Pooling):
// POOL_IN_H, POOL_IN_W, POOL_OUT_H, POOL_OUT_W, POOL_WINDOW_H, POOL_WINDOW_W, POOL_STRIDE_H,
// POOL_STRIDE_W, POOL_PAD_TOP, POOL_PAD_LEFT, POOL_PAD_BOTTOM, POOL_PAD_RIGHT; POOL_DIVISOR is
// 1 where an average counts padded positions, 0 where it counts only the image's.
// POOL_MASK_NON_POSITIVE (max pooling after a ReLU whose backward pass the pool takes over): 1
// writes winner −1 where the window's maximum is not positive, which the backward gathers
// never match, so they write ReLU's masked gradient.

#ifndef POOL_WG
#define POOL_WG 64
#endif
#ifndef POOL_ITEMS
#define POOL_ITEMS 1
#endif
#ifndef POOL_VEC
#define POOL_VEC 1
#endif
#ifndef POOL_ROWS
#define POOL_ROWS 1
#endif
#ifndef POOL_MAX_GATHER_VEC
#define POOL_MAX_GATHER_VEC POOL_VEC
#endif
// On PoCL the 3×3/2 max backward gather took 0.73–0.85× the time with 16 pixels (one AVX-512
// register) per work-item instead of 8, where the forward kernels took 1.1–1.3× (more
// registers live): so only the gather's own program is built wider.
#if defined(POOL_MAX_GATHER) && POOL_MAX_GATHER
#undef POOL_VEC
#define POOL_VEC POOL_MAX_GATHER_VEC
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
#define POOL_STRIDE_H 2
#define POOL_STRIDE_W 2
#define POOL_PAD_TOP 0
#define POOL_PAD_LEFT 0
#define POOL_PAD_BOTTOM 0
#define POOL_PAD_RIGHT 0
#define POOL_DIVISOR 1
#endif

#ifndef POOL_MASK_NON_POSITIVE
#define POOL_MASK_NON_POSITIVE 0
#endif

#define IN_PLANE (POOL_IN_H * POOL_IN_W)
#define OUT_PLANE (POOL_OUT_H * POOL_OUT_W)
// Outputs covering one input pixel along an axis: ceil(window / stride).
#define SPAN_H ((POOL_WINDOW_H - 1) / POOL_STRIDE_H + 1)
#define SPAN_W ((POOL_WINDOW_W - 1) / POOL_STRIDE_W + 1)

// Runs the body (the variadic tail, so that its commas need no parentheses) with (flat, row,
// col, plane) for each of this work-item's pixels of a rows×cols plane (compile-time sizes),
// flat = row·cols + col. Stores go through `flat`: addressed through (row, col), the compiler
// cannot see that consecutive work-items store consecutively, and PoCL emitted scatters. The
// column is flat − row·cols, not flat % cols: clang turns a division and remainder pair into
// a `freeze` instruction, which oclgrind's --uninitialized checker cannot run.
#define FOR_EACH_PIXEL(flat, row, col, p, rows, cols, ...)                                  \
    for (int k_ = 0; k_ < POOL_ITEMS; ++k_) {                                                \
        const int flat = ((int)get_group_id(0) * POOL_ITEMS + k_) * POOL_WG + (int)get_local_id(0); \
        const size_t p = get_group_id(1);                                                    \
        if (flat < (rows) * (cols)) { const int row = flat / (cols), col = flat - row * (cols); __VA_ARGS__ } \
    }

// Helpers are always inlined: a call left in the kernel body (PoCL's inliner declined
// window_argmax by a hair) stops PoCL vectorizing across work-items.
#define POOL_INLINE inline __attribute__((always_inline))

// Runs the body with `first` = strip·POOL_VEC, a compile-time constant for a row's first and
// last strips (of `strips`), the ones whose taps or candidates cross the row's ends: their
// clamped gathers then read constant columns, which the compiler turns into vector loads and
// constant shuffles instead of a gather of computed columns per tap (on PoCL the 3×3/1
// average pools on 28-wide rows then took 0.3–0.6 of the time; Benchmarks/NOTES-memory-bound.md).
#define WITH_STRIP_START(first, strip, strips, ...)                                          \
    if ((strip) == 0) { const int first = 0; __VA_ARGS__ }                                   \
    else if ((strip) == (strips) - 1) { const int first = ((strips) - 1) * POOL_VEC; __VA_ARGS__ } \
    else { const int first = (strip) * POOL_VEC; __VA_ARGS__ }

// The first input row and column of output (oh, ow)'s window, before clipping to the image.
POOL_INLINE int window_top(int oh) { return oh * POOL_STRIDE_H - POOL_PAD_TOP; }
POOL_INLINE int window_left(int ow) { return ow * POOL_STRIDE_W - POOL_PAD_LEFT; }

// Maximum of output (oh, ow)'s window; returns the flat index of the winner within the plane.
// Every tap is loaded from an address clamped into the image and masked when it lies outside,
// so the loops have the same trip count everywhere. The index starts at the window's first
// pixel inside the image, which keeps it when every value is −∞.
POOL_INLINE int window_argmax(__global const float* plane, int oh, int ow, float* best) {
    const int h = window_top(oh), w = window_left(ow);
    int index = max(h, 0) * POOL_IN_W + max(w, 0);
    float m = -INFINITY;
#pragma unroll
    for (int a = 0; a < POOL_WINDOW_H; ++a) {
        const int ih = h + a;
        const bool rowInside = ih >= 0 && ih < POOL_IN_H;
        const int rowStart = clamp(ih, 0, POOL_IN_H - 1) * POOL_IN_W;
#pragma unroll
        for (int b = 0; b < POOL_WINDOW_W; ++b) {
            const int iw = w + b;
            const bool inside = rowInside && iw >= 0 && iw < POOL_IN_W;
            const int e = rowStart + clamp(iw, 0, POOL_IN_W - 1);
            const float v = plane[e];
            const bool wins = inside && (v > m || isnan(v));
            m = wins ? v : m;
            index = wins ? e : index;
        }
    }
    *best = m;
    return index;
}

// The divisor of one average window: the window clipped to the padded input (as PyTorch
// does), or only its real pixels when padding is excluded.
POOL_INLINE float window_divisor(int oh, int ow) {
    int h0 = window_top(oh), h1 = min(h0 + POOL_WINDOW_H, POOL_IN_H + POOL_PAD_BOTTOM);
    int w0 = window_left(ow), w1 = min(w0 + POOL_WINDOW_W, POOL_IN_W + POOL_PAD_RIGHT);
#if !POOL_DIVISOR
    h0 = max(h0, 0); w0 = max(w0, 0); h1 = min(h1, POOL_IN_H); w1 = min(w1, POOL_IN_W);
#endif
    return (float)((h1 - h0) * (w1 - w0));
}

#if POOL_VEC > 1
// The vector form of the max and average forward kernels: each work-item computes POOL_VEC consecutive
// outputs of one output row (consecutive work-items the next POOL_VEC, as the streaming kernels
// take one vector each). A window tap is then one vector load where its columns are
// consecutive (stride 1) or every other one (stride 2: a load twice as wide, even lanes) and
// lie inside the row, and a gather of clamped, masked columns elsewhere (image borders, other
// strides). On PoCL, which runs a group's work-items one after another, this is what makes
// the taps vector loads: across work-items they were 8-wide gathers (0.02–0.04 of copy).
#define OUT_VECTORS ((POOL_OUT_W + POOL_VEC - 1) / POOL_VEC)
// POOL_LANES_OF(T, a, f): the vector (a[f(0)], a[f(1)], …) of private array a; with constant
// f(j) it becomes a constant shuffle.
#if POOL_VEC == 4
typedef float4 poolF;
typedef int4 poolI;
#define POOL_LANES_OF(T, a, f) ((T)(a[f(0)], a[f(1)], a[f(2)], a[f(3)]))
#define POOL_LANES ((int4)(0, 1, 2, 3))
#define POOL_VLOAD(p) vload4(0, p)
#define POOL_VLOAD_EVEN(p) vload8(0, p).even
#define POOL_VSTORE(v, p) vstore4(v, 0, p)
#define CONVERT_POOL_F(v) convert_float4(v)
#define POOL_GATHER(p, c) ((float4)((p)[(c).s0], (p)[(c).s1], (p)[(c).s2], (p)[(c).s3]))
#define POOL_TAIL_STORE(v, p, left)                                                          \
    { (p)[0] = (v).s0; if ((left) > 1) (p)[1] = (v).s1; if ((left) > 2) (p)[2] = (v).s2; }
#elif POOL_VEC == 8
typedef float8 poolF;
typedef int8 poolI;
#define POOL_LANES_OF(T, a, f) ((T)(a[f(0)], a[f(1)], a[f(2)], a[f(3)], a[f(4)], a[f(5)], a[f(6)], a[f(7)]))
#define POOL_LANES ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#define POOL_VLOAD(p) vload8(0, p)
#define POOL_VLOAD_EVEN(p) vload16(0, p).even
#define POOL_VSTORE(v, p) vstore8(v, 0, p)
#define CONVERT_POOL_F(v) convert_float8(v)
#define POOL_GATHER(p, c)                                                                    \
    ((float8)((p)[(c).s0], (p)[(c).s1], (p)[(c).s2], (p)[(c).s3], (p)[(c).s4], (p)[(c).s5], (p)[(c).s6], (p)[(c).s7]))
#define POOL_TAIL_STORE(v, p, left)                                                          \
    { (p)[0] = (v).s0; if ((left) > 1) (p)[1] = (v).s1; if ((left) > 2) (p)[2] = (v).s2;    \
      if ((left) > 3) (p)[3] = (v).s3; if ((left) > 4) (p)[4] = (v).s4; if ((left) > 5) (p)[5] = (v).s5; \
      if ((left) > 6) (p)[6] = (v).s6; }
#elif POOL_VEC == 16
typedef float16 poolF;
typedef int16 poolI;
#define POOL_LANES_OF(T, a, f)                                                               \
    ((T)(a[f(0)], a[f(1)], a[f(2)], a[f(3)], a[f(4)], a[f(5)], a[f(6)], a[f(7)], a[f(8)], a[f(9)], a[f(10)], \
         a[f(11)], a[f(12)], a[f(13)], a[f(14)], a[f(15)]))
#define POOL_LANES ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define POOL_VLOAD(p) vload16(0, p)
// Even floats of the 32 at p: vector components can not be wider than 16.
#define POOL_VLOAD_EVEN(p)                                                                   \
    shuffle2(vload16(0, p), vload16(1, p), (uint16)(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30))
#define POOL_VSTORE(v, p) vstore16(v, 0, p)
#define CONVERT_POOL_F(v) convert_float16(v)
#define POOL_GATHER(p, c)                                                                    \
    ((float16)((p)[(c).s0], (p)[(c).s1], (p)[(c).s2], (p)[(c).s3], (p)[(c).s4], (p)[(c).s5], (p)[(c).s6], (p)[(c).s7], \
               (p)[(c).s8], (p)[(c).s9], (p)[(c).sa], (p)[(c).sb], (p)[(c).sc], (p)[(c).sd], (p)[(c).se], (p)[(c).sf]))
#define POOL_TAIL_STORE(v, p, left)                                                          \
    { if ((left) >= 8) {                                                                     \
          vstore8((v).lo, 0, p); if ((left) > 8) (p)[8] = (v).s8; if ((left) > 9) (p)[9] = (v).s9;  \
          if ((left) > 10) (p)[10] = (v).sa; if ((left) > 11) (p)[11] = (v).sb;               \
          if ((left) > 12) (p)[12] = (v).sc; if ((left) > 13) (p)[13] = (v).sd; if ((left) > 14) (p)[14] = (v).se; \
      } else {                                                                               \
          (p)[0] = (v).s0; if ((left) > 1) (p)[1] = (v).s1; if ((left) > 2) (p)[2] = (v).s2;  \
          if ((left) > 3) (p)[3] = (v).s3; if ((left) > 4) (p)[4] = (v).s4; if ((left) > 5) (p)[5] = (v).s5; \
          if ((left) > 6) (p)[6] = (v).s6; } }
#else
#error "POOL_VEC must be 1, 4, 8 or 16"
#endif

// Row `row`'s values at columns iw (one per lane, `first` = lane 0's): one vector load where
// they are consecutive or every other one and all inside the row, else a gather from clamped
// columns (the caller masks those outside). Vector min, max and clamp take vector bounds here:
// oclgrind 21.10 evaluated clamp(int8, int, int) without clamping.
POOL_INLINE poolF row_taps(__global const float* row, int first, poolI iw) {
#if POOL_STRIDE_W == 1
    if (first >= 0 && first + POOL_VEC <= POOL_IN_W) return POOL_VLOAD(row + first);
#elif POOL_STRIDE_W == 2
    if (first >= 0 && first + 2 * POOL_VEC <= POOL_IN_W) return POOL_VLOAD_EVEN(row + first);
#if POOL_IN_W >= 2 * POOL_VEC
    {
        // A strip at a row end: its clamped columns all lie among the 2·POOL_VEC floats of the
        // row nearest to it, loaded as vectors, and, with the compile-time start of the row's
        // edge strips, pick them by a constant shuffle instead of a gather (on PoCL 0.90–0.92×
        // the 3×3/2 forward's time on 32- and 112-wide rows).
        float taps[2 * POOL_VEC];
        const int base = clamp(first, 0, POOL_IN_W - 2 * POOL_VEC);
        POOL_VSTORE(POOL_VLOAD(row + base), taps);
        POOL_VSTORE(POOL_VLOAD(row + base + POOL_VEC), taps + POOL_VEC);
#define TAP_COLUMN(j) (clamp(first + 2 * (j), 0, POOL_IN_W - 1) - base)
        return POOL_LANES_OF(poolF, taps, TAP_COLUMN);
#undef TAP_COLUMN
    }
#endif
#endif
    return POOL_GATHER(row, clamp(iw, (poolI)(0), (poolI)(POOL_IN_W - 1)));
}

// row_taps for a vector whose loads all lie inside the row (STRIP_SPAN): no bounds test at
// strides 1 and 2; other strides gather as row_taps does (an unclamped gather there crashed
// oclgrind 21.10's --uninitialized checker).
POOL_INLINE poolF row_taps_inside(__global const float* row, int first, poolI iw) {
#if POOL_STRIDE_W == 1
    return POOL_VLOAD(row + first);
#elif POOL_STRIDE_W == 2
    return POOL_VLOAD_EVEN(row + first);
#else
    return row_taps(row, first, iw);
#endif
}

// The vector form of max pooling forward is separable: a window's first maximum in row-major
// order is the first, in row order, of its rows' first maxima (each row's by column order),
// under the same "greater, or NaN" test, so each input row's horizontal maximum and winning
// column are computed once and then offered to every output row whose window holds that row.
// A work-item takes POOL_ROWS output rows of one POOL_VEC-wide column strip: for 3×3/2 the two
// rows of a pair share one input row (5 row maxima for 2 outputs instead of 6), and on PoCL
// fewer, longer work-items halve the per-work-item cost that dominated (0.3× the time of the
// one-row, nine-tap form; Benchmarks/NOTES-memory-bound.md). More rows per work-item spilled
// registers on PoCL (2× slower at 4). Values and indices equal the scalar form's bit for bit.
#define ROW_BLOCK_INPUT_ROWS ((POOL_ROWS - 1) * POOL_STRIDE_H + POOL_WINDOW_H)
#define OUT_ROW_BLOCKS ((POOL_OUT_H + POOL_ROWS - 1) / POOL_ROWS)

// Max pooling forward of output rows oh0 … oh0 + POOL_ROWS − 1 (those inside the output),
// columns ow0 … ow0 + POOL_VEC − 1. `interior` (a constant once inlined): every tap of the
// strip lies inside the row, so no column masks. Each output row is stored as soon as its
// last input row is in, so that at most SPAN_H accumulators are live.
POOL_INLINE void max_pool_rows(__global const float* plane, __global float* y, __global int* indices, int oh0, int ow0,
                               bool interior, bool withIndices) {
    const int h = window_top(oh0), w0 = window_left(ow0), left = POOL_OUT_W - ow0;
    const poolI w = (ow0 + POOL_LANES) * POOL_STRIDE_W - POOL_PAD_LEFT;
    poolF m[POOL_ROWS];
    poolI index[POOL_ROWS];
#pragma unroll
    for (int i = 0; i < ROW_BLOCK_INPUT_ROWS; ++i) {
        const int ih = h + i;
        const int rowStart = clamp(ih, 0, POOL_IN_H - 1) * POOL_IN_W;
        __global const float* row = plane + rowStart;
        // Row ih's first maximum (the last NaN, as in the scalar form) and its column; −∞ for
        // rows outside the image, which then win nothing. The first tap is the maximum so far
        // unless it lies outside the row, and the column starts at the first tap's either way.
        // NaN is tested as v != v, one unordered compare: PoCL (LLVM 15) lowered isnan on
        // vectors to three integer instructions (with the first tap and the window's first row
        // taken without a compare, 0.8× the instructions; Benchmarks/NOTES-memory-bound.md).
        poolF hm = interior ? row_taps_inside(row, w0, w) : row_taps(row, w0, w);
        if (!interior) hm = select((poolF)(-INFINITY), hm, (w >= 0) & (w < POOL_IN_W));
        poolI hcol = w;
#pragma unroll
        for (int b = 1; b < POOL_WINDOW_W; ++b) {
            const poolI iw = w + b;
            const poolF v = interior ? row_taps_inside(row, w0 + b, iw) : row_taps(row, w0 + b, iw);
            poolI wins = (v > hm) | (v != v);
            if (!interior) wins &= (iw >= 0) & (iw < POOL_IN_W);
            hm = select(hm, v, wins);
            hcol = select(hcol, iw, wins);
        }
        if (ih < 0 || ih >= POOL_IN_H) hm = (poolF)(-INFINITY);
#pragma unroll
        for (int r = 0; r < POOL_ROWS; ++r) {
            if (i < r * POOL_STRIDE_H || i >= r * POOL_STRIDE_H + POOL_WINDOW_H) continue;
            if (i == r * POOL_STRIDE_H) {
                // The window's first row: its maximum is the window's so far; where it is −∞,
                // the window's first pixel inside the image keeps the index.
                m[r] = hm;
                index[r] = select(max(h + r * POOL_STRIDE_H, 0) * POOL_IN_W + max(w, (poolI)(0)), rowStart + hcol,
                                  hm != (poolF)(-INFINITY));
            } else {
                const poolI wins = (hm > m[r]) | (hm != hm);
                m[r] = select(m[r], hm, wins);
                index[r] = select(index[r], rowStart + hcol, wins);
            }
            if (i == r * POOL_STRIDE_H + POOL_WINDOW_H - 1 && oh0 + r < POOL_OUT_H) {
                const int o = (oh0 + r) * POOL_OUT_W + ow0;
                if (left >= POOL_VEC) POOL_VSTORE(m[r], y + o);
                else POOL_TAIL_STORE(m[r], y + o, left)
                if (withIndices) {
                    poolI winner = index[r];
                    if (POOL_MASK_NON_POSITIVE) winner = select((poolI)(-1), winner, m[r] > 0.0f);
                    if (left >= POOL_VEC) POOL_VSTORE(winner, indices + o);
                    else POOL_TAIL_STORE(winner, indices + o, left)
                }
            }
        }
    }
}

// Columns w0 … w0 + STRIP_SPAN − 1 hold every float row_taps_inside loads for a strip whose
// first window starts at w0 (at stride 2 the wide load of the last tap ends one past the
// last tap's column).
#if POOL_STRIDE_W == 2
#define STRIP_SPAN (POOL_WINDOW_W - 1 + 2 * POOL_VEC)
#else
#define STRIP_SPAN ((POOL_VEC - 1) * POOL_STRIDE_W + POOL_WINDOW_W)
#endif

// Runs max_pool_rows for this work-item's strip (first output ow0), with the column masks
// only where needed.
POOL_INLINE void max_pool_strip(__global const float* x, __global float* y, __global int* indices, size_t p,
                                int block, int ow0, bool withIndices) {
    const int w0 = window_left(ow0);
    const bool interior = w0 >= 0 && w0 + STRIP_SPAN <= POOL_IN_W;
    __global const float* plane = x + p * IN_PLANE;
    __global float* out = y + p * OUT_PLANE;
    __global int* outIndices = withIndices ? indices + p * OUT_PLANE : indices;
    if (interior) max_pool_rows(plane, out, outIndices, block * POOL_ROWS, ow0, true, withIndices);
    else max_pool_rows(plane, out, outIndices, block * POOL_ROWS, ow0, false, withIndices);
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_forward(__global const float* x, __global float* y) {
    FOR_EACH_PIXEL(f_, block, strip, p, OUT_ROW_BLOCKS, OUT_VECTORS, {
        WITH_STRIP_START(ow0, strip, OUT_VECTORS, max_pool_strip(x, y, 0, p, block, ow0, false);)
    })
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_forward_indexed(__global const float* x, __global float* y, __global int* indices) {
    FOR_EACH_PIXEL(f_, block, strip, p, OUT_ROW_BLOCKS, OUT_VECTORS, {
        WITH_STRIP_START(ow0, strip, OUT_VECTORS, max_pool_strip(x, y, indices, p, block, ow0, true);)
    })
}


#else
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_forward(__global const float* x, __global float* y) {
    FOR_EACH_PIXEL(o, oh, ow, p, POOL_OUT_H, POOL_OUT_W, {
        float best;
        window_argmax(x + p * IN_PLANE, oh, ow, &best);
        y[p * OUT_PLANE + o] = best;
    })
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_forward_indexed(__global const float* x, __global float* y, __global int* indices) {
    FOR_EACH_PIXEL(o, oh, ow, p, POOL_OUT_H, POOL_OUT_W, {
        float best;
        const int index = window_argmax(x + p * IN_PLANE, oh, ow, &best);
        y[p * OUT_PLANE + o] = best;
        indices[p * OUT_PLANE + o] = POOL_MASK_NON_POSITIVE && !(best > 0.0f) ? -1 : index;
    })
}
#endif

// The backward gathers visit, along each axis, the SPAN outputs last − SPAN + 1 … last, where
// last = (i + pad) / stride is the last output whose window starts at or before i, in
// ascending order; those outside the output or whose window ends before i are masked. Masked
// candidates read a clamped, valid address and add 0.
POOL_INLINE bool covers_row(int oh, int ih) {
    return oh >= 0 && oh < POOL_OUT_H && window_top(oh) + POOL_WINDOW_H > ih;
}
POOL_INLINE bool covers_column(int ow, int iw) {
    return ow >= 0 && ow < POOL_OUT_W && window_left(ow) + POOL_WINDOW_W > iw;
}

// Σ grad[oh, ow] over the outputs covering (ih, iw) whose saved index is that pixel.
POOL_INLINE float max_gradient(__global const float* grad, __global const int* winners, int ih, int iw) {
    const int self = ih * POOL_IN_W + iw;
    const int ohLast = (ih + POOL_PAD_TOP) / POOL_STRIDE_H, owLast = (iw + POOL_PAD_LEFT) / POOL_STRIDE_W;
    float sum = 0.0f;
#pragma unroll
    for (int a = SPAN_H - 1; a >= 0; --a) {
        const int oh = ohLast - a;
        const bool rowCovers = covers_row(oh, ih);
        const int rowStart = clamp(oh, 0, POOL_OUT_H - 1) * POOL_OUT_W;
#pragma unroll
        for (int b = SPAN_W - 1; b >= 0; --b) {
            const int ow = owLast - b;
            const int o = rowStart + clamp(ow, 0, POOL_OUT_W - 1);
            const bool won = rowCovers && covers_column(ow, iw) && winners[o] == self;
            sum += won ? grad[o] : 0.0f;
        }
    }
    return sum;
}

#if POOL_VEC > 1
// The vector form of the backward gathers: each work-item computes POOL_VEC consecutive input
// pixels of a row (consecutive work-items the next POOL_VEC) in POOL_ROWS·STRIDE_H consecutive
// rows. Along a row, those pixels are covered by at most CANDIDATES_W consecutive output
// columns (first_candidate …), and each candidate is loaded once and added to the lanes it
// covers with a vector compare and select. The STRIDE_H input rows of a "row group" q
// (ih = q·STRIDE_H − PAD_TOP …, those whose last covering output row is q) are covered by the
// same SPAN_H output rows, so a work-item loads each candidate row once for all of them, and
// POOL_ROWS consecutive groups share all but one of their candidate rows. On PoCL, which runs
// a group's work-items one after another, this replaces per-pixel gathers (SPAN_H·SPAN_W
// scattered loads per pixel, 0.01–0.09 of copy) by a few loads of consecutive outputs per
// vector, and the row groups halve the loads and the work-items of a stride-2 pool again.
// Each lane still adds its outputs in ascending (oh, ow) order, adding 0 for the others, so
// results equal the scalar form's.
#define IN_VECTORS ((POOL_IN_W + POOL_VEC - 1) / POOL_VEC)
#define CANDIDATES_W ((POOL_VEC - 1 + POOL_STRIDE_W - 1) / POOL_STRIDE_W + SPAN_W)

// The candidates' private arrays hold a whole vector where one load can fill them.
#if CANDIDATES_W <= POOL_VEC
#define CANDIDATE_SLOTS POOL_VEC
#else
#define CANDIDATE_SLOTS CANDIDATES_W
#endif

POOL_INLINE int first_candidate(int iw0) { return (iw0 + POOL_PAD_LEFT) / POOL_STRIDE_W - SPAN_W + 1; }

// Row groups: the first and last q with an input row, how many a plane has, and how many
// blocks of POOL_ROWS of them (one per work-item and column strip).
#define FIRST_ROW_GROUP (POOL_PAD_TOP / POOL_STRIDE_H)
#define ROW_GROUPS ((POOL_IN_H - 1 + POOL_PAD_TOP) / POOL_STRIDE_H - FIRST_ROW_GROUP + 1)
#define ROW_GROUP_BLOCKS ((ROW_GROUPS + POOL_ROWS - 1) / POOL_ROWS)
// Candidate rows of one work-item: SPAN_H for its first group, one more for each further one.
#define CANDIDATE_ROWS (SPAN_H + POOL_ROWS - 1)

#if POOL_VEC % POOL_STRIDE_W == 0
// When the stride divides POOL_VEC, every vector starts at the same phase of the stride, so
// lane j's b-th candidate (b = 0 the last, b = SPAN_W − 1 the first) sits at a compile-time
// position of the candidate row: each (row, b) step is a constant lane shuffle of the loaded
// candidates, SPAN_W steps a row instead of CANDIDATES_W.
#define LANE_CANDIDATE(j, b) ((POOL_PAD_LEFT % POOL_STRIDE_W + (j)) / POOL_STRIDE_W + SPAN_W - 1 - (b))
#if POOL_VEC == 4
#define PICK_CANDIDATES(T, c, b)                                                             \
    ((T)(c[LANE_CANDIDATE(0, b)], c[LANE_CANDIDATE(1, b)], c[LANE_CANDIDATE(2, b)], c[LANE_CANDIDATE(3, b)]))
#elif POOL_VEC == 8
#define PICK_CANDIDATES(T, c, b)                                                             \
    ((T)(c[LANE_CANDIDATE(0, b)], c[LANE_CANDIDATE(1, b)], c[LANE_CANDIDATE(2, b)], c[LANE_CANDIDATE(3, b)], \
         c[LANE_CANDIDATE(4, b)], c[LANE_CANDIDATE(5, b)], c[LANE_CANDIDATE(6, b)], c[LANE_CANDIDATE(7, b)]))
#else
#define PICK_CANDIDATES(T, c, b)                                                             \
    ((T)(c[LANE_CANDIDATE(0, b)], c[LANE_CANDIDATE(1, b)], c[LANE_CANDIDATE(2, b)], c[LANE_CANDIDATE(3, b)], \
         c[LANE_CANDIDATE(4, b)], c[LANE_CANDIDATE(5, b)], c[LANE_CANDIDATE(6, b)], c[LANE_CANDIDATE(7, b)], \
         c[LANE_CANDIDATE(8, b)], c[LANE_CANDIDATE(9, b)], c[LANE_CANDIDATE(10, b)], c[LANE_CANDIDATE(11, b)], \
         c[LANE_CANDIDATE(12, b)], c[LANE_CANDIDATE(13, b)], c[LANE_CANDIDATE(14, b)], c[LANE_CANDIDATE(15, b)]))
#endif
#endif

// Output row oh's candidates for the input vector whose first candidate column is ow0: their
// gradients and saved winners, winner −1 for candidates outside the output (a winner lies in
// its window, so no other coverage test is needed). The small arrays are indexed by constants
// only once unrolled, so they stay in registers.
POOL_INLINE void max_candidates(__global const float* grad, __global const int* winners, int oh, int ow0,
                                float* g, int* w) {
    const bool rowInside = oh >= 0 && oh < POOL_OUT_H;
    const int rowStart = clamp(oh, 0, POOL_OUT_H - 1) * POOL_OUT_W;
#if CANDIDATES_W <= POOL_VEC
    if (rowInside && ow0 >= 0 && ow0 + POOL_VEC <= POOL_OUT_W) {
        // Every candidate inside the output: one vector load each of gradients and winners.
        POOL_VSTORE(POOL_VLOAD(grad + rowStart + ow0), g);
        POOL_VSTORE(POOL_VLOAD(winners + rowStart + ow0), w);
        return;
    }
#endif
#pragma unroll
    for (int c = 0; c < CANDIDATES_W; ++c) {
        const int ow = ow0 + c;
        const int o = rowStart + clamp(ow, 0, POOL_OUT_W - 1);
        const int winner = winners[o];
        g[c] = grad[o];
        w[c] = rowInside && ow >= 0 && ow < POOL_OUT_W ? winner : -1;
    }
}

// max_gradient for the pixels iw0 … iw0 + POOL_VEC − 1 of the input rows of groups
// q0 … q0 + POOL_ROWS − 1, stored into `plane` (dx's).
POOL_INLINE void max_gradient_rows(__global const float* grad, __global const int* winners, __global float* plane,
                                   int q0, int iw0) {
    const int ow0 = first_candidate(iw0), left = POOL_IN_W - iw0;
    float g[CANDIDATE_ROWS][CANDIDATE_SLOTS];
    int w[CANDIDATE_ROWS][CANDIDATE_SLOTS];
    // Candidate row k is output row q0 − SPAN_H + 1 + k.
#pragma unroll
    for (int k = 0; k < CANDIDATE_ROWS; ++k) max_candidates(grad, winners, q0 - SPAN_H + 1 + k, ow0, g[k], w[k]);
#pragma unroll
    for (int j = 0; j < POOL_ROWS * POOL_STRIDE_H; ++j) {
        const int ih = q0 * POOL_STRIDE_H - POOL_PAD_TOP + j, group = j / POOL_STRIDE_H;
        if (ih < 0 || ih >= POOL_IN_H) continue;
        const poolI self = ih * POOL_IN_W + iw0 + POOL_LANES;
        poolF sum = 0.0f;
#pragma unroll
        for (int a = 0; a < SPAN_H; ++a) {
            const int k = group + a;
#if POOL_VEC % POOL_STRIDE_W == 0
#pragma unroll
            for (int b = SPAN_W - 1; b >= 0; --b)
                sum += select((poolF)(0.0f), PICK_CANDIDATES(poolF, g[k], b), self == PICK_CANDIDATES(poolI, w[k], b));
#else
#pragma unroll
            for (int c = 0; c < CANDIDATES_W; ++c) sum += select((poolF)(0.0f), (poolF)(g[k][c]), self == w[k][c]);
#endif
        }
        __global float* out = plane + ih * POOL_IN_W + iw0;
        if (left >= POOL_VEC) POOL_VSTORE(sum, out);
        else POOL_TAIL_STORE(sum, out, left)
    }
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_backward_gather(__global const float* dy, __global const int* indices, __global float* dx) {
    FOR_EACH_PIXEL(f_, block, strip, p, ROW_GROUP_BLOCKS, IN_VECTORS, {
#if POOL_IN_W % POOL_VEC == 0
        WITH_STRIP_START(iw0, strip, IN_VECTORS, max_gradient_rows(dy + p * OUT_PLANE, indices + p * OUT_PLANE,
                         dx + p * IN_PLANE, FIRST_ROW_GROUP + block * POOL_ROWS, iw0);)
#else
        // A partial last strip keeps its computed start: with a constant one, oclgrind 21.10
        // summed a wrong gradient into its last pixel at POOL_VEC 4, POOL_ROWS 4 (right with
        // -cl-opt-disable and on PoCL), so the kernel checks could not vouch for that form.
        if (strip == 0) max_gradient_rows(dy + p * OUT_PLANE, indices + p * OUT_PLANE, dx + p * IN_PLANE,
                                          FIRST_ROW_GROUP + block * POOL_ROWS, 0);
        else max_gradient_rows(dy + p * OUT_PLANE, indices + p * OUT_PLANE, dx + p * IN_PLANE,
                               FIRST_ROW_GROUP + block * POOL_ROWS, strip * POOL_VEC);
#endif
    })
}
#else
// dx[p, ih, iw] = Σ dy[p, oh, ow] over covering outputs whose saved index is (ih, iw).
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_backward_gather(__global const float* dy, __global const int* indices, __global float* dx) {
    FOR_EACH_PIXEL(i, ih, iw, p, POOL_IN_H, POOL_IN_W, {
        dx[p * IN_PLANE + i] = max_gradient(dy + p * OUT_PLANE, indices + p * OUT_PLANE, ih, iw);
    })
}
#endif

// Σ of output (oh, ow)'s window, padded positions masked to 0 (row-major order).
POOL_INLINE float window_sum(__global const float* plane, int oh, int ow) {
    const int h = window_top(oh), w = window_left(ow);
    float sum = 0.0f;
#pragma unroll
    for (int a = 0; a < POOL_WINDOW_H; ++a) {
        const int ih = h + a;
        const bool rowInside = ih >= 0 && ih < POOL_IN_H;
        const int rowStart = clamp(ih, 0, POOL_IN_H - 1) * POOL_IN_W;
#pragma unroll
        for (int b = 0; b < POOL_WINDOW_W; ++b) {
            const int iw = w + b;
            const float v = plane[rowStart + clamp(iw, 0, POOL_IN_W - 1)];
            sum += rowInside && iw >= 0 && iw < POOL_IN_W ? v : 0.0f;
        }
    }
    return sum;
}

#if POOL_VEC > 1
// window_divisor for outputs (oh, ow), one per lane.
POOL_INLINE poolF window_divisor_v(int oh, poolI ow) {
    int h0 = window_top(oh), h1 = min(h0 + POOL_WINDOW_H, POOL_IN_H + POOL_PAD_BOTTOM);
    poolI w0 = ow * POOL_STRIDE_W - POOL_PAD_LEFT, w1 = min(w0 + POOL_WINDOW_W, (poolI)(POOL_IN_W + POOL_PAD_RIGHT));
#if !POOL_DIVISOR
    h0 = max(h0, 0); w0 = max(w0, (poolI)(0)); h1 = min(h1, POOL_IN_H); w1 = min(w1, (poolI)(POOL_IN_W));
#endif
    return CONVERT_POOL_F((h1 - h0) * (w1 - w0));
}

// The vector form of average pooling forward, separable as max pooling's: each input row's
// sum over a window's columns (in column order) is computed once and added, in row order, to
// every output row whose window holds that row; POOL_ROWS output rows per work-item share
// their input rows (3×3/1: 4 row sums for 2 outputs instead of 6; 0.5–0.85× the time of the
// per-output form on PoCL). Sums group by rows, so results may differ from the scalar
// form's row-major sum in the last bits.
POOL_INLINE void avg_pool_rows(__global const float* plane, __global float* y, int oh0, int ow0, bool interior) {
    const int h = window_top(oh0), w0 = window_left(ow0), left = POOL_OUT_W - ow0;
    const poolI w = (ow0 + POOL_LANES) * POOL_STRIDE_W - POOL_PAD_LEFT;
    poolF sum[POOL_ROWS];
#pragma unroll
    for (int i = 0; i < ROW_BLOCK_INPUT_ROWS; ++i) {
        const int ih = h + i;
        __global const float* row = plane + clamp(ih, 0, POOL_IN_H - 1) * POOL_IN_W;
        poolF rowSum = 0.0f;
#pragma unroll
        for (int b = 0; b < POOL_WINDOW_W; ++b) {
            const poolI iw = w + b;
            const poolF v = interior ? row_taps_inside(row, w0 + b, iw) : row_taps(row, w0 + b, iw);
            rowSum += interior ? v : select((poolF)(0.0f), v, (iw >= 0) & (iw < POOL_IN_W));
        }
        if (ih < 0 || ih >= POOL_IN_H) rowSum = 0.0f;
#pragma unroll
        for (int r = 0; r < POOL_ROWS; ++r) {
            if (i < r * POOL_STRIDE_H || i >= r * POOL_STRIDE_H + POOL_WINDOW_H) continue;
            sum[r] = i == r * POOL_STRIDE_H ? rowSum : sum[r] + rowSum;
            if (i == r * POOL_STRIDE_H + POOL_WINDOW_H - 1 && oh0 + r < POOL_OUT_H) {
                const int o = (oh0 + r) * POOL_OUT_W + ow0;
                const poolF average = sum[r] / window_divisor_v(oh0 + r, ow0 + POOL_LANES);
                if (left >= POOL_VEC) POOL_VSTORE(average, y + o);
                else POOL_TAIL_STORE(average, y + o, left)
            }
        }
    }
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void avg_pool_forward(__global const float* x, __global float* y) {
    FOR_EACH_PIXEL(f_, block, strip, p, OUT_ROW_BLOCKS, OUT_VECTORS, {
        __global const float* plane = x + p * IN_PLANE;
        WITH_STRIP_START(ow0, strip, OUT_VECTORS, {
            const int w0 = window_left(ow0);
            if (w0 >= 0 && w0 + STRIP_SPAN <= POOL_IN_W) avg_pool_rows(plane, y + p * OUT_PLANE, block * POOL_ROWS, ow0, true);
            else avg_pool_rows(plane, y + p * OUT_PLANE, block * POOL_ROWS, ow0, false);
        })
    })
}
#else
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void avg_pool_forward(__global const float* x, __global float* y) {
    FOR_EACH_PIXEL(o, oh, ow, p, POOL_OUT_H, POOL_OUT_W, {
        y[p * OUT_PLANE + o] = window_sum(x + p * IN_PLANE, oh, ow) / window_divisor(oh, ow);
    })
}
#endif

// Σ grad[oh, ow] / divisor(oh, ow) over the outputs whose window covers (ih, iw).
POOL_INLINE float average_gradient(__global const float* grad, int ih, int iw) {
    const int ohLast = (ih + POOL_PAD_TOP) / POOL_STRIDE_H, owLast = (iw + POOL_PAD_LEFT) / POOL_STRIDE_W;
    float sum = 0.0f;
#pragma unroll
    for (int a = SPAN_H - 1; a >= 0; --a) {
        const int oh = ohLast - a;
        const bool rowCovers = covers_row(oh, ih);
        const int ohc = clamp(oh, 0, POOL_OUT_H - 1);
#pragma unroll
        for (int b = SPAN_W - 1; b >= 0; --b) {
            const int ow = owLast - b;
            const int owc = clamp(ow, 0, POOL_OUT_W - 1);
            const float share = grad[ohc * POOL_OUT_W + owc] / window_divisor(ohc, owc);
            sum += rowCovers && covers_column(ow, iw) ? share : 0.0f;
        }
    }
    return sum;
}

#if POOL_VEC > 1
#if CANDIDATES_W <= POOL_VEC
// Average pooling backward in row groups where one vector holds a row's candidates (strides of
// 2 and more with windows up to twice the stride, such as 2×2/2 and 3×3/2). Wider candidate
// rows (3×3/1: 10 candidates for 8 pixels) keep one input row per work-item below: the row-group
// form of those ran 0.7–0.85× the time on PoCL but oclgrind 21.10 computed wrong sums for it
// (right with -cl-opt-disable, and on PoCL), so the kernel checks could not vouch for it.
// Output row oh's candidates for the input vector whose first candidate column is ow0: their
// shares (gradient / divisor, computed once per candidate) and columns. Rows outside the
// output read a clamped row; the caller masks them.
POOL_INLINE void average_candidates(__global const float* grad, int oh, int ow0, float* share, int* column) {
    const int ohc = clamp(oh, 0, POOL_OUT_H - 1);
    if (ow0 >= 0 && ow0 + POOL_VEC <= POOL_OUT_W) {
        // Every candidate inside the output: one vector load and one vector division.
        const poolI ow = ow0 + POOL_LANES;
        POOL_VSTORE(POOL_VLOAD(grad + ohc * POOL_OUT_W + ow0) / window_divisor_v(ohc, ow), share);
        POOL_VSTORE(ow, column);
        return;
    }
#pragma unroll
    for (int c = 0; c < CANDIDATES_W; ++c) {
        const int owc = clamp(ow0 + c, 0, POOL_OUT_W - 1);
        share[c] = grad[ohc * POOL_OUT_W + owc] / window_divisor(ohc, owc);
        column[c] = ow0 + c;
    }
}

// average_gradient for the pixels iw0 … iw0 + POOL_VEC − 1 of the input rows of groups
// q0 … q0 + POOL_ROWS − 1, stored into `plane` (dx's): each candidate's share is added to
// the lanes its window covers.
POOL_INLINE void average_gradient_rows(__global const float* grad, __global float* plane, int q0, int iw0) {
    const int ow0 = first_candidate(iw0), left = POOL_IN_W - iw0;
    const poolI iw = iw0 + POOL_LANES;
    float share[CANDIDATE_ROWS][CANDIDATE_SLOTS];
    int column[CANDIDATE_ROWS][CANDIDATE_SLOTS];
    // Candidate row k is output row q0 − SPAN_H + 1 + k.
#pragma unroll
    for (int k = 0; k < CANDIDATE_ROWS; ++k) average_candidates(grad, q0 - SPAN_H + 1 + k, ow0, share[k], column[k]);
#pragma unroll
    for (int j = 0; j < POOL_ROWS * POOL_STRIDE_H; ++j) {
        const int ih = q0 * POOL_STRIDE_H - POOL_PAD_TOP + j, group = j / POOL_STRIDE_H;
        if (ih < 0 || ih >= POOL_IN_H) continue;
        poolF sum = 0.0f;
#pragma unroll
        for (int a = 0; a < SPAN_H; ++a) {
            const int k = group + a;
            const poolI rowCovers = (poolI)(covers_row(q0 - SPAN_H + 1 + k, ih) ? -1 : 0);
#if POOL_VEC % POOL_STRIDE_W == 0
#pragma unroll
            for (int b = SPAN_W - 1; b >= 0; --b) {
                // Lane j's candidate starts at or before its pixel by construction.
                const poolI ow = PICK_CANDIDATES(poolI, column[k], b);
                const poolI covers = rowCovers & (ow >= 0) & (ow < POOL_OUT_W)
                    & (ow * POOL_STRIDE_W - POOL_PAD_LEFT + POOL_WINDOW_W > iw);
                sum += select((poolF)(0.0f), PICK_CANDIDATES(poolF, share[k], b), covers);
            }
#else
#pragma unroll
            for (int c = 0; c < CANDIDATES_W; ++c) {
                const int ow = column[k][c], start = window_left(ow);
                const poolI covers = rowCovers & (poolI)(ow >= 0 && ow < POOL_OUT_W ? -1 : 0) & (iw >= start)
                    & (iw < start + POOL_WINDOW_W);
                sum += select((poolF)(0.0f), (poolF)(share[k][c]), covers);
            }
#endif
        }
        __global float* out = plane + ih * POOL_IN_W + iw0;
        if (left >= POOL_VEC) POOL_VSTORE(sum, out);
        else POOL_TAIL_STORE(sum, out, left)
    }
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void avg_pool_backward_gather(__global const float* dy, __global float* dx) {
    FOR_EACH_PIXEL(f_, block, strip, p, ROW_GROUP_BLOCKS, IN_VECTORS, {
#if POOL_VEC % POOL_STRIDE_W == 0
        WITH_STRIP_START(iw0, strip, IN_VECTORS, average_gradient_rows(dy + p * OUT_PLANE, dx + p * IN_PLANE,
                         FIRST_ROW_GROUP + block * POOL_ROWS, iw0);)
#else
        // Strides that do not divide POOL_VEC (3) keep computed starts: with constant ones the
        // candidates' per-column tests crashed oclgrind 21.10's --uninitialized checker.
        average_gradient_rows(dy + p * OUT_PLANE, dx + p * IN_PLANE, FIRST_ROW_GROUP + block * POOL_ROWS, strip * POOL_VEC);
#endif
    })
}
#else
// Runs the body with (ih, iw0, p, i, left) for this work-item's input vector: the row, its
// first column, the plane, the flat index of its first pixel and how many of its lanes lie
// inside the row.
#define FOR_EACH_INPUT_VECTOR(ih, iw0, p, i, left, ...)                                      \
    FOR_EACH_PIXEL(f_, ih, v_, p, POOL_IN_H, IN_VECTORS, {                                   \
        WITH_STRIP_START(iw0, v_, IN_VECTORS, {                                              \
            const int i = ih * POOL_IN_W + iw0, left = POOL_IN_W - iw0;                      \
            __VA_ARGS__                                                                      \
        })                                                                                   \
    })

// average_gradient for pixels (ih, iw0 … iw0 + POOL_VEC − 1), one input row per work-item:
// each candidate's share is computed once and added to the lanes its window covers.
POOL_INLINE poolF average_gradient_v(__global const float* grad, int ih, int iw0) {
    const poolI iw = iw0 + POOL_LANES;
    const int ohLast = (ih + POOL_PAD_TOP) / POOL_STRIDE_H, ow0 = first_candidate(iw0);
    poolF sum = 0.0f;
#pragma unroll
    for (int a = SPAN_H - 1; a >= 0; --a) {
        const int oh = ohLast - a;
        const poolI rowCovers = (poolI)(covers_row(oh, ih) ? -1 : 0);
        const int ohc = clamp(oh, 0, POOL_OUT_H - 1);
        __global const float* gradRow = grad + ohc * POOL_OUT_W;
        float share[CANDIDATE_SLOTS];
        int column[CANDIDATE_SLOTS];
        // The first POOL_VEC candidates as one vector (a load where they lie inside the row,
        // else a gather of clamped columns) with one vector division for their shares: a
        // scalar load and division per candidate took up to 1.4× the time on PoCL.
        const poolI ow = ow0 + POOL_LANES, owc = clamp(ow, (poolI)(0), (poolI)(POOL_OUT_W - 1));
        poolF g;
        if (ow0 >= 0 && ow0 + POOL_VEC <= POOL_OUT_W) g = POOL_VLOAD(gradRow + ow0);
        else g = POOL_GATHER(gradRow, owc);
        POOL_VSTORE(g / window_divisor_v(ohc, owc), share);
        POOL_VSTORE(ow, column);
#pragma unroll
        for (int c = POOL_VEC; c < CANDIDATES_W; ++c) {
            const int owc = clamp(ow0 + c, 0, POOL_OUT_W - 1);
            share[c] = gradRow[owc] / window_divisor(ohc, owc);
            column[c] = ow0 + c;
        }
#if POOL_VEC % POOL_STRIDE_W == 0
#pragma unroll
        for (int b = SPAN_W - 1; b >= 0; --b) {
            // Lane j's candidate starts at or before its pixel by construction.
            const poolI ow = PICK_CANDIDATES(poolI, column, b);
            const poolI covers = rowCovers & (ow >= 0) & (ow < POOL_OUT_W)
                & (ow * POOL_STRIDE_W - POOL_PAD_LEFT + POOL_WINDOW_W > iw);
            sum += select((poolF)(0.0f), PICK_CANDIDATES(poolF, share, b), covers);
        }
#else
#pragma unroll
        for (int c = 0; c < CANDIDATES_W; ++c) {
            const int ow = column[c], left = window_left(ow);
            const poolI covers = rowCovers & (poolI)(ow >= 0 && ow < POOL_OUT_W ? -1 : 0) & (iw >= left)
                & (iw < left + POOL_WINDOW_W);
            sum += select((poolF)(0.0f), (poolF)(share[c]), covers);
        }
#endif
    }
    return sum;
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void avg_pool_backward_gather(__global const float* dy, __global float* dx) {
    FOR_EACH_INPUT_VECTOR(ih, iw0, p, i, left, {
        const poolF g = average_gradient_v(dy + p * OUT_PLANE, ih, iw0);
        __global float* out = dx + p * IN_PLANE + i;
        if (left >= POOL_VEC) POOL_VSTORE(g, out);
        else POOL_TAIL_STORE(g, out, left)
    })
}
#endif
#else
// dx[p, ih, iw] = Σ dy[p, oh, ow] / divisor(oh, ow) over the outputs whose window covers it.
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void avg_pool_backward_gather(__global const float* dy, __global float* dx) {
    FOR_EACH_PIXEL(i, ih, iw, p, POOL_IN_H, POOL_IN_W, {
        dx[p * IN_PLANE + i] = average_gradient(dy + p * OUT_PLANE, ih, iw);
    })
}
#endif

// Adaptive average pooling, as PyTorch's AdaptiveAvgPool2d: along an axis of inSize pixels
// pooled to outSize cells, cell o averages pixels adaptive_start(o, inSize, outSize) …
// adaptive_end(o, inSize, outSize) − 1, that is ⌊o·inSize/outSize⌋ … ⌈(o+1)·inSize/outSize⌉ − 1.
// Windows overlap and differ in size where outSize does not divide inSize, and outSize > inSize
// is allowed. Pixel i lies in the windows of cells ⌊i·outSize/inSize⌋ … ⌈(i+1)·outSize/inSize⌉ − 1
// (the same bounds with the sizes swapped), which the backward gather walks. The products are
// 64-bit: o·inSize can pass INT_MAX where every tensor is indexable with int.
inline int adaptive_start(int o, int inSize, int outSize) { return (int)((long)o * inSize / outSize); }
inline int adaptive_end(int o, int inSize, int outSize) {
    return (int)(((long)(o + 1) * inSize + outSize - 1) / outSize);
}

__kernel void adaptive_avg_pool_forward(const int planes, const int inH, const int inW,
                                        const int outH, const int outW,
                                        __global const float* x, __global float* y) {
    const int ow = get_global_id(0), oh = get_global_id(1), p = get_global_id(2);
    if (ow >= outW || oh >= outH || p >= planes) return;
    __global const float* plane = x + (size_t)p * inH * inW;
    const int h0 = adaptive_start(oh, inH, outH), h1 = adaptive_end(oh, inH, outH);
    const int w0 = adaptive_start(ow, inW, outW), w1 = adaptive_end(ow, inW, outW);
    float sum = 0.0f;
    for (int ih = h0; ih < h1; ++ih)
        for (int iw = w0; iw < w1; ++iw) sum += plane[ih * inW + iw];
    y[((size_t)p * outH + oh) * outW + ow] = sum / (float)((h1 - h0) * (w1 - w0));
}

// dx[p, ih, iw] = Σ dy[p, oh, ow] / (size of (oh, ow)'s window) over the cells whose window
// holds (ih, iw), in ascending order.
__kernel void adaptive_avg_pool_backward_gather(const int planes, const int inH, const int inW,
                                                const int outH, const int outW,
                                                __global const float* dy, __global float* dx) {
    const int iw = get_global_id(0), ih = get_global_id(1), p = get_global_id(2);
    if (iw >= inW || ih >= inH || p >= planes) return;
    const int oh0 = adaptive_start(ih, outH, inH), oh1 = adaptive_end(ih, outH, inH);
    const int ow0 = adaptive_start(iw, outW, inW), ow1 = adaptive_end(iw, outW, inW);
    __global const float* grad = dy + (size_t)p * outH * outW;
    float sum = 0.0f;
    for (int oh = oh0; oh < oh1; ++oh) {
        const int rows = adaptive_end(oh, inH, outH) - adaptive_start(oh, inH, outH);
        for (int ow = ow0; ow < ow1; ++ow) {
            const int columns = adaptive_end(ow, inW, outW) - adaptive_start(ow, inW, outW);
            sum += grad[oh * outW + ow] / (float)(rows * columns);
        }
    }
    dx[((size_t)p * inH + ih) * inW + iw] = sum;
}

// Global average pooling. Planes of up to a few hundred pixels (ResNet's and GoogLeNet's 7²
// heads: 8×2048 planes of 49) are far too small for a work-group each: on PoCL the 16 K groups'
// start-up and barrier loops cost 6.9 ms for 3 MB. They take the staged kernel below, built for
// one plane size (POOL_GAP_SPATIAL, with POOL_GAP_PLANES planes per group, both set by -D from
// the launcher); larger planes keep one work-group per plane.
#ifndef POOL_GAP_SPATIAL
#define POOL_GAP_SPATIAL 1
#endif
#ifndef POOL_GAP_PLANES
#define POOL_GAP_PLANES POOL_WG
#endif
#if POOL_GAP_PLANES > POOL_WG
#error "POOL_GAP_PLANES must not exceed POOL_WG (one work-item sums each staged plane)"
#endif
#define GAP_TILE (POOL_GAP_PLANES * POOL_GAP_SPATIAL)

// y[p] for POOL_GAP_PLANES consecutive planes per work-group, whose pixels are one contiguous
// run. POOL_VEC 1 (GPUs): the group copies the run into local memory, consecutive work-items
// reading consecutive floats, then work-item l sums plane l from local memory in pixel order
// (plane rows of odd length, 7² = 49, put neighbouring work-items' reads in different banks).
// POOL_VEC > 1 (CPU devices such as PoCL, which run a group's work-items one after another):
// work-item l sums plane l straight from global memory, POOL_VEC-wide vector loads along its
// contiguous run; the staged copy and its barrier cost more there than they save.
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void global_avg_pool_forward_staged(const int planes, __global const float* x, __global float* y) {
    const int first = (int)get_group_id(0) * POOL_GAP_PLANES, lid = get_local_id(0);
    const int count = min(POOL_GAP_PLANES, planes - first);
    __global const float* src = x + (size_t)first * POOL_GAP_SPATIAL;
#if POOL_VEC > 1
    if (lid >= count) return;
    __global const float* plane = src + lid * POOL_GAP_SPATIAL;
    poolF lanes = 0.0f;
#pragma unroll
    for (int i = 0; i < POOL_GAP_SPATIAL / POOL_VEC; ++i) lanes += POOL_VLOAD(plane + i * POOL_VEC);
#if POOL_VEC == 4
    float sum = (lanes.s0 + lanes.s1) + (lanes.s2 + lanes.s3);
#else
    float sum = ((lanes.s0 + lanes.s1) + (lanes.s2 + lanes.s3)) + ((lanes.s4 + lanes.s5) + (lanes.s6 + lanes.s7));
#endif
#pragma unroll
    for (int i = POOL_GAP_SPATIAL / POOL_VEC * POOL_VEC; i < POOL_GAP_SPATIAL; ++i) sum += plane[i];
    y[first + lid] = sum / (float)POOL_GAP_SPATIAL;
#else
    __local float tile[GAP_TILE];
#pragma unroll
    for (int k = 0; k < (GAP_TILE + POOL_WG - 1) / POOL_WG; ++k) {
        const int i = k * POOL_WG + lid;
        if (i < count * POOL_GAP_SPATIAL) tile[i] = src[i];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    if (lid < count) {
        float sum = 0.0f;
#pragma unroll
        for (int i = 0; i < POOL_GAP_SPATIAL; ++i) sum += tile[lid * POOL_GAP_SPATIAL + i];
        y[first + lid] = sum / (float)POOL_GAP_SPATIAL;
    }
#endif
}

// y[p] = mean of the `spatial` pixels of plane p, for large planes; one work-group of POOL_WG
// per plane: work-item l sums pixels l, l + POOL_WG, … (consecutive work-items read
// consecutive pixels), then a tree in local memory adds the POOL_WG partial sums in a fixed
// order.
#if (POOL_WG & (POOL_WG - 1)) != 0
#error "POOL_WG must be a power of two (global_avg_pool_forward's tree halves it)"
#endif
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void global_avg_pool_forward(const int planes, const int spatial,
                             __global const float* x, __global float* y) {
    __local float partial[POOL_WG];
    const int p = get_group_id(0), lid = get_local_id(0);
    __global const float* plane = x + (size_t)p * spatial;
    float sum = 0.0f;
    for (int i = lid; i < spatial; i += POOL_WG) sum += plane[i];
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = POOL_WG / 2; width > 0; width >>= 1) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) y[p] = partial[0] / (float)spatial;
}

// dx[p, i] = dy[p] / POOL_GAP_SPATIAL over the flattened planes: each work-item writes POOL_VEC
// consecutive floats (consecutive work-items the next POOL_VEC, one vector store each), whose
// planes are lane / POOL_GAP_SPATIAL, a division by a constant. A 2-D (pixel, plane) range of
// 49-pixel rows had made PoCL run 16 K tiny work-groups.
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void global_avg_pool_backward(const int planes, __global const float* dy, __global float* dx) {
    const int total = planes * POOL_GAP_SPATIAL;
    const int e = (int)get_global_id(0) * POOL_VEC;
    if (e >= total) return;
#if POOL_VEC > 1 && POOL_GAP_SPATIAL >= POOL_VEC
    // A vector spans at most two planes: lanes from `next` on belong to the second.
    const int plane = e / POOL_GAP_SPATIAL, next = (plane + 1) * POOL_GAP_SPATIAL - e;
    const float a = dy[plane] / (float)POOL_GAP_SPATIAL, b = dy[min(plane + 1, planes - 1)] / (float)POOL_GAP_SPATIAL;
    const poolF v = select((poolF)(a), (poolF)(b), POOL_LANES >= next);
    if (total - e >= POOL_VEC) POOL_VSTORE(v, dx + e);
    else POOL_TAIL_STORE(v, dx + e, total - e)
#elif POOL_VEC > 1
    const poolI plane = min((e + POOL_LANES) / POOL_GAP_SPATIAL, (poolI)(planes - 1));
    const poolF v = POOL_GATHER(dy, plane) / (float)POOL_GAP_SPATIAL;
    if (total - e >= POOL_VEC) POOL_VSTORE(v, dx + e);
    else POOL_TAIL_STORE(v, dx + e, total - e)
#else
    dx[e] = dy[e / POOL_GAP_SPATIAL] / (float)POOL_GAP_SPATIAL;
#endif
}

#if POOL_VEC > 1
// dx[p, i] = dy[p] / POOL_GAP_SPATIAL with one plane per work-item (CPU devices, small planes):
// POOL_VEC-wide stores of one broadcast value along the plane's contiguous run. PoCL runs a
// group's work-items one after another, so a work-item per 8 floats spent more on its own
// start than on its store (0.1–0.2 of copy).
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void global_avg_pool_backward_planes(const int planes, __global const float* dy, __global float* dx) {
    const int p = get_global_id(0);
    if (p >= planes) return;
    const poolF v = (poolF)(dy[p] / (float)POOL_GAP_SPATIAL);
    __global float* plane = dx + (size_t)p * POOL_GAP_SPATIAL;
#pragma unroll
    for (int i = 0; i < POOL_GAP_SPATIAL / POOL_VEC; ++i) POOL_VSTORE(v, plane + i * POOL_VEC);
#pragma unroll
    for (int i = POOL_GAP_SPATIAL / POOL_VEC * POOL_VEC; i < POOL_GAP_SPATIAL; ++i) plane[i] = v.s0;
}
#endif
