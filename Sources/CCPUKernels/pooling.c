#include "pooling.h"
#include "isa_variants.h"
#include <math.h>

// Outputs of a row are pooled 16 at a time, one output per lane, the window taps in row-major
// order as a scalar scan would take them, so ties and NaN resolve as PyTorch's loop does. Each
// input row is first copied into a padded row (padding filled with a value that never counts:
// −∞ for max, 0 for sums), kept in a ring of windowH rows while the output rows that need it
// are pooled, so every block reads its taps with plain vector loads, also in rows shorter than
// a vector (ResNet-50's pool at 64² input: 32 → 16). The last block of a row overlaps the one
// before it rather than leaving a scalar tail.

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

long cnn_pool_scratch_floats(const cnn_pool_geometry *g) { return g->windowH * padded_width(g); }

typedef struct {
    float *rows;
    long width, slots, held[RING_MEMORY];
    int hasNaN[RING_MEMORY];
} row_ring;

/// Fills every slot with `fill`; copies write only the image part, so the padding stays.
INLINE void ring_init(row_ring *r, const cnn_pool_geometry *g, float *scratch, float fill) {
    r->rows = scratch;
    r->width = padded_width(g);
    r->slots = g->windowH;
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

/// Input row `ih` of `plane`, padded: element 0 is the padding's first column. `nan` is set
/// when the row holds a NaN.
INLINE const float *ring_row(row_ring *r, const cnn_pool_geometry *g, const float *plane, long ih, int *nan) {
    long slot = ih % r->slots;
    float *row = r->rows + slot * r->width;
    if (slot >= RING_MEMORY) {
        *nan |= copy_floats(row + g->left, plane + ih * g->inW, g->inW);
    } else {
        if (r->held[slot] != ih) {
            r->hasNaN[slot] = copy_floats(row + g->left, plane + ih * g->inW, g->inW);
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

/// One block of 16 outputs starting at output `o`, of window rows h0 ..< h1. Without NaN in
/// the rows (`nanRule` 0) a tap wins when strictly larger: one compare per tap, where the NaN
/// test made AVX-512 chain two dependent mask compares.
INLINE void max_block(const float **rows, long h0, long h1, long o, long c0, long inW, long s, long kwN, int track,
                      int nanRule, vi16 laneColumns, vf16 *bestOut, vi16 *winnersOut) {
    vf16 best = splat16(-INFINITY);
    // Before any tap wins, each output's index is its window's first pixel in the image.
    vi16 columns = splat16i((int)c0) + laneColumns;
    vi16 winners = select16i(columns > 0, columns, splat16i(0)) + (int)(h0 * inW);
    for (long ih = h0; ih < h1; ih++) {
        const float *p = rows[ih - h0] + o * s;
        for (long kw = 0; kw < kwN; kw++) {
            vf16 v = load_strided(p + kw, s);
            vi16 wins = nanRule ? (v > best) | (v != v) : v > best;
            best = select16(wins, v, best);
            if (track) winners = select16i(wins, splat16i((int)(ih * inW + c0 + kw)) + laneColumns, winners);
        }
    }
    *bestOut = best;
    *winnersOut = winners;
}

INLINE void max_pool_plane(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, int track, long s,
                           long kwN, float *scratch) {
    const long inW = g->inW, outW = g->outW;
    const vi16 laneColumns = lane_columns(s);
    row_ring ring;
    ring_init(&ring, g, scratch, -INFINITY);
    const float *rows[g->windowH];
    for (long oh = 0; oh < g->outH; oh++) {
        long h0, h1;
        int nan = window_rows(&ring, g, x, oh, &h0, &h1, rows);
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW), c0 = o * s - g->left;
            vf16 best;
            vi16 winners;
            if (nan) max_block(rows, h0, h1, o, c0, inW, s, kwN, track, 1, laneColumns, &best, &winners);
            else max_block(rows, h0, h1, o, c0, inW, s, kwN, track, 0, laneColumns, &best, &winners);
            long lanes = outW - o < LANES ? outW - o : LANES;
            store_lanes(y + oh * outW + o, best, lanes);
            if (track) store_lanes_i(indices + oh * outW + o, winners, lanes);
        }
    }
}

/// Copies for the common windows (3×3/2 and 2×2/2 in ResNets and VGG, 3×3/1 in GoogLeNet) with
/// the stride and window width as constants: the tap loop unrolls, and the out-of-order core
/// overlaps consecutive blocks, whose compare-and-select chains are otherwise latency-bound.
INLINE void max_pool_plane_specialized(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices,
                                       int track, float *scratch) {
    long s = g->strideW, k = g->windowW;
    if (s == 2 && k == 3) max_pool_plane(g, x, y, indices, track, 2, 3, scratch);
    else if (s == 2 && k == 2) max_pool_plane(g, x, y, indices, track, 2, 2, scratch);
    else if (s == 1 && k == 3) max_pool_plane(g, x, y, indices, track, 1, 3, scratch);
    else if (s == 1) max_pool_plane(g, x, y, indices, track, 1, k, scratch);
    else if (s == 2) max_pool_plane(g, x, y, indices, track, 2, k, scratch);
    else max_pool_plane(g, x, y, indices, track, s, k, scratch);
}

INLINE void max_pool_forward_body(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                                  float *scratch) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * inPlane;
        float *yp = y + p * outPlane;
        int32_t *ip = indices ? indices + p * outPlane : NULL;
        if (ip) max_pool_plane_specialized(g, xp, yp, ip, 1, scratch);
        else max_pool_plane_specialized(g, xp, yp, NULL, 0, scratch);
    }
}

