#include "pooling.h"
#include "isa_variants.h"
#include "max_pool_3x3_stride1_backward.h"
#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// Outputs of a row are pooled 16 at a time, one output per lane, with the winner a row-major
// scan would pick, so ties and NaN resolve as PyTorch's loop does. Each input row is first
// copied into a padded row (padding filled with a value that never counts: −∞ for max, 0 for
// sums; split into even and odd columns for stride 2), kept in a ring of at least windowH rows
// while the output rows that need it are pooled, so every block reads its taps with plain
// vector loads, also in rows shorter than a vector. Two kinds of small plane skip the ring, whose
// per-row work outweighs their compares: 2×2/2 on planes up to 32 wide (LeNet) and 3×3/2
// padded top-left on rows of fewer than 16 outputs; 3×3/2 pools with padding 0 or 1 and 16
// outputs a row or more (ResNet's stem pool, 112² and 32²) are separable, without the ring
// (max_pool_3x3_stride2.c); so do
// 2×2/2 average pooling with every window in the image and 16 outputs a row or more, and 3×3/1
// max pooling (separable: each row's 3-column maxima shared by the output rows that use them).
// The last block of a row overlaps the one before it rather than leaving a scalar tail. The
// backward passes of average pooling gather (row sums, then column sums; windows that tile
// the image write each share straight to its pixels; 3×3/1 keeping the size sums over the flat
// plane); max pooling's scatters (its gathers
// measured slower, NOTES-memory-bound.md), but 3×3/1's gather in max_pool_3x3_stride1_backward.c.

#define LANES 16
/// Ring slots whose input row is remembered; taller windows copy rows again.
#define RING_MEMORY 64

INLINE long round16(long n) { return (n + LANES - 1) / LANES * LANES; }

/// Floats per padded row: the furthest tap of the last block, plus slack for stride 2's
/// second load.
INLINE long padded_width(const cnn_pool_geometry *g) {
    long outputs = g->outW > LANES ? g->outW : LANES;
    return round16(outputs * g->strideW + g->windowW + LANES);
}

/// Ring slots: windowH rounded up to a power of two, so a row's slot is a mask, not an integer
/// division (one per window row per output row cost as much as the row's compares).
INLINE long ring_slots(const cnn_pool_geometry *g) {
    long slots = 1;
    while (slots < g->windowH) slots *= 2;
    return slots;
}

/// 3×3/1 max pools whose outputs are the size of the padded image less 2 (separable, below).
INLINE int separable_3x3s1_applies(const cnn_pool_geometry *g) {
    return g->windowH == 3 && g->windowW == 3 && g->strideH == 1 && g->strideW == 1 && g->top <= 1 &&
           g->left <= 1 && g->bottom <= 1 && g->right <= 1 && g->outH == g->inH + g->top + g->bottom - 2 &&
           g->outW == g->inW + g->left + g->right - 2;
}

/// Floats per padded row of the separable 3×3/1 max pool (below): the last block's third tap,
/// and the copy's last 16-float chunk.
INLINE long separable_row_width(const cnn_pool_geometry *g) {
    long taps = (g->outW > LANES ? g->outW : LANES) + 2, copy = g->left + round16(g->inW);
    return round16(taps > copy ? taps : copy);
}

/// The padded plane with a −∞ row above and below, then the last plane's outputs and indices when rows are narrower than a
/// vector (max_pool_separable_3x3s1).
INLINE long separable_scratch_floats(const cnn_pool_geometry *g) {
    return separable_3x3s1_applies(g) ? (g->inH + 2) * separable_row_width(g) + 2 * (g->outH * g->outW + LANES) : 0;
}

/// The ring, then (average pooling) every block's divisors; or the 3×3/1 average pools' tables
/// (same_3x3_tables, below), or the separable 3×3/1 max pool's padded plane, or the 3×3/2 max
/// pool's carried row maxima (max_pool_3x3_stride2.c), if larger.
long cnn_pool_scratch_floats(const cnn_pool_geometry *g) {
    long ring = ring_slots(g) * padded_width(g) + g->outH * ((g->outW + LANES - 1) / LANES) * LANES;
    long tables = 2 * (g->inH * g->inW + LANES), plane = separable_scratch_floats(g);
    long most = ring > tables ? ring : tables, stride2 = cnn_max_pool_3x3s2_scratch_floats(g);
    most = most > stride2 ? most : stride2;
    return most > plane ? most : plane;
}

/// Padded rows of stride-2 pools are kept split: the even columns in the first half of the
/// slot, the odd ones in the second, so window column kw of 16 consecutive outputs is one plain
/// load (half kw mod 2, offset kw / 2) instead of two loads and a shuffle per tap. The split
/// is done once per input row (a row serves about 1.5 output rows of a 3×3/2 pool, 3 taps each).
typedef struct {
    float *rows;
    /// The end of the call's input: what lies past it is not prefetched.
    const float *inputEnd;
    long width, slots, held[RING_MEMORY];
    int hasNaN[RING_MEMORY], split;
} row_ring;

/// Fills every slot with `fill`; copies write only the image part, so the padding stays.
INLINE void ring_init(row_ring *r, const cnn_pool_geometry *g, float *scratch, float fill, const float *inputEnd) {
    r->rows = scratch;
    r->inputEnd = inputEnd;
    r->width = padded_width(g);
    r->slots = ring_slots(g);
    r->split = g->strideW == 2;
    for (long j = 0; j < r->slots * r->width; j += LANES) store16(scratch + j, splat16(fill));
    for (long k = 0; k < RING_MEMORY; k++) r->held[k] = -1;
}

/// Copies `n` floats, 16 at a time with the last vector overlapping (n ≥ 16), else one by one;
/// returns whether any of them is NaN.
INLINE int copy_floats(float *dst, const float *src, long n) {
    if (n < LANES) {
        int nan = 0;
        for (long i = 0; i < n; i++) {
            dst[i] = src[i];
            nan |= src[i] != src[i];
        }
        return nan;
    }
    vi16 nan = splat16i(0);
    for (long i = 0; i < n; i += LANES) {
        long j = i + LANES <= n ? i : n - LANES;
        vf16 v = load16(src + j);
        nan |= v != v;
        store16(dst + j, v);
    }
    int any = 0;
    for (int k = 0; k < LANES; k++) any |= nan[k];
    return any != 0;
}

/// Copies input row `src` (n floats) into a split padded row: padded column j = i + left goes
/// to `even`[j / 2] or `odd`[j / 2]. 32 floats at a time (an even start, the last chunk
/// overlapping), each chunk's even and odd elements by one shuffle each; short rows one by one.
/// Returns whether any of them is NaN.
INLINE int copy_split(float *even, float *odd, const float *src, long n, long left) {
    float *halves[2] = {even, odd};
    if (n < 2 * LANES) {
        int nan = 0;
        for (long i = 0; i < n; i++) {
            halves[(i + left) & 1][(i + left) >> 1] = src[i];
            nan |= src[i] != src[i];
        }
        return nan;
    }
    // x[c + 2m] lands in the half of padded column c + left's parity, x[c + 2m + 1] in the other.
    float *first = halves[left & 1], *second = halves[(left + 1) & 1];
    vi16 nan = splat16i(0);
    for (long i = 0; i < n; i += 2 * LANES) {
        long c = i + 2 * LANES <= n ? i : (n - 2 * LANES) & ~1L;
        vf16 a = load16(src + c), b = load16(src + c + LANES);
        nan |= (a != a) | (b != b);
        store16(first + (c + left) / 2, __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                                               28, 30));
        store16(second + (c + left + 1) / 2, __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23,
                                                                    25, 27, 29, 31));
    }
    // An odd n leaves its last element out of the even-start chunks.
    if (n & 1) {
        halves[(n - 1 + left) & 1][(n - 1 + left) >> 1] = src[n - 1];
        nan |= splat16i(src[n - 1] != src[n - 1] ? -1 : 0);
    }
    int any = 0;
    for (int k = 0; k < LANES; k++) any |= nan[k];
    return any != 0;
}

/// Bytes ahead of the row being copied that are asked for early, into L2 (hint 2: the ring
/// and the plane's outputs keep L1). The pools are compute-bound on one core, and with the
/// hardware prefetcher alone the input's misses still stalled them: on planes of 112² this
/// took the 3×3/2 forward with indices to 0.86–0.92× its time and the 2×2/2 forward to
/// 0.69–0.81× (one core, NOTES-memory-bound.md). Rows narrower than PREFETCH_MIN_WIDTH are
/// not prefetched: on 28-, 32- and 56-wide planes it measured 1.04–1.3× slower.
#define PREFETCH_BYTES 6144
#define PREFETCH_MIN_WIDTH 64

/// Asks for the cache lines of `n` floats at `p` (up to `end`) to be brought into L2.
INLINE void prefetch_floats(const float *p, long n, const float *end, int forWriting) {
    if (p >= end) return;
    if (p + n > end) n = end - p;
    for (long j = 0; j < n; j += LANES) {
        if (forWriting) __builtin_prefetch(p + j, 1, 2);
        else __builtin_prefetch(p + j, 0, 2);
    }
}

/// Copies input row `src` into padded ring row `row`, split for stride 2, and prefetches the
/// input PREFETCH_BYTES further on (the rows below, then the next plane's).
INLINE int copy_row(const row_ring *r, const cnn_pool_geometry *g, float *row, const float *src) {
    if (g->inW >= PREFETCH_MIN_WIDTH) prefetch_floats(src + PREFETCH_BYTES / sizeof(float), g->inW, r->inputEnd, 0);
    if (r->split) return copy_split(row, row + r->width / 2, src, g->inW, g->left);
    return copy_floats(row + g->left, src, g->inW);
}

