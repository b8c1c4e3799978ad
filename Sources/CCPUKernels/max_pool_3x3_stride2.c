#include "pooling.h"
#include "isa_variants.h"
#include <math.h>

// 3×3/2 max pooling (ResNet's stem pool: 112² → 56² and 32² → 16², padding 1), separable and
// without the ring of padded rows. Output row i takes input rows 2i − top, 2i − top + 1 and
// 2i − top + 2, so every second input row serves two output rows: each input row's 3-column
// stride-2 maximum and winning column are found once per block of 16 outputs and the shared
// row's are kept for the next output row (2 row maxima per output row instead of 3, the same 2
// row combines). The taps come straight from the plane: two loads of 32 consecutive columns
// split into even and odd columns by one two-source permute each (`vpermt2ps` with AVX-512),
// the third tap the even ones moved down a lane with column c0 + 32 entering. The one block
// that starts left of the image (padding 1) takes the odd columns moved up a lane with −∞
// entering instead, and a column or row past the image's right or bottom edge (padding 1) is
// −∞, so nothing is copied. The grouping is max_block's (pooling.c): each row's taps left to
// right, then the rows top to bottom, with "the later one wins when strictly larger, or NaN",
// so the winner is the first maximum in row-major order (or the last NaN), and a window whose
// maximum is −∞ gets its first pixel in the image. A plane is pooled with the one-compare rule
// while its loads are tested for NaN, and pooled again with the NaN rule if any was found.

#define LANES 16
/// Bytes of input asked for ahead of the rows being pooled, into L2, for rows of 64 floats or
/// more: the compares keep the core busy, and without it the misses were not overlapped
/// (pooling.c's PREFETCH_BYTES, NOTES-memory-bound.md, cpool7).
#define AHEAD_BYTES 6144
#define AHEAD_MIN_WIDTH 64

int cnn_max_pool_3x3s2_applies(const cnn_pool_geometry *g) {
    long paddedH = g->inH + g->top + g->bottom, paddedW = g->inW + g->left + g->right;
    return g->windowH == 3 && g->windowW == 3 && g->strideH == 2 && g->strideW == 2 && g->top <= 1 && g->left <= 1 &&
           g->bottom <= 1 && g->right <= 1 && paddedH >= 3 && g->outH == (paddedH - 3) / 2 + 1 &&
           g->outW == (paddedW - 3) / 2 + 1 && g->outW >= LANES && g->inW >= 2 * LANES;
}

long cnn_max_pool_3x3s2_scratch_floats(const cnn_pool_geometry *g) {
    return 2 * (g->outW + LANES - 1) / LANES * LANES;
}

INLINE vi16 wins_over(vf16 candidate, vf16 best, int nanRule) {
    return nanRule ? (candidate > best) | (candidate != candidate) : candidate > best;
}