ISA_VARIANTS(max_pool_forward, max_pool_forward_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes, float *scratch),
             (g, x, y, indices, planes, scratch))

void cnn_max_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                          float *scratch) {
    max_pool_forward_dispatch(g, x, y, indices, planes, scratch);
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

INLINE void average_pool_plane(const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long s,
                               float *scratch) {
    const long outW = g->outW;
    const vi16 laneColumns = lane_columns(s);
    row_ring ring;
    ring_init(&ring, g, scratch, 0);
    const float *rows[g->windowH];
    for (long oh = 0; oh < g->outH; oh++) {
        long h0, h1, r0 = oh * g->strideH - g->top;
        (void)window_rows(&ring, g, x, oh, &h0, &h1, rows);
        long rowsCounted = average_rows_counted(g, r0, h1 - h0, includePadding);
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW), c0 = o * s - g->left;
            vf16 sum = splat16(0);
            for (long ih = h0; ih < h1; ih++) {
                const float *p = rows[ih - h0] + o * s;
                vf16 row = load_strided(p, s);
                for (long kw = 1; kw < g->windowW; kw++) row += load_strided(p + kw, s);
                sum += row;
            }
            vf16 divisor = average_divisor(g, c0, rowsCounted, includePadding, laneColumns);
            long lanes = outW - o < LANES ? outW - o : LANES;
            store_lanes(y + oh * outW + o, sum / divisor, lanes);
        }
    }
}

INLINE void average_pool_forward_body(const cnn_pool_geometry *g, const float *x, float *y, int includePadding,
                                      long planes, float *scratch) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * inPlane;
        float *yp = y + p * outPlane;
        switch (g->strideW) {
        case 1: average_pool_plane(g, xp, yp, includePadding, 1, scratch); break;
        case 2: average_pool_plane(g, xp, yp, includePadding, 2, scratch); break;
        default: average_pool_plane(g, xp, yp, includePadding, g->strideW, scratch); break;
        }
    }
}

ISA_VARIANTS(average_pool_forward, average_pool_forward_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long planes, float *scratch),
             (g, x, y, includePadding, planes, scratch))

void cnn_average_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long planes,
                              float *scratch) {
    average_pool_forward_dispatch(g, x, y, includePadding, planes, scratch);
}