/// Input row `ih` of `plane`, padded: element 0 is the padding's first column. `nan` is set
/// when the row holds a NaN.
INLINE const float *ring_row(row_ring *r, const cnn_pool_geometry *g, const float *plane, long ih, int *nan) {
    long slot = ih & (r->slots - 1);
    float *row = r->rows + slot * r->width;
    if (slot >= RING_MEMORY) {
        *nan |= copy_row(r, g, row, plane + ih * g->inW);
    } else {
        if (r->held[slot] != ih) {
            r->hasNaN[slot] = copy_row(r, g, row, plane + ih * g->inW);
            r->held[slot] = ih;
        }
        *nan |= r->hasNaN[slot];
    }
    return row;
}

/// Lanes k = 0..15 take p[k·s]. Stride 2 is two loads and one shuffle; other strides than 1
/// and 2 are per-lane loads (the constant stride of a specialized caller unrolls them).
INLINE vf16 load_strided(const float *p, long s) {
    if (s == 1) return load16(p);
    if (s == 2)
        return __builtin_shufflevector(load16(p), load16(p + 16), 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
                                       28, 30);
    vf16 v;
    for (int k = 0; k < LANES; k++) v[k] = p[k * s];
    return v;
}

/// Window column kw of the 16 outputs o ..< o + 16 in padded ring row `row` (`width` floats;
/// split when s is 2).
INLINE vf16 row_tap(const float *row, long width, long o, long kw, long s) {
    if (s == 2) return load16(row + (kw & 1) * (width / 2) + o + kw / 2);
    return load_strided(row + o * s + kw, s);
}

INLINE vi16 lane_columns(long s) {
    vi16 v;
    for (int k = 0; k < LANES; k++) v[k] = (int)(k * s);
    return v;
}

/// Stores the first `lanes` lanes.
INLINE void store_lanes(float *dst, vf16 v, long lanes) {
    if (lanes == LANES) store16(dst, v);
    else memcpy(dst, &v, (size_t)lanes * sizeof(float));
}

INLINE void store_lanes_i(int32_t *dst, vi16 v, long lanes) {
    if (lanes == LANES) store16i(dst, v);
    else memcpy(dst, &v, (size_t)lanes * sizeof(int32_t));
}

/// The first output of the block of 16 that covers output `ow`: the last block of a row
/// shifts back to end at the row's end when the row has 16 outputs or more.
INLINE long block_start(long ow, long outW) { return ow + LANES > outW && outW >= LANES ? outW - LANES : ow; }

/// The window rows of output row `oh`, clipped to the image: h0 ..< h1, each padded. Returns
/// whether any of them holds a NaN.
INLINE int window_rows(row_ring *ring, const cnn_pool_geometry *g, const float *x, long oh, long *h0, long *h1,
                       const float **rows) {
    long r0 = oh * g->strideH - g->top;
    int nan = 0;
    *h0 = r0 > 0 ? r0 : 0;
    *h1 = r0 + g->windowH < g->inH ? r0 + g->windowH : g->inH;
    for (long ih = *h0; ih < *h1; ih++) rows[ih - *h0] = ring_row(ring, g, x, ih, &nan);
    return nan;
}

/// `candidate` replaces `best` when strictly larger; with `nanRule` also when it is NaN. Without
/// NaN in the rows one compare suffices (the NaN test made AVX-512 chain two mask compares).
INLINE vi16 max_wins(vf16 candidate, vf16 best, int nanRule) {
    return nanRule ? (candidate > best) | (candidate != candidate) : candidate > best;
}

/// One block of 16 outputs starting at output `o`, of window rows h0 ..< h1: each row's taps
/// reduced left to right, then the rows top to bottom. "The later one wins when strictly
/// larger (or NaN)" is associative, so this two-level order picks the same winner as one
/// row-major scan (the first maximum, or the last NaN), while each output's chain of dependent
/// compares is kwN − 1 + rows − 1 long instead of kwN·rows. The winner's column within the
/// window and its row are tracked as small vectors and made into a flat index once. The taps
/// come from the padded ring rows, or (`taps` not NULL) from registers: kwN per window row.
INLINE void max_block(const float **rows, const vf16 *taps, long width, long h0, long h1, long o, long c0, long inW,
                      long s, long kwN, int track, int nanRule, vi16 laneColumns, vf16 *bestOut, vi16 *winnersOut) {
    vf16 best = splat16(-INFINITY);
    vi16 bestTap = splat16i(0), bestRow = splat16i((int)(h0 * inW));
    for (long ih = h0; ih < h1; ih++) {
        const float *row = taps ? NULL : rows[ih - h0];
        vf16 rowBest = taps ? taps[(ih - h0) * kwN] : row_tap(row, width, o, 0, s);
        vi16 rowTap = splat16i(0);
        for (long kw = 1; kw < kwN; kw++) {
            vf16 v = taps ? taps[(ih - h0) * kwN + kw] : row_tap(row, width, o, kw, s);
            vi16 wins = max_wins(v, rowBest, nanRule);
            rowBest = select16(wins, v, rowBest);
            if (track) rowTap = select16i(wins, splat16i((int)kw), rowTap);
        }
        if (ih == h0) {
            best = rowBest;
            bestTap = rowTap;
            continue;
        }
        vi16 wins = max_wins(rowBest, best, nanRule);
        best = select16(wins, rowBest, best);
        if (track) {
            bestTap = select16i(wins, rowTap, bestTap);
            bestRow = select16i(wins, splat16i((int)(ih * inW)), bestRow);
        }
    }
    *bestOut = best;
    if (!track) return;
    // Nothing above −∞ (and no NaN): the scan keeps the window's first pixel in the image,
    // where the two-level order may have kept a padding column.
    vi16 columns = splat16i((int)c0) + laneColumns;
    vi16 first = select16i(columns > 0, columns, splat16i(0)) + (int)(h0 * inW);
    *winnersOut = select16i(best == splat16(-INFINITY), first, bestRow + columns + bestTap);
}

INLINE void max_pool_plane(const cnn_pool_geometry *g, const float *x, const float *xEnd, float *y, int32_t *indices,
                           int track, long s, long kwN, float *scratch) {
    const long inW = g->inW, outW = g->outW;
    const vi16 laneColumns = lane_columns(s);
    row_ring ring;
    ring_init(&ring, g, scratch, -INFINITY, xEnd);
    const float *rows[g->windowH];
    for (long oh = 0; oh < g->outH; oh++) {
        long h0, h1;
        int nan = window_rows(&ring, g, x, oh, &h0, &h1, rows);
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW), c0 = o * s - g->left;
            vf16 best;
            vi16 winners;
            if (nan) max_block(rows, NULL, ring.width, h0, h1, o, c0, inW, s, kwN, track, 1, laneColumns, &best, &winners);
            else max_block(rows, NULL, ring.width, h0, h1, o, c0, inW, s, kwN, track, 0, laneColumns, &best, &winners);
            long lanes = outW - o < LANES ? outW - o : LANES;
            store_lanes(y + oh * outW + o, best, lanes);
            if (track) store_lanes_i(indices + oh * outW + o, winners, lanes);
        }
    }
}

/// Copies for the common windows (3×3/2 and 2×2/2 in ResNets and VGG, 3×3/1 in GoogLeNet) with
/// the stride and window width as constants: the tap loop unrolls, and the out-of-order core
/// overlaps consecutive blocks, whose compare-and-select chains are otherwise latency-bound.
INLINE void max_pool_plane_specialized(const cnn_pool_geometry *g, const float *x, const float *xEnd, float *y,
                                       int32_t *indices, int track, float *scratch) {
    long s = g->strideW, k = g->windowW;
    if (s == 2 && k == 3) max_pool_plane(g, x, xEnd, y, indices, track, 2, 3, scratch);
    else if (s == 2 && k == 2) max_pool_plane(g, x, xEnd, y, indices, track, 2, 2, scratch);
    else if (s == 1 && k == 3) max_pool_plane(g, x, xEnd, y, indices, track, 1, 3, scratch);
    else if (s == 1) max_pool_plane(g, x, xEnd, y, indices, track, 1, k, scratch);
    else if (s == 2) max_pool_plane(g, x, xEnd, y, indices, track, 2, k, scratch);
    else max_pool_plane(g, x, xEnd, y, indices, track, s, k, scratch);
}

INLINE void max_pool_forward_body(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                                  float *scratch) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    const float *xEnd = x + planes * inPlane;
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * inPlane;
        float *yp = y + p * outPlane;
        int32_t *ip = indices ? indices + p * outPlane : NULL;
        if (ip) max_pool_plane_specialized(g, xp, xEnd, yp, ip, 1, scratch);
        else max_pool_plane_specialized(g, xp, xEnd, yp, NULL, 0, scratch);
    }
}

/// 2×2/2 max pooling of planes at most 32 wide with every window inside the image (LeNet's
/// 28² and 10² planes): each output row is one pair of input rows, loaded straight from the
/// plane (no ring copy) and split into even and odd columns by one shuffle per half, so a row
/// pair of up to 16 outputs is three compare-and-selects in row-major window order (top pair,
/// bottom pair, then the two rows: the same winner as the general path). Consecutive row pairs'
/// outputs are contiguous across planes, so each pair stores 16 lanes and the next pair
/// overwrites the lanes past its row; near the end of the call's outputs (another worker's
/// rows follow) and its inputs (the tensor may end) the stores and loads are partial.
INLINE int small_2x2_applies(const cnn_pool_geometry *g) {
    return g->windowH == 2 && g->windowW == 2 && g->strideH == 2 && g->strideW == 2 && g->top == 0 &&
           g->left == 0 && 2 * g->outW <= g->inW && 2 * g->outH <= g->inH && g->inW <= 2 * LANES;
}

/// 16 floats from p, of which only the first `valid` (≤ 16) are read when p + 16 would pass `end`.
INLINE vf16 load_before(const float *p, const float *end, long valid) {
    if (p + LANES <= end) return load16(p);
    vf16 v = splat16(0);
    memcpy(&v, p, (size_t)valid * sizeof(float));
    return v;
}