INLINE vf16 even_columns(vf16 a, vf16 b) {
    return __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

INLINE vf16 odd_columns(vf16 a, vf16 b) {
    return __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

/// The maximum of window columns c0 + 2k, + 1, + 2 of input row `row` for lanes k = 0 ..< 16 and
/// its flat index (`base`: the row's first pixel plus c0 + 2k). c0 is −1 (left padding) or a
/// column with c0 + 31 inside the row; column c0 + 32 may be the right padding. `nan` collects
/// the lanes of the loads that are NaN (`lastBlock`: also column c0 + 32, which the next block
/// loads otherwise).
INLINE void row_max(const float *row, long c0, long inW, vi16 base, int nanRule, int track, int lastBlock, vi16 *nan,
                    vf16 *value, vi16 *index) {
    vf16 t0, t1, t2;
    if (c0 < 0) {
        vf16 a = load16(row), b = load16(row + LANES);
        *nan |= (a != a) | (b != b);
        t1 = even_columns(a, b);
        t2 = odd_columns(a, b);
        t0 = __builtin_shufflevector(t2, splat16(-INFINITY), 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
    } else {
        vf16 a = load16(row + c0), b = load16(row + c0 + LANES);
        float past = c0 + 2 * LANES < inW ? row[c0 + 2 * LANES] : -INFINITY;
        *nan |= (a != a) | (b != b);
        if (lastBlock && past != past) *nan = splat16i(-1);
        t0 = even_columns(a, b);
        t1 = odd_columns(a, b);
        t2 = __builtin_shufflevector(t0, splat16(past), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    }
    vi16 wins1 = wins_over(t1, t0, nanRule);
    vf16 best = select16(wins1, t1, t0);
    vi16 wins2 = wins_over(t2, best, nanRule);
    *value = select16(wins2, t2, best);
    if (track) *index = base + select16i(wins2, splat16i(2), wins1 & splat16i(1));
}

/// One plane. `carried` holds, per block of the output row, the values and indices of the
/// input row the next output row shares; with `oneBlock` (rows of exactly 16 outputs: the stem
/// pool at 32²) they stay in registers instead, 0.83× the time there. Returns whether a load held a NaN (with the
/// one-compare rule, which then gave wrong winners: the caller pools the plane again).
INLINE int pool_plane(const cnn_pool_geometry *g, const float *x, const float *xEnd, float *y, int32_t *indices,
                      int track, int mask, int nanRule, int oneBlock, float *carried) {
    const long inH = g->inH, inW = g->inW, outW = g->outW, blocks = oneBlock ? 1 : (outW + LANES - 1) / LANES;
    const vi16 lanes2 = (vi16){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    float *carriedValues = carried;
    int32_t *carriedIndices = (int32_t *)(carried + blocks * LANES);
    vi16 nan = splat16i(0), heldIndex = splat16i(0);
    vf16 held = splat16(-INFINITY);
    for (long oh = 0; oh < g->outH; oh++) {
        const long r0 = 2 * oh - g->top, h0 = r0 > 0 ? r0 : 0;
        if (inW >= AHEAD_MIN_WIDTH) {
            const float *ahead = x + (r0 + 1) * inW + AHEAD_BYTES / sizeof(float);
            for (long j = 0; j < 2 * inW && ahead + j < xEnd; j += LANES) __builtin_prefetch(ahead + j, 0, 2);
        }
        for (long b = 0; b < blocks; b++) {
            const long o = b * LANES + LANES > outW ? outW - LANES : b * LANES, c0 = 2 * o - g->left;
            const int last = b + 1 == blocks;
            const vi16 columns = splat16i((int)c0) + lanes2;
            vf16 best, middle, bottom;
            vi16 index = splat16i(0), middleIndex = splat16i(0), bottomIndex = splat16i(0);
            if (oh > 0 && oneBlock) {
                best = held;
                index = heldIndex;
            } else if (oh > 0) {
                best = load16(carriedValues + b * LANES);
                if (track) index = load16i(carriedIndices + b * LANES);
            } else if (r0 >= 0) {
                row_max(x + r0 * inW, c0, inW, columns + (int)(r0 * inW), nanRule, track, last, &nan, &best, &index);
            } else {
                best = splat16(-INFINITY);  // the top padding: never wins
            }
            row_max(x + (r0 + 1) * inW, c0, inW, columns + (int)((r0 + 1) * inW), nanRule, track, last, &nan, &middle,
                    &middleIndex);
            if (r0 + 2 < inH) {
                row_max(x + (r0 + 2) * inW, c0, inW, columns + (int)((r0 + 2) * inW), nanRule, track, last, &nan,
                        &bottom, &bottomIndex);
            } else {
                bottom = splat16(-INFINITY);  // the bottom padding, in the last output row only
            }
            if (oneBlock) {
                held = bottom;
                heldIndex = bottomIndex;
            } else {
                store16(carriedValues + b * LANES, bottom);
                if (track) store16i(carriedIndices + b * LANES, bottomIndex);
            }
            vi16 wins = wins_over(middle, best, nanRule);
            best = select16(wins, middle, best);
            if (track) index = select16i(wins, middleIndex, index);
            wins = wins_over(bottom, best, nanRule);
            best = select16(wins, bottom, best);
            store16(y + oh * outW + o, best);
            if (!track) continue;
            index = select16i(wins, bottomIndex, index);
            // Nothing above −∞ (and no NaN): the first pixel of the window in the image.
            vi16 first = select16i(columns > 0, columns, splat16i(0)) + (int)(h0 * inW);
            index = select16i(best == splat16(-INFINITY), first, index);
            if (mask) index = select16i(best > splat16(0), index, splat16i(-1));
            store16i(indices + oh * outW + o, index);
        }
    }
    int any = 0;
    for (int k = 0; k < LANES; k++) any |= nan[k];
    return any != 0;
}

INLINE void max_pool_3x3s2(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                           float *scratch, int track, int mask) {
    const long inPlane = g->inH * g->inW, outPlane = g->outH * g->outW;
    const float *xEnd = x + planes * inPlane;
    const int oneBlock = g->outW == LANES;
    for (long p = 0; p < planes; p++) {
        const float *xp = x + p * inPlane;
        float *yp = y + p * outPlane;
        int32_t *ip = track ? indices + p * outPlane : NULL;
        if (oneBlock) {
            if (pool_plane(g, xp, xEnd, yp, ip, track, mask, 0, 1, scratch))
                pool_plane(g, xp, xEnd, yp, ip, track, mask, 1, 1, scratch);
        } else if (pool_plane(g, xp, xEnd, yp, ip, track, mask, 0, 0, scratch)) {
            pool_plane(g, xp, xEnd, yp, ip, track, mask, 1, 0, scratch);
        }
    }
}

INLINE void max_pool_3x3s2_body(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                                float *scratch, int maskNonPositive) {
    if (indices && maskNonPositive) max_pool_3x3s2(g, x, y, indices, planes, scratch, 1, 1);
    else if (indices) max_pool_3x3s2(g, x, y, indices, planes, scratch, 1, 0);
    else max_pool_3x3s2(g, x, y, NULL, planes, scratch, 0, 0);
}

ISA_VARIANTS(max_pool_3x3s2, max_pool_3x3s2_body,
             (const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes, float *scratch,
              int maskNonPositive),
             (g, x, y, indices, planes, scratch, maskNonPositive))

void cnn_max_pool_3x3s2_forward(const cnn_pool_geometry *g, const float *x, float *y, int32_t *indices, long planes,
                                float *scratch, int maskNonPositive) {
    max_pool_3x3s2_dispatch(g, x, y, indices, planes, scratch, maskNonPositive);
}
