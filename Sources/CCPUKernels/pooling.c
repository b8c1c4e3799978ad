#include "pooling.h"
#include "isa_variants.h"
#include <math.h>

// Outputs of a row are pooled 16 at a time, one output per lane, the window taps in row-major
// order as a scalar scan would take them, so ties and NaN resolve as PyTorch's loop does. A
// block whose taps all lie inside its input row reads the row directly; a block that touches
// the padding or the row's end (and every block of rows shorter than 32 floats, as in
// ResNet-50's pool at 64² input) reads a staged copy of its span with the padding filled in.
// The last block of a row overlaps the one before it rather than leaving a scalar tail.

#define LANES 16

long cnn_pool_scratch_floats(const cnn_pool_geometry *g) { return LANES * g->strideW + g->windowW + 2 * LANES; }

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

/// The floats a block's loads read from its first window column on.
INLINE long block_span(const cnn_pool_geometry *g, long s) { return LANES * s + g->windowW - 1; }

/// Where a block starting at input column c0 reads row `row` from: the row itself, or `stage`
/// holding the span with `fill` outside the image.
INLINE const float *block_source(const float *row, long inW, long c0, long span, int direct, float fill,
                                 float *stage) {
    if (direct) return row + c0;
    for (long j = 0; j < span; j += LANES) store16(stage + j, splat16(fill));
    long lo = c0 > 0 ? c0 : 0, hi = c0 + span < inW ? c0 + span : inW;
    if (lo < hi) memcpy(stage + (lo - c0), row + lo, (size_t)(hi - lo) * sizeof(float));
    return stage;
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

INLINE void max_pool_plane(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, int track, long s,
                           float *stage) {
    const long inW = g->inW, outW = g->outW, span = block_span(g, s);
    const vi16 laneColumns = lane_columns(s);
    for (long oh = 0; oh < g->outH; oh++) {
        long r0 = oh * g->strideH - g->top;
        long h0 = r0 > 0 ? r0 : 0, h1 = r0 + g->windowH < g->inH ? r0 + g->windowH : g->inH;
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW), c0 = o * s - g->left;
            int direct = c0 >= 0 && c0 + span <= inW;
            vf16 best = splat16(-INFINITY);
            // Before any tap wins, each output's index is its window's first pixel in the image.
            vi16 columns = splat16i((int)c0) + laneColumns;
            vi16 winners = select16i(columns > 0, columns, splat16i(0)) + (int)(h0 * inW);
            for (long ih = h0; ih < h1; ih++) {
                const float *p = block_source(x + ih * inW, inW, c0, span, direct, -INFINITY, stage);
                for (long kw = 0; kw < g->windowW; kw++) {
                    vf16 v = load_strided(p + kw, s);
                    vi16 wins = (v > best) | (v != v);
                    best = select16(wins, v, best);
                    if (track) winners = select16i(wins, splat16i((int)(ih * inW + c0 + kw)) + laneColumns, winners);
                }
            }
            long lanes = outW - o < LANES ? outW - o : LANES;
            store_lanes(y + oh * outW + o, best, lanes);
            if (track) store_lanes_i(indices + oh * outW + o, winners, lanes);
        }
    }
}

INLINE void max_pool_forward_body(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                                  float *stage) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * inPlane;
        float *yp = y + p * outPlane;
        int32_t *ip = indices ? indices + p * outPlane : NULL;
        // Constant strides and a constant `track` let the compiler specialize each copy.
        if (ip) {
            switch (g->strideW) {
            case 1: max_pool_plane(g, xp, yp, ip, 1, 1, stage); break;
            case 2: max_pool_plane(g, xp, yp, ip, 1, 2, stage); break;
            default: max_pool_plane(g, xp, yp, ip, 1, g->strideW, stage); break;
            }
        } else {
            switch (g->strideW) {
            case 1: max_pool_plane(g, xp, yp, NULL, 0, 1, stage); break;
            case 2: max_pool_plane(g, xp, yp, NULL, 0, 2, stage); break;
            default: max_pool_plane(g, xp, yp, NULL, 0, g->strideW, stage); break;
            }
        }
    }
}

ISA_VARIANTS(max_pool_forward, max_pool_forward_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes, float *stage),
             (g, x, y, indices, planes, stage))

void cnn_max_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                          float *scratch) {
    max_pool_forward_dispatch(g, x, y, indices, planes, scratch);
}

/// Each window row's taps are summed left to right and the row sums added top to bottom, the
/// order of the scalar loop this replaced, so results did not change by a bit.
INLINE void average_pool_plane(const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long s,
                               float *stage) {
    const long inW = g->inW, outW = g->outW, span = block_span(g, s);
    const vi16 laneColumns = lane_columns(s);
    for (long oh = 0; oh < g->outH; oh++) {
        long r0 = oh * g->strideH - g->top;
        long h0 = r0 > 0 ? r0 : 0, h1 = r0 + g->windowH < g->inH ? r0 + g->windowH : g->inH;
        long rowsCounted = includePadding ? (r0 + g->windowH < g->inH + g->bottom ? g->windowH : g->inH + g->bottom - r0)
                                          : h1 - h0;
        for (long ow = 0; ow < outW; ow += LANES) {
            long o = block_start(ow, outW), c0 = o * s - g->left;
            int direct = c0 >= 0 && c0 + span <= inW;
            vf16 sum = splat16(0);
            for (long ih = h0; ih < h1; ih++) {
                const float *p = block_source(x + ih * inW, inW, c0, span, direct, 0, stage);
                vf16 row = load_strided(p, s);
                for (long kw = 1; kw < g->windowW; kw++) row += load_strided(p + kw, s);
                sum += row;
            }
            // PyTorch's divisor: the window clipped to the padded input, or to the image.
            vi16 w0 = splat16i((int)c0) + laneColumns, w1 = w0 + (int)g->windowW;
            vi16 end = splat16i((int)(includePadding ? inW + g->right : inW));
            vi16 columnsCounted = select16i(w1 < end, w1, end) - (includePadding ? w0 : select16i(w0 > 0, w0, splat16i(0)));
            vf16 divisor = __builtin_convertvector(columnsCounted * (int)rowsCounted, vf16);
            long lanes = outW - o < LANES ? outW - o : LANES;
            store_lanes(y + oh * outW + o, sum / divisor, lanes);
        }
    }
}

INLINE void average_pool_forward_body(const cnn_pool_geometry *g, const float *x, float *y, int includePadding,
                                      long planes, float *stage) {
    long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * inPlane;
        float *yp = y + p * outPlane;
        switch (g->strideW) {
        case 1: average_pool_plane(g, xp, yp, includePadding, 1, stage); break;
        case 2: average_pool_plane(g, xp, yp, includePadding, 2, stage); break;
        default: average_pool_plane(g, xp, yp, includePadding, g->strideW, stage); break;
        }
    }
}

ISA_VARIANTS(average_pool_forward, average_pool_forward_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long planes, float *stage),
             (g, x, y, includePadding, planes, stage))

void cnn_average_pool_forward(const cnn_pool_geometry *g, const float *x, float *y, int includePadding, long planes,
                              float *scratch) {
    average_pool_forward_dispatch(g, x, y, includePadding, planes, scratch);
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