/// Lanes k < 16 of the even (odd: `odd` = 1) columns 2k + odd of a row of up to 32 floats.
INLINE vf16 row_columns(const float *row, const float *end, long inW, int wide, int odd) {
    vf16 a = load_before(row, end, inW < LANES ? inW : LANES);
    if (!wide) {
        if (odd) return __builtin_shufflevector(a, a, 1, 3, 5, 7, 9, 11, 13, 15, 1, 3, 5, 7, 9, 11, 13, 15);
        return __builtin_shufflevector(a, a, 0, 2, 4, 6, 8, 10, 12, 14, 0, 2, 4, 6, 8, 10, 12, 14);
    }
    vf16 b = load_before(row + LANES, end, inW - LANES);
    if (odd)
        return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

INLINE void max_pool_small_2x2(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                               int track, int wide, int maskNonPositive) {
    const long inW = g->inW, outW = g->outW, inPlane = g->inH * inW;
    const float *xEnd = x + planes * inPlane;
    float *yEnd = y + planes * g->outH * outW;
    const vi16 columns = lane_columns(2);
    for (long p = 0; p < planes; p++) {
        for (long oh = 0; oh < g->outH; oh++) {
            const float *top = x + p * inPlane + 2 * oh * inW, *bottom = top + inW;
            vf16 topEven = row_columns(top, xEnd, inW, wide, 0), topOdd = row_columns(top, xEnd, inW, wide, 1);
            vf16 bottomEven = row_columns(bottom, xEnd, inW, wide, 0);
            vf16 bottomOdd = row_columns(bottom, xEnd, inW, wide, 1);
            vi16 topWins = max_wins(topOdd, topEven, 1), bottomWins = max_wins(bottomOdd, bottomEven, 1);
            vf16 topBest = select16(topWins, topOdd, topEven), bottomBest = select16(bottomWins, bottomOdd, bottomEven);
            vi16 rowWins = max_wins(bottomBest, topBest, 1);
            vf16 best = select16(rowWins, bottomBest, topBest);
            long lanes = y + LANES <= yEnd ? LANES : outW;
            store_lanes(y, best, lanes);
            if (track) {
                // Winner: column 2k plus 1 where the odd column won, plus a row where the bottom did.
                vi16 column = columns - select16i(rowWins, bottomWins, topWins);
                vi16 winner = column + splat16i((int)(2 * oh * inW)) + (rowWins & splat16i((int)inW));
                if (maskNonPositive) winner = select16i(best > splat16(0), winner, splat16i(-1));
                store_lanes_i(indices, winner, lanes);
                indices += outW;
            }
            y += outW;
        }
    }
}

INLINE void max_pool_small_2x2_body(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices,
                                    long planes, int maskNonPositive) {
    int wide = g->inW > LANES;
    if (indices && maskNonPositive && wide) max_pool_small_2x2(g, x, y, indices, planes, 1, 1, 1);
    else if (indices && maskNonPositive) max_pool_small_2x2(g, x, y, indices, planes, 1, 0, 1);
    else if (indices && wide) max_pool_small_2x2(g, x, y, indices, planes, 1, 1, 0);
    else if (indices) max_pool_small_2x2(g, x, y, indices, planes, 1, 0, 0);
    else if (wide) max_pool_small_2x2(g, x, y, NULL, planes, 0, 1, 0);
    else max_pool_small_2x2(g, x, y, NULL, planes, 0, 0, 0);
}

ISA_VARIANTS(max_pool_small_2x2, max_pool_small_2x2_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes, int mask),
             (g, x, y, indices, planes, mask))

/// 3×3/2 max pooling of planes at most 32 wide padded by one at the top and left, the rows of
/// fewer than 16 outputs (or 31 inputs) that max_pool_3x3_stride2.c leaves (it took ResNet-50's
/// stem pool at 64² input, 32 → 16, from here in 0.50× the time). A row of 16 outputs is one row of the plane, so the
/// ring's copies, bookkeeping and reloads cost more than the compares (one core, 2048 planes
/// of 32² in cache: copies 0.2 ms, stores and ring upkeep 0.19 ms, compares 0.26 ms). Here each
/// window row is loaded straight from the plane as two vectors (lanes past the row's end made
/// −∞, as the ring's padding is), split into even and odd columns by two shuffles, and window
/// column 0 of output k, column 2k − 1, is the odd columns moved up one lane with −∞ in lane 0
/// (the left padding). The taps then go through max_block as the ring's would, so values and
/// indices are the same. 0.56–0.63× the ring's time with AVX-512, 0.68× with AVX2; with SSE2,
/// where each 16-lane shuffle is several, 1.10×, so the baseline build keeps the ring.
INLINE int small_3x3s2_applies(const cnn_pool_geometry *g) {
    return g->windowH == 3 && g->windowW == 3 && g->strideH == 2 && g->strideW == 2 && g->top == 1 && g->left == 1 &&
           g->inW <= 2 * LANES && g->outW <= LANES && cnn_cpu_isa_active() >= CNN_ISA_AVX2;
}

/// Window columns 0, 1 and 2 of the 16 outputs of input row `row` (inW ≤ 32 floats, nothing
/// read at or past `end`); returns whether the row holds a NaN.
INLINE int small_3x3s2_row_taps(const float *row, const float *end, long inW, vf16 *taps) {
    const vf16 none = splat16(-INFINITY);
    const vi16 lanes = lane_columns(1);
    long left = end - row;
    vf16 a = load_before(row, end, left < LANES ? left : LANES);
    vf16 b = inW > LANES ? load_before(row + LANES, end, left - LANES < LANES ? left - LANES : LANES) : none;
    a = select16(lanes < (int)inW, a, none);
    b = select16(lanes + LANES < (int)inW, b, none);
    vf16 odd = __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    taps[0] = __builtin_shufflevector(odd, none, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    taps[1] = __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    taps[2] = odd;
    vi16 nan = (a != a) | (b != b);
    int any = 0;
    for (int k = 0; k < LANES; k++) any |= nan[k];
    return any != 0;
}

INLINE void max_pool_small_3x3s2(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                                 int track) {
    const long inW = g->inW, outW = g->outW, inPlane = g->inH * inW, outPlane = g->outH * outW;
    const float *xEnd = x + planes * inPlane;
    const vi16 laneColumns = lane_columns(2);
    for (long p = 0; p < planes; p++) {
        const float *plane = x + p * inPlane;
        for (long oh = 0; oh < g->outH; oh++) {
            long r0 = 2 * oh - 1, h0 = r0 > 0 ? r0 : 0, h1 = r0 + 3 < g->inH ? r0 + 3 : g->inH;
            vf16 taps[9];
            int nan = 0;
            for (long ih = h0; ih < h1; ih++) nan |= small_3x3s2_row_taps(plane + ih * inW, xEnd, inW, taps + 3 * (ih - h0));
            vf16 best;
            vi16 winners;
            if (nan) max_block(NULL, taps, 0, h0, h1, 0, -1, inW, 2, 3, track, 1, laneColumns, &best, &winners);
            else max_block(NULL, taps, 0, h0, h1, 0, -1, inW, 2, 3, track, 0, laneColumns, &best, &winners);
            store_lanes(y + p * outPlane + oh * outW, best, outW);
            if (track) store_lanes_i(indices + p * outPlane + oh * outW, winners, outW);
        }
    }
}

INLINE void max_pool_small_3x3s2_body(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices,
                                      long planes) {
    if (indices) max_pool_small_3x3s2(g, x, y, indices, planes, 1);
    else max_pool_small_3x3s2(g, x, y, NULL, planes, 0);
}

ISA_VARIANTS(max_pool_small_3x3s2, max_pool_small_3x3s2_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes),
             (g, x, y, indices, planes))

// 3×3/1 max pooling (GoogLeNet's inception pool branches: 28², 14², 7², padding 1), separable.
// The ring path compares nine taps per output; here each input row's 3-column maximum and its
// winning column are found once (three shifted loads of a padded copy of the row) and shared
// by the three output rows that use the row, and of two consecutive output rows, whose windows
// share two input rows, those two rows are combined once: 1.5 row combines per output row
// instead of 2. "The later one wins when strictly larger (or NaN)" is associative, so any
// grouping picks max_block's winner: the first maximum in row-major order, or the last NaN.
// Rows outside the image are −∞, which never wins; a window with nothing above −∞ gets the
// index max_block gives it (its first pixel in the image). The plane is first copied into
// rows padded with −∞ (so the edge blocks, every block of a 28-wide row, load as the middle
// ones do), which also tells whether the plane holds a NaN or −∞: only such a plane needs the NaN
// rule and the −∞ fix-up (a window of −∞ only), so the others skip both (0.88× the instructions
// of the AVX2 build at 28², NOTES-memory-bound.md).

/// Copies input row `src` (n floats) to `dst`, 16 at a time with the lanes past the row made
/// −∞ (the right padding), reading nothing at or past `end`; returns the lanes that are NaN or
/// −∞ in the row.
INLINE vi16 separable_copy_row(float *dst, const float *src, long n, const float *end) {
    const vi16 lanes = lane_columns(1);
    vi16 special = splat16i(0);
    for (long j = 0; j < n; j += LANES) {
        long valid = n - j < LANES ? n - j : LANES;
        vi16 inRow = lanes < (int)valid;
        vf16 v = select16(inRow, load_before(src + j, end, valid), splat16(-INFINITY));
        special |= inRow & ((v != v) | (v == splat16(-INFINITY)));
        store16(dst + j, v);
    }
    return special;
}