/// Average pooling's backward pass as a scatter into horizontally padded rows: output row by
/// output row (ascending), each block's shares dy / divisor are added to the window rows'
/// padded accumulators one window column at a time, the last column first, so every input
/// pixel receives its outputs' shares in ascending output order (the order of the OpenCL
/// gather). Stride 2 adds the shares interleaved with zeros. The padded rows' image part is
/// then copied to dx.
INLINE void average_pool_backward_plane(const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding,
                                        long s, float *rows) {
    const long outW = g->outW, width = padded_width(g);
    const vi16 laneColumns = lane_columns(s), lane = lane_columns(1);
    for (long j = 0; j < g->inH * width; j += LANES) store16(rows + j, splat16(0));
    for (long oh = 0; oh < g->outH; oh++) {
        long r0 = oh * g->strideH - g->top;
        long h0 = r0 > 0 ? r0 : 0, h1 = r0 + g->windowH < g->inH ? r0 + g->windowH : g->inH;
        long rowsCounted = average_rows_counted(g, r0, h1 - h0, includePadding);
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW), c0 = o * s - g->left;
            // Lanes before `ow` were added by the previous (overlapped) block; lanes past the
            // row's end do not exist: both add zero.
            vf16 shares = splat16(0);
            memcpy(&shares, dy + oh * outW + o, (size_t)(outW - o < LANES ? outW - o : LANES) * sizeof(float));
            vi16 live = (lane >= (int)(ow - o)) & (lane < (int)(outW - o));
            shares = select16(live, shares / average_divisor(g, c0, rowsCounted, includePadding, laneColumns), splat16(0));
            // Strides 1 and 2 with windows up to 16 wide: the block's shares (interleaved with
            // zeros for stride 2) sit between 16 zeros on each side in `spread`, so column kw's
            // contribution to accumulator vector i is one load at 16 + 16·i − kw. Each row is
            // then read and written once per block; a read-modify-write per column made each
            // load wait for the overlapping store before it.
            if ((s == 1 || s == 2) && g->windowW <= LANES) {
                float spread[LANES * 4];
                store16(spread, splat16(0));
                store16(spread + LANES * (s + 1), splat16(0));
                if (s == 1) {
                    store16(spread + LANES, shares);
                } else {
                    vf16 zero = splat16(0);
                    store16(spread + LANES, __builtin_shufflevector(shares, zero, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21,
                                                                    6, 22, 7, 23));
                    store16(spread + 2 * LANES, __builtin_shufflevector(shares, zero, 8, 16, 9, 17, 10, 18, 11, 19, 12,
                                                                        20, 13, 21, 14, 22, 15, 23));
                }
                for (long ih = h0; ih < h1; ih++) {
                    float *p = rows + ih * width + o * s;
                    vf16 acc[3];
                    for (long i = 0; i <= s; i++) acc[i] = load16(p + i * LANES);
                    for (long kw = g->windowW - 1; kw >= 0; kw--)
                        for (long i = 0; i <= s; i++) acc[i] += load16(spread + LANES + i * LANES - kw);
                    for (long i = 0; i <= s; i++) store16(p + i * LANES, acc[i]);
                }
                continue;
            }
            for (long ih = h0; ih < h1; ih++) {
                float *p = rows + ih * width + o * s;
                for (long kw = g->windowW - 1; kw >= 0; kw--)
                    for (int k = 0; k < LANES; k++) p[kw + k * s] += shares[k];
            }
        }
    }
    for (long ih = 0; ih < g->inH; ih++) copy_floats(dx + ih * g->inW, rows + ih * width + g->left, g->inW);
}

INLINE void average_pool_backward_body(const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding,
                                       long planes, float *rows) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    for (long p = 0; p < planes; p++) {
        switch (g->strideW) {
        case 1: average_pool_backward_plane(g, dy + p * outPlane, dx + p * inPlane, includePadding, 1, rows); break;
        case 2: average_pool_backward_plane(g, dy + p * outPlane, dx + p * inPlane, includePadding, 2, rows); break;
        default:
            average_pool_backward_plane(g, dy + p * outPlane, dx + p * inPlane, includePadding, g->strideW, rows);
            break;
        }
    }
}

ISA_VARIANTS(average_pool_backward, average_pool_backward_body,
             (const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding, long planes, float *rows),
             (g, dy, dx, includePadding, planes, rows))

long cnn_average_pool_backward_scratch_floats(const cnn_pool_geometry *g) { return g->inH * padded_width(g); }

void cnn_average_pool_backward(const cnn_pool_geometry *g, const float *dy, float *dx, int includePadding,
                               long planes, float *scratch) {
    average_pool_backward_dispatch(g, dy, dx, includePadding, planes, scratch);
}

/// A scatter: consecutive outputs' winners may coincide (overlapping windows), so the adds
/// stay scalar and in output order, which also keeps the sums deterministic. The plane is
/// small enough to stay in L2 between the zeroing and the adds.
INLINE void max_pool_backward_body(long inPlane, long outPlane, const float *dy, const int32_t *indices, float *dx,
                                   long planes) {
    for (long p = 0; p < planes; p++) {
        float *plane = dx + p * inPlane;
        const float *g = dy + p * outPlane;
        const int32_t *winners = indices + p * outPlane;
        memset(plane, 0, (size_t)inPlane * sizeof(float));
        for (long o = 0; o < outPlane; o++) {
            int32_t i = winners[o];
            // A corrupt index must not write outside the plane.
            if (i >= 0 && i < inPlane) plane[i] += g[o];
        }
    }
}

ISA_VARIANTS(max_pool_backward, max_pool_backward_body,
             (long inPlane, long outPlane, const float *dy, const int32_t *indices, float *dx, long planes),
             (inPlane, outPlane, dy, indices, dx, planes))

void cnn_max_pool_backward(long inPlane, long outPlane, const float *dy, const int32_t *indices, float *dx,
                           long planes) {
    max_pool_backward_dispatch(inPlane, outPlane, dy, indices, dx, planes);
}