/// The 3-column maxima of padded row `row` for the 16 outputs from `o`, and the flat index of
/// each winner (`base` is the row's first pixel index plus each lane's window column 0).
INLINE void separable_row_max(const float *row, long o, vi16 base, int nanRule, int track, vf16 *value,
                              vi16 *index) {
    vf16 t0 = load16(row + o), t1 = load16(row + o + 1), t2 = load16(row + o + 2);
    vi16 wins1 = max_wins(t1, t0, nanRule);
    vf16 best = select16(wins1, t1, t0);
    vi16 wins2 = max_wins(t2, best, nanRule);
    *value = select16(wins2, t2, best);
    if (track) *index = base + select16i(wins2, splat16i(2), wins1 & splat16i(1));
}

/// `later` replaces `*best` where it wins (max_block's rule).
INLINE void separable_combine(vf16 *best, vi16 *index, vf16 later, vi16 laterIndex, int nanRule, int track) {
    vi16 wins = max_wins(later, *best, nanRule);
    *best = select16(wins, later, *best);
    if (track) *index = select16i(wins, laterIndex, *index);
}

/// Stores 16 lanes: in rows narrower than 16 the lanes past the row land in the rows after it,
/// which are stored later (max_pool_separable_3x3s1 gives the call's last plane a staging area).
/// Only a plane holding −∞ (`special`) can have a window whose maximum is −∞, whose index
/// becomes the window's first pixel in the image.
INLINE void separable_store(const cnn_pool_geometry *g, float *y, int32_t *indices, long oh, long o, vf16 best,
                            vi16 index, vi16 first, int special, int track) {
    long h0 = oh - g->top > 0 ? oh - g->top : 0;
    store16(y + oh * g->outW + o, best);
    if (track && special)
        index = select16i(best == splat16(-INFINITY), first + (int)(h0 * g->inW), index);
    if (track) store16i(indices + oh * g->outW + o, index);
}

/// `special`: the plane holds NaN or −∞, so the NaN rule and the −∞ fix-up are needed.
INLINE void separable_plane(const cnn_pool_geometry *g, const float *padded, long width, float *y, int32_t *indices,
                            int special, int track) {
    const int nanRule = special;
    const long inW = g->inW, outH = g->outH, outW = g->outW, top = g->top;
    for (long ow = 0; ow < outW; ow += LANES) {
        long o = block_start(ow, outW);
        vi16 columns = splat16i((int)(o - g->left)) + lane_columns(1);
        vi16 first = select16i(columns > 0, columns, splat16i(0));
// Row r's maxima (rows −1 and inH are −∞: the padding, or no row, which never wins).
#define SEPARABLE_ROW(r, value, index)                                                                             \
    separable_row_max(padded + (r) * width, o, columns + (int)((r) * inW), nanRule, track, &(value), &(index))
        vf16 a, b, c, d;
        vi16 ai, bi, ci, di;
        SEPARABLE_ROW(-top, a, ai);
        SEPARABLE_ROW(1 - top, b, bi);
        long oh = 0;
        for (; oh + 2 <= outH; oh += 2) {
            // Output rows oh and oh + 1 take input rows a b c and b c d.
            SEPARABLE_ROW(oh + 2 - top, c, ci);
            SEPARABLE_ROW(oh + 3 - top, d, di);
            vf16 middle = b;
            vi16 middleIndex = bi;
            separable_combine(&middle, &middleIndex, c, ci, nanRule, track);
            vf16 upper = a;
            vi16 upperIndex = ai;
            separable_combine(&upper, &upperIndex, middle, middleIndex, nanRule, track);
            separable_combine(&middle, &middleIndex, d, di, nanRule, track);
            separable_store(g, y, indices, oh, o, upper, upperIndex, first, special, track);
            separable_store(g, y, indices, oh + 1, o, middle, middleIndex, first, special, track);
            a = c;
            ai = ci;
            b = d;
            bi = di;
        }
        if (oh < outH) {
            SEPARABLE_ROW(oh + 2 - top, c, ci);
            separable_combine(&a, &ai, b, bi, nanRule, track);
            separable_combine(&a, &ai, c, ci, nanRule, track);
            separable_store(g, y, indices, oh, o, a, ai, first, special, track);
        }
#undef SEPARABLE_ROW
    }
}

INLINE void max_pool_separable_3x3s1(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices,
                                     long planes, float *scratch, int track) {
    const long inH = g->inH, inW = g->inW, inPlane = inH * inW, outPlane = g->outH * g->outW;
    const long width = separable_row_width(g);
    const float *xEnd = x + planes * inPlane;
    float *padded = scratch + width, *stage = scratch + (inH + 2) * width;
    int32_t *stageIndices = (int32_t *)(stage + outPlane + LANES);
    // The copies write only each row's image part and the lanes right of it, so the left
    // padding column stays −∞ from here.
    for (long j = 0; j < (inH + 2) * width; j += LANES) store16(scratch + j, splat16(-INFINITY));
    for (long p = 0; p < planes; p++) {
        const float *plane = x + p * inPlane;
        vi16 special = splat16i(0);
        for (long r = 0; r < inH; r++)
            special |= separable_copy_row(padded + r * width + g->left, plane + r * inW, inW, xEnd);
        int any = 0;
        for (int k = 0; k < LANES; k++) any |= special[k];
        // Rows narrower than a vector: a store that would pass the call's outputs (the last
        // row's, in the last plane or two) goes to scratch first, then the plane is copied.
        int staged = g->outW < LANES && (p + 1) * outPlane - g->outW + LANES > planes * outPlane;
        float *yp = staged ? stage : y + p * outPlane;
        int32_t *ip = staged ? stageIndices : track ? indices + p * outPlane : NULL;
        if (any) separable_plane(g, padded, width, yp, ip, 1, track);
        else separable_plane(g, padded, width, yp, ip, 0, track);
        if (staged) {
            memcpy(y + p * outPlane, stage, (size_t)outPlane * sizeof(float));
            if (track) memcpy(indices + p * outPlane, stageIndices, (size_t)outPlane * sizeof(int32_t));
        }
    }
}

INLINE void max_pool_separable_3x3s1_body(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices,
                                          long planes, float *scratch) {
    if (indices) max_pool_separable_3x3s1(g, x, y, indices, planes, scratch, 1);
    else max_pool_separable_3x3s1(g, x, y, NULL, planes, scratch, 0);
}

ISA_VARIANTS(max_pool_separable_3x3s1, max_pool_separable_3x3s1_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes, float *scratch),
             (g, x, y, indices, planes, scratch))

/// Winners of windows whose maximum is not positive (or NaN) become −1: ReLU's backward mask
/// applied through the indices, after the general path (the small-plane path does it in place).
INLINE void mask_non_positive_body(const float *y, int32_t *indices, long count) {
    long i = 0;
    for (; i + LANES <= count; i += LANES)
        store16i(indices + i, select16i(load16(y + i) > splat16(0), load16i(indices + i), splat16i(-1)));
    for (; i < count; i++)
        if (!(y[i] > 0)) indices[i] = -1;
}

ISA_VARIANTS(mask_non_positive, mask_non_positive_body, (const float *y, int32_t *indices, long count),
             (y, indices, count))

ISA_VARIANTS(max_pool_forward, max_pool_forward_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes, float *scratch),
             (g, x, y, indices, planes, scratch))

void cnn_max_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                          float *scratch) {
    if (small_2x2_applies(g)) max_pool_small_2x2_dispatch(g, x, y, indices, planes, 0);
    else if (cnn_max_pool_3x3s2_applies(g)) cnn_max_pool_3x3s2_forward(g, x, y, indices, planes, scratch, 0);
    else if (small_3x3s2_applies(g)) max_pool_small_3x3s2_dispatch(g, x, y, indices, planes);
    else if (separable_3x3s1_applies(g)) max_pool_separable_3x3s1_dispatch(g, x, y, indices, planes, scratch);
    else max_pool_forward_dispatch(g, x, y, indices, planes, scratch);
}

void cnn_max_pool_forward_masking_non_positive(const cnn_pool_geometry *g, const float *x, float *y,
                                               int32_t *indices, long planes, float *scratch) {
    if (small_2x2_applies(g)) {
        max_pool_small_2x2_dispatch(g, x, y, indices, planes, 1);
        return;
    }
    if (cnn_max_pool_3x3s2_applies(g)) {
        cnn_max_pool_3x3s2_forward(g, x, y, indices, planes, scratch, 1);
        return;
    }
    if (small_3x3s2_applies(g)) max_pool_small_3x3s2_dispatch(g, x, y, indices, planes);
    else if (separable_3x3s1_applies(g)) max_pool_separable_3x3s1_dispatch(g, x, y, indices, planes, scratch);
    else max_pool_forward_dispatch(g, x, y, indices, planes, scratch);
    mask_non_positive_dispatch(y, indices, planes * g->outH * g->outW);
}

/// Each window row's taps are summed left to right and the row sums added top to bottom, the
/// order of the scalar loop this replaced, so results did not change by a bit.
/// PyTorch's divisor rows: the window clipped to the padded input, or to the image (h0 ..< h1).
INLINE long average_rows_counted(const cnn_pool_geometry *g, long r0, long imageRows, int includePadding) {
    if (!includePadding) return imageRows;
    return r0 + g->windowH < g->inH + g->bottom ? g->windowH : g->inH + g->bottom - r0;
}

/// The divisors of a block whose lane 0 window starts at column c0, the same clipping in columns.
INLINE vf16 average_divisor(const cnn_pool_geometry *g, long c0, long rowsCounted, int includePadding,
                            vi16 laneColumns) {
    vi16 w0 = splat16i((int)c0) + laneColumns, w1 = w0 + (int)g->windowW;
    vi16 end = splat16i((int)(includePadding ? g->inW + g->right : g->inW));
    vi16 columnsCounted = select16i(w1 < end, w1, end) - (includePadding ? w0 : select16i(w0 > 0, w0, splat16i(0)));
    return __builtin_convertvector(columnsCounted * (int)rowsCounted, vf16);
}

/// Blocks of 16 outputs per output row, as the rows are walked.
INLINE long row_blocks(const cnn_pool_geometry *g) { return (g->outW + LANES - 1) / LANES; }

/// Every block's divisors, row by row: the same for every plane, and their arithmetic (about
/// ten vector operations per block) was as much as the rest of writing a backward pass's
/// shares, or a third of a 3×3/1 forward's sums.
INLINE void average_divisors(const cnn_pool_geometry *g, int includePadding, long s, float *table) {
    const vi16 laneColumns = lane_columns(s);
    for (long oh = 0; oh < g->outH; oh++) {
        long r0 = oh * g->strideH - g->top;
        long h0 = r0 > 0 ? r0 : 0, h1 = r0 + g->windowH < g->inH ? r0 + g->windowH : g->inH;
        long rowsCounted = average_rows_counted(g, r0, h1 - h0, includePadding);
        for (long ow = 0; ow < g->outW; ow += LANES) {
            long o = block_start(ow, g->outW);
            store16(table + (oh * row_blocks(g) + ow / LANES) * LANES,
                    average_divisor(g, o * s - g->left, rowsCounted, includePadding, laneColumns));
        }
    }
}

INLINE void average_pool_plane(const cnn_pool_geometry *g, const float *x, const float *xEnd, float *y, long s,
                               const float *divisors, float *scratch) {
    const long outW = g->outW, blocks = row_blocks(g);
    row_ring ring;
    ring_init(&ring, g, scratch, 0, xEnd);
    const float *rows[g->windowH];
    for (long oh = 0; oh < g->outH; oh++) {
        long h0, h1;
        (void)window_rows(&ring, g, x, oh, &h0, &h1, rows);
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW);
            vf16 sum = splat16(0);
            for (long ih = h0; ih < h1; ih++) {
                vf16 row = row_tap(rows[ih - h0], ring.width, o, 0, s);
                for (long kw = 1; kw < g->windowW; kw++) row += row_tap(rows[ih - h0], ring.width, o, kw, s);
                sum += row;
            }
            long lanes = outW - o < LANES ? outW - o : LANES;
            store_lanes(y + oh * outW + o, sum / load16(divisors + oh * blocks * LANES + ow), lanes);
        }
    }
}

/// Scratch: the ring of padded rows, then the divisors.
/// 3×3 stride-1 pools that keep the plane's size (padding 1 on every side: Inception's and
/// GoogLeNet's pools), as a gather over the flat plane, 16 pixels at a time (no partly filled
/// vector at each row's end): each dx vector is the vertical sum of the three dy rows over it
/// (three loads) plus that sum's left and right neighbours, shifted in from the vertical sums
/// before and after it in registers and masked at the row's ends. Counting the padding every
/// divisor is 9, applied once to the sum; without it a divisor is rows(oh)·cols(ow), so each
/// dy is first scaled by its reciprocal into a copy of the plane with zero rows above and
/// below. The separable gather through dilated share rows and row sums this replaces stored
/// and loaded each pixel three times through scratch (NOTES-memory-bound.md, cavg7).
INLINE int keeps_size_3x3s1(const cnn_pool_geometry *g) {
    return g->windowH == 3 && g->windowW == 3 && g->strideH == 1 && g->strideW == 1 && g->top == 1 && g->left == 1 &&
           g->bottom == 1 && g->right == 1 && g->outH == g->inH && g->outW == g->inW;
}

/// Floats of the scaled plane's copy: the plane, a row and a vector of zeros before it, a row
/// and two vectors after it (the vertical sums of the vector past the plane's last one).
INLINE long same_size_padded_floats(const cnn_pool_geometry *g) { return g->inH * g->inW + 2 * g->inW + 3 * LANES; }

INLINE vf16 vertical_sum(const float *padded, long f, long inW) {
    return load16(padded + f - inW) + load16(padded + f) + load16(padded + f + inW);
}

/// p[from ..< from + 16], the lanes outside the plane's [0, n) zero (the rows above the first
/// and below the last, which no output has); nothing outside it is loaded.
INLINE vf16 load_in_plane(const float *p, long from, long n) {
    vf16 v = splat16(0);
    long lo = from < 0 ? -from : 0, hi = n - from < LANES ? n - from : LANES;
    for (long k = lo; k < hi; k++) v[k] = p[from + k];
    return v;
}

INLINE vf16 vertical_sum_in_plane(const float *src, long f, long inW, long n) {
    return load_in_plane(src, f - inW, n) + load_in_plane(src, f, n) + load_in_plane(src, f + inW, n);
}

/// The vertical sum at f plus its left and right neighbours (lanes of `previous` and `next`
/// shifted in), each masked at its row's end.
INLINE vf16 with_neighbours(vf16 previous, vf16 current, vf16 next, const int32_t *columns, vi16 lastColumn) {
    vf16 left = __builtin_shufflevector(previous, current, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30);
    vf16 right = __builtin_shufflevector(current, next, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    vi16 column = load16i(columns);
    return select16(column > splat16i(0), left, splat16(0)) + current + select16(column < lastColumn, right, splat16(0));
}

/// Without the padding counted: dy scaled into the zero-bordered copy first.
INLINE void average_pool_backward_same_3x3_plane(const cnn_pool_geometry *g, const float *dy, float *dx,
                                                 const float *scales, const int32_t *columns, float *padded) {
    const long inW = g->inW, n = g->inH * inW;
    long f = 0;
    for (; f + LANES <= n; f += LANES) store16(padded + f, load16(dy + f) * load16(scales + f));
    for (; f < n; f++) padded[f] = dy[f] * scales[f];
    const vi16 lastColumn = splat16i((int)inW - 1);
    vf16 previous = splat16(0), current = vertical_sum(padded, 0, inW);
    for (f = 0; f + LANES <= n; f += LANES) {
        vf16 next = vertical_sum(padded, f + LANES, inW);
        store16(dx + f, with_neighbours(previous, current, next, columns + f, lastColumn));
        previous = current;
        current = next;
    }
    if (f < n) store_lanes(dx + f, with_neighbours(previous, current, splat16(0), columns + f, lastColumn), n - f);
}

/// dst = the 3×3 box sums of src (zero outside the plane), times each pixel's `scales` or, when
/// NULL, 1/9: the backward pass counting the padding (src dy) and the forward pass (src x).
/// src is read where it lies: vertical sums in the plane's first and last rows come lane by
/// lane, the rest from plain loads (a copy into a zero-bordered plane was a fifth of the time).
INLINE vf16 times_scales(vf16 sum, const float *scales, long f) {
    return scales ? sum * load16(scales + f) : sum * splat16(1.0f / 9);
}

INLINE void box_sum_3x3_plane(const cnn_pool_geometry *g, const float *src, float *dst, const int32_t *columns,
                              const float *scales) {
    const long inW = g->inW, n = g->inH * inW;
    const vi16 lastColumn = splat16i((int)inW - 1);
    // Vector starts f whose three rows' loads all lie in the plane: inW ≤ f ≤ n − inW − 16.
    const long plainEnd = n - inW - LANES;
    vf16 previous = splat16(0), current = vertical_sum_in_plane(src, 0, inW, n);
    long f = 0;
    for (; f + LANES <= n && (f + LANES < inW || f + LANES > plainEnd); f += LANES) {
        vf16 next = vertical_sum_in_plane(src, f + LANES, inW, n);
        store16(dst + f, times_scales(with_neighbours(previous, current, next, columns + f, lastColumn), scales, f));
        previous = current;
        current = next;
    }
    for (; f + LANES <= plainEnd; f += LANES) {
        vf16 next = vertical_sum(src, f + LANES, inW);
        store16(dst + f, times_scales(with_neighbours(previous, current, next, columns + f, lastColumn), scales, f));
        previous = current;
        current = next;
    }
    for (; f + LANES <= n; f += LANES) {
        vf16 next = vertical_sum_in_plane(src, f + LANES, inW, n);
        store16(dst + f, times_scales(with_neighbours(previous, current, next, columns + f, lastColumn), scales, f));
        previous = current;
        current = next;
    }
    if (f < n) store_lanes(dst + f, times_scales(with_neighbours(previous, current, splat16(0), columns + f, lastColumn), scales, f), n - f);
}

/// Scratch of both passes: each pixel's column and its reciprocal divisor (without the padding
/// counted), each a vector longer than the plane (read past its end), then (backward) the
/// scaled plane with its zeros, which no plane overwrites.
INLINE long same_3x3_tables_floats(const cnn_pool_geometry *g) { return 2 * (g->inH * g->inW + LANES); }

INLINE void same_3x3_tables(const cnn_pool_geometry *g, float *scratch, int32_t **columnsOut, float **scalesOut) {
    const long inH = g->inH, inW = g->inW, n = inH * inW;
    int32_t *columns = (int32_t *)scratch;
    float *scales = (float *)(columns + n + LANES);
    for (long ih = 0; ih < inH; ih++) {
        long rows = (ih + 2 < inH ? ih + 2 : inH) - (ih > 0 ? ih - 1 : 0);
        for (long iw = 0; iw < inW; iw++) {
            long cols = (iw + 2 < inW ? iw + 2 : inW) - (iw > 0 ? iw - 1 : 0);
            scales[ih * inW + iw] = 1.0f / (float)(rows * cols);
            columns[ih * inW + iw] = (int32_t)iw;
        }
    }
    for (long k = n; k < n + LANES; k++) {
        columns[k] = 0;
        scales[k] = 0;
    }
    *columnsOut = columns;
    *scalesOut = scales;
}

INLINE void average_pool_backward_same_3x3(const cnn_pool_geometry *g, const float *dy, float *dx,
                                           int includePadding, long planes, float *scratch) {
    const long n = g->inH * g->inW;
    int32_t *columns;
    float *scales;
    same_3x3_tables(g, scratch, &columns, &scales);
    float *padded = scratch + same_3x3_tables_floats(g);
    if (!includePadding) memset(padded, 0, (size_t)same_size_padded_floats(g) * sizeof(float));
    padded += g->inW + LANES;
    for (long p = 0; p < planes; p++) {
        if (includePadding) box_sum_3x3_plane(g, dy + p * n, dx + p * n, columns, 0);
        else average_pool_backward_same_3x3_plane(g, dy + p * n, dx + p * n, scales, columns, padded);
    }
}

/// The forward pass of the same pools: the box sums of x times 1/9, or without the padding
/// counted each output's reciprocal divisor (the window sums' order changes: within a
/// rounding of the ring's row-major sums).
INLINE void average_pool_forward_same_3x3(const cnn_pool_geometry *g, const float *x, float *y, int includePadding,
                                          long planes, float *scratch) {
    const long n = g->inH * g->inW;
    int32_t *columns;
    float *scales;
    same_3x3_tables(g, scratch, &columns, &scales);
    // Two calls, so that each inlined copy knows whether `scales` is NULL: one run-time choice
    // left a test and a branch in every vector of the box sums.
    if (includePadding)
        for (long p = 0; p < planes; p++) box_sum_3x3_plane(g, x + p * n, y + p * n, columns, 0);
    else
        for (long p = 0; p < planes; p++) box_sum_3x3_plane(g, x + p * n, y + p * n, columns, scales);
}

INLINE void average_pool_forward_body(const cnn_pool_geometry *g, const float *x, float *y, int includePadding,
                                      long planes, float *scratch) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    float *divisors = scratch + ring_slots(g) * padded_width(g);
    average_divisors(g, includePadding, g->strideW, divisors);
    const float *xEnd = x + planes * inPlane;
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * inPlane;
        float *yp = y + p * outPlane;
        switch (g->strideW) {
        case 1: average_pool_plane(g, xp, xEnd, yp, 1, divisors, scratch); break;
        case 2: average_pool_plane(g, xp, xEnd, yp, 2, divisors, scratch); break;
        default: average_pool_plane(g, xp, xEnd, yp, g->strideW, divisors, scratch); break;
        }
    }
}

ISA_VARIANTS(average_pool_forward, average_pool_forward_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long planes, float *scratch),
             (g, x, y, includePadding, planes, scratch))

/// 2×2/2 average pooling whose windows all lie in the image, in rows of 16 outputs or more
/// (DenseNet's transitions, 56² → 28²): each block of 16 outputs loads its 32 columns of both
/// window rows straight from the plane (two vectors a row, never past the row), splits even and
/// odd columns by one shuffle each and sums (0 + (x00 + x01)) + (x10 + x11), the ring's order
/// and divisor (4): the same values without the ring's row copies and split reloads (one core,
/// 8×128×56²: 0.28–0.33× the ring's time with AVX-512, AVX2 and SSE2, NOTES-memory-bound.md,
/// cmem8). Bits too, but for a NaN's sign with SSE2, where the compiler may swap an add's
/// operands and x86 keeps the first one's NaN.
INLINE int average_pairs_direct_applies(const cnn_pool_geometry *g) {
    return g->windowH == 2 && g->windowW == 2 && g->strideH == 2 && g->strideW == 2 && g->top == 0 && g->left == 0 &&
           2 * g->outH <= g->inH && 2 * g->outW <= g->inW && g->outW >= LANES;
}

INLINE vf16 column_pair_sums(const float *row) {
    vf16 a = load16(row), b = load16(row + LANES);
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
           __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

INLINE void average_pool_pairs_direct(const cnn_pool_geometry *g, const float *x, float *y, long planes) {
    const long inW = g->inW, outW = g->outW, inPlane = g->inH * inW, outPlane = g->outH * outW;
    for (long p = 0; p < planes; p++)
        for (long oh = 0; oh < g->outH; oh++)
            for (long ow = 0; ow < outW; ow += LANES) {
                long o = block_start(ow, outW);
                const float *r = x + p * inPlane + 2 * oh * inW + 2 * o;
                vf16 sum = splat16(0) + column_pair_sums(r);
                sum += column_pair_sums(r + inW);
                store16(y + p * outPlane + oh * outW + o, sum / splat16(4));
            }
}

ISA_VARIANTS(average_pool_pairs_direct, average_pool_pairs_direct, (const cnn_pool_geometry *g, const float *x, float *y, long planes),
             (g, x, y, planes))

/// The flat-plane box sums shift 16-lane vectors by one lane, one instruction with AVX-512 but
/// several with AVX2 and SSE2, where they measured 1.2–2.7× slower than the ring and the
/// separable gather (NOTES-memory-bound.md, cavg7): AVX-512 only.
TARGET_AVX512 static void average_pool_forward_same_3x3_avx512(const cnn_pool_geometry *g, const float *x, float *y,
                                                               int includePadding, long planes, float *scratch) {
    average_pool_forward_same_3x3(g, x, y, includePadding, planes, scratch);
}

TARGET_AVX512 static void average_pool_backward_same_3x3_avx512(const cnn_pool_geometry *g, const float *dy, float *dx,
                                                                int includePadding, long planes, float *scratch) {
    average_pool_backward_same_3x3(g, dy, dx, includePadding, planes, scratch);
}

static int flat_box_sums_apply(const cnn_pool_geometry *g) {
    return keeps_size_3x3s1(g) && cnn_cpu_isa_active() == CNN_ISA_AVX512;
}

void cnn_average_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long planes,
                              float *scratch) {
    if (flat_box_sums_apply(g)) average_pool_forward_same_3x3_avx512(g, x, y, includePadding, planes, scratch);
    else if (average_pairs_direct_applies(g)) average_pool_pairs_direct_dispatch(g, x, y, planes);
    else average_pool_forward_dispatch(g, x, y, includePadding, planes, scratch);
}

/// Average pooling's backward pass as a gather. Each output row's shares dy / divisor are
/// written once, dilated by the stride (share ow at position ow·s, zeros between), into a row
/// with `lead` zeros in front. That row at p − kw, summed for kw from the last window column to
/// the first, is what padded column p receives from the output row: the shares of its windows
/// that hold p, in ascending order, the other terms being zeros, which add exactly. Each dx
/// vector then adds the row sums of its covering output rows in registers and is stored once:
/// no zeroing pass, no read-modify-write of dx, no copy out of a padded plane.
INLINE long share_lead(const cnn_pool_geometry *g) { return round16(g->windowW); }

INLINE long share_width(const cnn_pool_geometry *g) {
    long covered = g->outW * g->strideW + g->windowW, image = (g->inW > LANES ? g->inW : LANES) + g->left;
    return share_lead(g) + round16((covered > image ? covered : image) + 2 * LANES);
}

/// Stores the first `lanes` lanes of v at positions (o + k)·s of a dilated row. Stride 2
/// interleaves them with `fill` (what the positions between hold) and writes 32 floats, so
/// lanes past `lanes` become `fill` too. Integer rows go through as float bit patterns.
INLINE void dilated_store(float *row, long o, long s, vf16 v, long lanes, vf16 fill) {
    float *dst = row + o * s;
    if (s == 1) {
        store_lanes(dst, v, lanes);
    } else if (s == 2) {
        v = (vf16)select16i(lane_columns(1) < (int)lanes, (vi16)v, (vi16)fill);
        store16(dst, __builtin_shufflevector(v, fill, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
        store16(dst + LANES, __builtin_shufflevector(v, fill, 8, 16, 9, 17, 10, 18, 11, 19, 12, 20, 13, 21, 14, 22, 15, 23));
    } else {
        for (long k = 0; k < lanes; k++) dst[k * s] = v[k];
    }
}

/// Writes output row oh's shares into its dilated row; positions between them stay zero from
/// the zeroing at the start of the call. `divisors` holds the row's blocks' divisors.
INLINE void average_shares_row(const cnn_pool_geometry *g, const float *dy, long oh, long s, const float *divisors,
                               float *row) {
    const long outW = g->outW;
    for (long ow = 0; ow < outW; ow += LANES) {
        long o = block_start(ow, outW), lanes = outW - o < LANES ? outW - o : LANES;
        vf16 shares = splat16(0);
        if (lanes == LANES) shares = load16(dy + oh * outW + o);
        else memcpy(&shares, dy + oh * outW + o, (size_t)lanes * sizeof(float));
        dilated_store(row, o, s, shares / load16(divisors + ow), lanes, splat16(0));
    }
}

/// The output rows whose window holds input row ih (padded row r: oh·sH ≤ r ≤ oh·sH + kH − 1),
/// first and last, for every ih: the same for every plane, and integer divisions per row
/// cost as much as the row's adds.
INLINE void covering_rows(const cnn_pool_geometry *g, int32_t *first, int32_t *last) {
    for (long ih = 0; ih < g->inH; ih++) {
        long r = ih + g->top, lo = r - g->windowH + 1;
        long ohLo = lo > 0 ? (lo + g->strideH - 1) / g->strideH : 0, ohHi = r / g->strideH;
        first[ih] = (int32_t)ohLo;
        last[ih] = (int32_t)(ohHi < g->outH - 1 ? ohHi : g->outH - 1);
    }
}

/// Floats per row of window-row sums: whole vectors over the image row (at least one).
INLINE long row_sums_width(const cnn_pool_geometry *g) { return round16(g->inW > LANES ? g->inW : LANES); }

/// The row pass: sums[iw] = Σ over window columns kW − 1 … 0 of the dilated share row at
/// iw − kw (`row` points at the image's first column), for `width` pixels: what every input
/// row covered by this output row receives from it.
INLINE void window_row_sums(const float *row, long kW, long width, float *sums) {
    for (long iw = 0; iw < width; iw += LANES) {
        vf16 acc = load16(row + iw - (kW - 1));
        for (long kw = kW - 2; kw >= 0; kw--) acc += load16(row + iw - kw);
        store16(sums + iw, acc);
    }
}

INLINE vf16 column_sum(const float *sums, long count, long width, long iw) {
    vf16 acc = load16(sums + iw);
    for (long j = 1; j < count; j++) acc += load16(sums + j * width + iw);
    return acc;
}

/// The column pass: one dx row of `inW` pixels, the sum of `count` ≥ 1 consecutive output rows'
/// row sums, 16 at a time, the last vector overlapping the one before it (or a short row's
/// only one).
INLINE void column_sum_row(const float *sums, long count, long width, long inW, float *out) {
    long iw = 0;
    for (; iw + LANES <= inW; iw += LANES) store16(out + iw, column_sum(sums, count, width, iw));
    if (iw < inW) {
        long w0 = inW >= LANES ? inW - LANES : 0;
        store_lanes(out + w0, column_sum(sums, count, width, w0), inW - w0);
    }
}

/// Separable: each output row's shares are summed over the window's columns once (the row
/// pass), and each dx row adds the row sums of the output rows that cover it (the column
/// pass). A 3×3/1 pool's pixel costs 3 + 3 loads instead of the 9 of summing the window
/// directly. The terms are the same, grouped by output row: within a rounding of the direct
/// sum, not the same bits.
INLINE void average_pool_backward_plane(const cnn_pool_geometry *g, const float *dy, float *dx, long s, long kW,
                                        float *shareRows, const int32_t *first, const int32_t *last, float *rowSums,
                                        const float *divisors) {
    const long inW = g->inW, width = share_width(g), lead = share_lead(g), sumsWidth = row_sums_width(g);
    const long blocks = row_blocks(g);
    // All share rows first: a row pass right after its row's stores loaded across two of
    // them, which the store queue cannot forward (1.3× the direct sum's time).
    for (long oh = 0; oh < g->outH; oh++)
        average_shares_row(g, dy, oh, s, divisors + oh * blocks * LANES, shareRows + oh * width + lead);
    for (long oh = 0; oh < g->outH; oh++)
        window_row_sums(shareRows + oh * width + lead + g->left, kW, sumsWidth, rowSums + oh * sumsWidth);
    for (long ih = 0; ih < g->inH; ih++) {
        const float *sums = rowSums + first[ih] * sumsWidth;
        long count = last[ih] - first[ih] + 1;
        float *out = dx + ih * inW;
        // A constant row count per copy (1, 2 and 3 cover every row of the 2×2/2, 3×3/1 and
        // 3×3/2 pools) lets the sum unroll: with a run-time count, loop control and spilled
        // counters were most of the row's instructions. A row in no window (a stride longer
        // than the window) gets zeros.
        switch (count) {
        case 1: column_sum_row(sums, 1, sumsWidth, inW, out); break;
        case 2: column_sum_row(sums, 2, sumsWidth, inW, out); break;
        case 3: column_sum_row(sums, 3, sumsWidth, inW, out); break;
        default:
            if (count > 0) column_sum_row(sums, count, sumsWidth, inW, out);
            else memset(out, 0, (size_t)inW * sizeof(float));
            break;
        }
    }
}

/// Windows that tile the image (2×2/2 from the top-left corner, DenseNet's transitions): every
/// input pixel lies in at most one window, so its gradient is that output's share alone, and
/// each share is written straight to its kH × 2 pixels (one lane duplication per 16 outputs)
/// instead of going through dilated rows and the gather's sums. Pixels in no window (the last
/// row or column of an odd size) get zero. The direct gather this replaced returned 0 + share,
/// so the shares get + 0 too (turning −0 into +0): the same bits.
INLINE int tiles_by_pairs(const cnn_pool_geometry *g) {
    return g->windowW == 2 && g->strideW == 2 && g->windowH == g->strideH && g->top == 0 && g->left == 0;
}

INLINE void average_pool_backward_pairs_plane(const cnn_pool_geometry *g, const float *dy, float *dx,
                                              int includePadding, vi16 laneColumns) {
    const long inW = g->inW, outW = g->outW, kH = g->windowH;
    const long covered = 2 * outW < inW ? 2 * outW : inW;
    const int inversesExact = ((2 * kH) & (2 * kH - 1)) == 0;
    const vf16 inverse = splat16(1.0f / (float)(2 * kH));
    for (long oh = 0; oh < g->outH; oh++) {
        long r0 = oh * kH, r1 = r0 + kH < g->inH ? r0 + kH : g->inH;
        long rowsCounted = average_rows_counted(g, r0, r1 - r0, includePadding);
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW), lanes = outW - o < LANES ? outW - o : LANES;
            vf16 shares = splat16(0);
            if (lanes == LANES) shares = load16(dy + oh * outW + o);
            else memcpy(&shares, dy + oh * outW + o, (size_t)lanes * sizeof(float));
            // A window wholly in the image divides by 2·kH; when that is a power of two the
            // multiplication by its inverse rounds the same exact quotient, and a division per
            // 16 outputs (with the divisors' arithmetic) was a sixth of the time.
            if (lanes == LANES && 2 * o + 2 * LANES <= inW && rowsCounted == kH && inversesExact)
                shares = shares * inverse;
            else
                shares = shares / average_divisor(g, 2 * o, rowsCounted, includePadding, laneColumns);
            shares += splat16(0);
            vf16 low = __builtin_shufflevector(shares, shares, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            vf16 high = __builtin_shufflevector(shares, shares, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
            // Lanes past the row's outputs hold junk and are not stored.
            long n = covered - 2 * o;
            for (long ih = r0; ih < r1; ih++) {
                float *out = dx + ih * inW + 2 * o;
                if (n >= 2 * LANES) {
                    store16(out, low);
                    store16(out + LANES, high);
                } else {
                    store_lanes(out, low, n < LANES ? n : LANES);
                    if (n > LANES) store_lanes(out + LANES, high, n - LANES);
                }
            }
        }
        for (long ih = r0; ih < r1; ih++)
            for (long iw = covered; iw < inW; iw++) dx[ih * inW + iw] = 0;
    }
    long coveredRows = g->outH * kH;
    if (coveredRows < g->inH) memset(dx + coveredRows * inW, 0, (size_t)((g->inH - coveredRows) * inW) * sizeof(float));
}

/// Scratch: the dilated share rows, the covering rows' bounds, the row sums, then the
/// divisors. The common windows (2×2/2 with padding, 3×3/1, 3×3/2) get a constant stride and
/// width, so the tap loop unrolls.
INLINE void average_pool_backward_body(const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding,
                                       long planes, float *shareRows) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW, width = share_width(g), s = g->strideW;
    long k = g->windowW;
    if (tiles_by_pairs(g)) {
        const vi16 laneColumns = lane_columns(2);
        for (long p = 0; p < planes; p++)
            average_pool_backward_pairs_plane(g, dy + p * outPlane, dx + p * inPlane, includePadding, laneColumns);
        return;
    }
    int32_t *first = (int32_t *)(shareRows + g->outH * width), *last = first + g->inH;
    float *sums = (float *)(last + g->inH), *divisors = sums + g->outH * row_sums_width(g);
    covering_rows(g, first, last);
    average_divisors(g, includePadding, s, divisors);
    for (long j = 0; j < g->outH * width; j += LANES) store16(shareRows + j, splat16(0));
    for (long p = 0; p < planes; p++) {
        const float *d = dy + p * outPlane;
        float *x = dx + p * inPlane;
        if (s == 2 && k == 2) average_pool_backward_plane(g, d, x, 2, 2, shareRows, first, last, sums, divisors);
        else if (s == 1 && k == 3) average_pool_backward_plane(g, d, x, 1, 3, shareRows, first, last, sums, divisors);
        else if (s == 2 && k == 3) average_pool_backward_plane(g, d, x, 2, 3, shareRows, first, last, sums, divisors);
        else if (s == 1) average_pool_backward_plane(g, d, x, 1, k, shareRows, first, last, sums, divisors);
        else if (s == 2) average_pool_backward_plane(g, d, x, 2, k, shareRows, first, last, sums, divisors);
        else average_pool_backward_plane(g, d, x, s, k, shareRows, first, last, sums, divisors);
    }
}

ISA_VARIANTS(average_pool_backward, average_pool_backward_body,
             (const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding, long planes, float *rows),
             (g, dy, dx, includePadding, planes, rows))

long cnn_average_pool_backward_scratch_floats(const cnn_pool_geometry *g) {
    long gather = g->outH * share_width(g) + 2 * g->inH + g->outH * row_sums_width(g) + g->outH * row_blocks(g) * LANES;
    long flat = keeps_size_3x3s1(g) ? same_3x3_tables_floats(g) + same_size_padded_floats(g) : 0;
    return gather > flat ? gather : flat;
}

/// 2×2/2 pools whose windows tile the whole plane (inW = 2·outW, inH = 2·outH) with rows of
/// 32 to 64 pixels, a multiple of 8 (DenseNet's 56² transition), on AVX-512: the two dx rows of
/// output row oh are 2·inW consecutive floats, a whole number of 16-float chunks, so planes and
/// row pairs follow each other with no gap and every chunk is one two-source permute
/// (`vpermt2ps`) of the output row's two share vectors (its first 16 and last 16 outputs) and
/// one store; with 64-byte-aligned tensors every store is aligned. The pairs path stores 16
/// outputs' duplicated shares per dx row, which for 56-wide rows splits every other row's
/// stores across cache lines and overlaps the row's second block (NOTES-memory-bound.md,
/// cmem4, cpool7, cmem8). Shares are dy · 1/4 + 0, as there: the same bits.
INLINE int pairs_flat_applies(const cnn_pool_geometry *g) {
    return tiles_by_pairs(g) && g->windowH == 2 && g->inW == 2 * g->outW && g->inH == 2 * g->outH &&
           g->inW % 8 == 0 && g->inW >= 2 * LANES && g->inW <= 4 * LANES;
}

#if defined(__x86_64__) || defined(__i386__)
TARGET_AVX512 static void average_pool_backward_pairs_flat_avx512(const cnn_pool_geometry *g, const float *dy,
                                                                 float *dx, long planes) {
    const long inW = g->inW, outW = g->outW, chunks = inW / 8, rows = planes * g->outH;
    // Chunk c's lane k is dx column (16c + k) mod inW of the row pair, output (that column) / 2:
    // lane j of the first share vector, or 16 + j − (outW − 16) of the second.
    __m512i index[8];
    for (long c = 0; c < chunks; c++) {
        int32_t lanes[LANES];
        for (long k = 0; k < LANES; k++) {
            long ow = (16 * c + k) % inW / 2;
            lanes[k] = (int32_t)(ow < LANES ? ow : ow - (outW - LANES) + LANES);
        }
        index[c] = _mm512_loadu_si512(lanes);
    }
    const __m512 quarter = _mm512_set1_ps(0.25f), zero = _mm512_setzero_ps();
    for (long r = 0; r < rows; r++) {
        const float *d = dy + r * outW;
        __m512 first = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(d), quarter), zero);
        __m512 last = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(d + outW - LANES), quarter), zero);
        float *out = dx + r * 2 * inW;
        for (long c = 0; c < chunks; c++) _mm512_storeu_ps(out + LANES * c, _mm512_permutex2var_ps(first, index[c], last));
    }
}
#endif

void cnn_average_pool_backward(const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding,
                               long planes, float *scratch) {
    if (flat_box_sums_apply(g)) {
        average_pool_backward_same_3x3_avx512(g, dy, dx, includePadding, planes, scratch);
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    if (pairs_flat_applies(g) && cnn_cpu_isa_active() == CNN_ISA_AVX512) {
        average_pool_backward_pairs_flat_avx512(g, dy, dx, planes);
        return;
    }
#endif
    average_pool_backward_dispatch(g, dy, dx, includePadding, planes, scratch);
}

/// 2×2/2 backward on the small planes of the forward path above: windows do not overlap, so
/// each input pixel takes the gradient of the one output whose window holds it when it is that
/// output's winner, else 0. Each row pair is written once from registers (each output's
/// gradient and winner duplicated into the two columns of its window, compared with the
/// pixels' positions), with no zeroing pass and no scalar scatter, whose branch on the winner
/// mispredicted once ReLU's mask (winner −1) made half the windows skip. Rows are stored 16
/// lanes at a time over the next row's start, partial near the end of the call's planes.
INLINE vi16 load_before_i(const int32_t *p, const int32_t *end, long valid) {
    if (p + LANES <= end) return load16i(p);
    vi16 v = splat16i(-1);
    memcpy(&v, p, (size_t)valid * sizeof(int32_t));
    return v;
}

/// Stores row `row` (n ≤ 32 floats) as two vectors, lanes past n spilling over what follows
/// unless that passes `end`.
INLINE void store_row(float *row, const float *end, vf16 a, vf16 b, long n, int wide) {
    store_lanes(row, a, row + LANES <= end ? LANES : (n < LANES ? n : LANES));
    if (wide) store_lanes(row + LANES, b, row + 2 * LANES <= end ? LANES : n - LANES);
}

INLINE void max_pool_backward_small_2x2(const cnn_pool_geometry *g, const float *dy, const int32_t *indices,
                                        float *dx, long planes, int wide) {
    const long inW = g->inW, outW = g->outW, inPlane = g->inH * inW, outPlane = g->outH * outW;
    const float *dyEnd = dy + planes * outPlane;
    const int32_t *indicesEnd = indices + planes * outPlane;
    const float *dxEnd = dx + planes * inPlane;
    const vi16 lanes = lane_columns(1);
    // Columns past the last window (odd widths) get 0 whatever the duplicated lanes hold.
    const vi16 inWindowLo = lanes < (int)(2 * outW), inWindowHi = lanes + LANES < (int)(2 * outW);
    for (long p = 0; p < planes; p++) {
        float *plane = dx + p * inPlane;
        for (long oh = 0; oh < g->outH; oh++) {
            const long o = p * outPlane + oh * outW;
            vf16 d = load_before(dy + o, dyEnd, outW);
            vi16 w = load_before_i(indices + o, indicesEnd, outW);
            vf16 dLo = __builtin_shufflevector(d, d, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            vi16 wLo = __builtin_shufflevector(w, w, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
            vf16 dHi = __builtin_shufflevector(d, d, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
            vi16 wHi = __builtin_shufflevector(w, w, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
            for (long r = 0; r < 2; r++) {
                const long ih = 2 * oh + r;
                vi16 position = lanes + (int)(ih * inW);
                vf16 lo = (vf16)((vi16)dLo & ((wLo == position) & inWindowLo));
                vf16 hi = (vf16)((vi16)dHi & ((wHi == position + LANES) & inWindowHi));
                store_row(plane + ih * inW, dxEnd, lo, hi, inW, wide);
            }
        }
        // An odd height's last row lies in no window.
        if (g->inH > 2 * g->outH) memset(plane + 2 * g->outH * inW, 0, (size_t)(g->inH - 2 * g->outH) * inW * sizeof(float));
    }
}

INLINE void max_pool_backward_small_2x2_body(const cnn_pool_geometry *g, const float *dy, const int32_t *indices,
                                             float *dx, long planes) {
    if (g->inW > LANES) max_pool_backward_small_2x2(g, dy, indices, dx, planes, 1);
    else max_pool_backward_small_2x2(g, dy, indices, dx, planes, 0);
}

ISA_VARIANTS(max_pool_backward_small_2x2, max_pool_backward_small_2x2_body,
             (const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx, long planes),
             (g, dy, indices, dx, planes))

int cnn_max_pool_small_2x2_applies(const cnn_pool_geometry *g) { return small_2x2_applies(g); }

void cnn_max_pool_backward_small_2x2(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                                     long planes) {
    max_pool_backward_small_2x2_dispatch(g, dy, indices, dx, planes);
}

/// A scatter: outputs whose windows overlap may share a winner, so the adds stay scalar; the
/// plane is small enough to stay in L2 between the zeroing and the adds. Outputs ow and ow + k
/// of a row overlap when k·strideW < windowW: added one right after the other, the second's load
/// of a pixel the first has just stored waits for that store, or runs ahead of it and is
/// replayed. So each output row is scattered in `step` = ⌈windowW / strideW⌉ passes (ow ≡ j
/// mod step), and consecutive adds fall in windows that do not overlap: 0.81× the time of one
/// pass in output order (3×3/2, AVX-512, one core, NOTES-memory-bound.md). A pixel that wins two
/// windows of one row still gets exactly 0 + a + b; one that wins three or four windows gets
/// the same terms grouped in another order (within a rounding, and the same every run).
///
/// The scalar adds keep the core busy, so the memory they need is asked for early: each output
/// row prefetches the gradients and winners PREFETCH_BYTES ahead, and the stretch of the next
/// dx plane that keeps pace with it (for writing: the plane is zeroed next): 0.59–0.92× the
/// time of the 3×3/2 backward on 512 planes of 112² (one core, NOTES-memory-bound.md); planes
/// narrower than PREFETCH_MIN_WIDTH, whose data the caches hold, go without.
INLINE void max_pool_backward_planes(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                                     long planes, long step) {
    const long inPlane = g->inH * g->inW, outW = g->outW, outPlane = g->outH * outW;
    const float *dyEnd = dy + planes * outPlane, *dxEnd = dx + planes * inPlane;
    const int32_t *indicesEnd = indices + planes * outPlane;
    const long ahead = PREFETCH_BYTES / sizeof(float);
    // Floats of the next dx plane per output row: the whole plane over the outH rows.
    const long dxPerRow = (inPlane + g->outH - 1) / g->outH;
    const int prefetch = g->inW >= PREFETCH_MIN_WIDTH;
    for (long p = 0; p < planes; p++) {
        float *plane = dx + p * inPlane;
        const float *gradient = dy + p * outPlane;
        const int32_t *winners = indices + p * outPlane;
        memset(plane, 0, (size_t)inPlane * sizeof(float));
        for (long oh = 0, row = 0; row < outPlane; oh++, row += outW) {
            if (prefetch) {
                prefetch_floats(gradient + row + ahead, outW, dyEnd, 0);
                prefetch_floats((const float *)(winners + row + ahead), outW, (const float *)indicesEnd, 0);
                prefetch_floats(plane + inPlane + oh * dxPerRow, dxPerRow, dxEnd, 1);
            }
            for (long j = 0; j < step; j++)
                for (long o = row + j; o < row + outW; o += step) {
                    int32_t i = winners[o];
                    // A corrupt index must not write outside the plane (−1, ReLU's mask, skips).
                    if ((uint32_t)i < (uint32_t)inPlane) plane[i] += gradient[o];
                }
        }
    }
}

/// The common steps as constants (1: windows that tile, 2: 3×3/2, 3: 3×3/1), so the passes'
/// loops compile to fixed strides.
INLINE void max_pool_backward_body(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                                   long planes) {
    const long step = (g->windowW + g->strideW - 1) / g->strideW;
    if (step == 1) max_pool_backward_planes(g, dy, indices, dx, planes, 1);
    else if (step == 2) max_pool_backward_planes(g, dy, indices, dx, planes, 2);
    else if (step == 3) max_pool_backward_planes(g, dy, indices, dx, planes, 3);
    else max_pool_backward_planes(g, dy, indices, dx, planes, step);
}

ISA_VARIANTS(max_pool_backward, max_pool_backward_body,
             (const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx, long planes),
             (g, dy, indices, dx, planes))

void cnn_max_pool_backward(const cnn_pool_geometry *g, const float *dy, const int32_t *indices, float *dx,
                           long planes) {
    if (!cnn_max_pool_backward_3x3s1(g, dy, indices, dx, planes)) max_pool_backward_dispatch(g, dy, indices, dx, planes);
}
