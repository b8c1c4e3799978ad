#include "blocked_convolution.h"
#include "activation_epilogue.h"
#include "cpu_isa.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// GCC/Clang vector of 8 floats, loaded and stored unaligned through memcpy. The loops are
// written once (always-inlined bodies) and compiled three times: for AVX-512, with AVX2+FMA,
// where `a += v * s` becomes one vfmadd per vector, and for the baseline target, where it is
// two SSE halves.
typedef float v8f __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))

// Off x86 the "AVX2" builds are plain second copies that hasAVX2FMA never picks.
#if defined(__x86_64__) || defined(__i386__)
#define AVX2_FMA __attribute__((target("avx2,fma")))
#define AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#else
#define AVX2_FMA
#define AVX512
#endif

// 16 floats: one AVX-512 register. Only the AVX-512 build uses it (`isa` below); the other
// builds inline the same bodies with a narrower `isa`, so those loops vanish from them.
typedef float v16f __attribute__((vector_size(64)));

// The helpers below pass v8f by value, which clang flags as an ABI change without AVX; they
// are always inlined, so no call with that ABI exists.
#pragma clang diagnostic ignored "-Wpsabi"

INLINE v8f load8(const float *p) { v8f v; memcpy(&v, p, sizeof v); return v; }
INLINE void store8(float *p, v8f v) { memcpy(p, &v, sizeof v); }
INLINE v8f splat(float s) { return (v8f){s, s, s, s, s, s, s, s}; }
INLINE long round8(long n) { return (n + 7) & ~7L; }
INLINE float hsum(v8f v) { return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7])); }
INLINE v16f load16(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
INLINE v16f splat16(float s) { return (v16f){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }
/// The two 8-lane halves of `v`, added: what `hsum` then reduces.
INLINE v8f fold16(v16f v) {
    return (v8f){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]} +
           (v8f){v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15]};
}

// Output channels per register block. With two rows (forward) or two taps (backward-filter)
// per pass that is 12 accumulators plus three operands: 15 of AVX2's 16 registers. 12
// independent FMA chains also cover the FMA latency (5 cycles × 2 per cycle on Zen 2), which
// 8 did not. LeNet's 6- and 16-channel layers waste no lanes and a third of a block.
#define OB 6

long cnn_padded_gradient_channels(long outC) { return (outC + OB - 1) / OB * OB; }

long cnn_packed_weight_count(long outC, long taps) { return (outC + OB - 1) / OB * taps * OB; }

void cnn_pack_weights(const float *w, long forwardOutC, long forwardInC, long kh, long kw, int flipTranspose,
                      float *packed) {
    long outC = flipTranspose ? forwardInC : forwardOutC, inC = flipTranspose ? forwardOutC : forwardInC;
    long taps = inC * kh * kw;
    memset(packed, 0, (size_t)cnn_packed_weight_count(outC, taps) * sizeof(float));
    for (long oc = 0; oc < outC; oc++)
        for (long ci = 0; ci < inC; ci++)
            for (long i = 0; i < kh; i++)
                for (long j = 0; j < kw; j++) {
                    long tap = (ci * kh + i) * kw + j;
                    float v = flipTranspose ? w[((ci * forwardInC + oc) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)]
                                            : w[oc * taps + tap];
                    packed[((oc / OB) * taps + tap) * OB + oc % OB] = v;
                }
}

// Masked stores of the first `lanes` floats of a partial column block: a memcpy of a variable
// length is a library call, twelve of them per tile. Called only from the builds whose target
// has the instructions (`isa` below), so the baseline build never reaches them.
#if defined(__x86_64__) || defined(__i386__)
AVX2_FMA static inline void store8_masked(float *dst, const v8f *v, long lanes) {
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(dst, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes), lane), *(const __m256 *)v);
}
AVX512 static inline void store16_masked(float *dst, const v16f *v, long lanes) {
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << lanes) - 1), *(const __m512 *)v);
}
#else
static inline void store8_masked(float *dst, const v8f *v, long lanes) { memcpy(dst, v, (size_t)lanes * sizeof(float)); }
static inline void store16_masked(float *dst, const v16f *v, long lanes) { memcpy(dst, v, (size_t)lanes * sizeof(float)); }
#endif

// The instruction set a loop body is compiled for (the builds at the end of this file).
enum { ISA_BASELINE = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

// Writes the first `lanes` floats of `v` to `dst`.
INLINE void store_lanes(float *dst, v8f v, long lanes, int isa) {
    if (lanes == 8) {
        store8(dst, v);
    } else if (isa >= ISA_AVX2) {
        store8_masked(dst, &v, lanes);
    } else {
        float tmp[8];
        store8(tmp, v);
        memcpy(dst, tmp, (size_t)lanes * sizeof(float));
    }
}

// ReLU on a whole register before it is stored: `v < 0 ? 0 : v` as activate_lanes has it
// (NaN and -0 pass through), by clearing the lanes that compare below zero.
typedef int v8i __attribute__((vector_size(32)));
typedef int v16i __attribute__((vector_size(64)));
INLINE v8f relu8(v8f v) { return (v8f)((v8i)v & ~(v < splat(0))); }
INLINE v16f relu16(v16f v) { return (v16f)((v16i)v & ~(v < splat16(0))); }

// The taps a tile multiplies: for each of `inC` channels, taps [begin, end) of its `perChannel`
// (kernel rows whose input rows hold data for some row of the tile; the others read only the
// zero padding). Backward-data pads dy by kh - 1 - pad rows on each side, so on LeNet's conv2
// its first and last tiles skip a fifth and three fifths of their taps.
typedef struct {
    long inC, perChannel, begin, end;
} tap_range;

#define FOR_TAPS(t, r)                                                                                      \
    for (long c_ = 0; c_ < (r).inC; c_++)                                                                   \
        for (long t = c_ * (r).perChannel + (r).begin; t < c_ * (r).perChannel + (r).end; t++)

/// The kernel rows i with a data row among input rows oh + i .. oh + i + rows - 1, the input
/// holding data only in rows [rowBegin, rowEnd).
INLINE tap_range taps_touching(long inC, long kh, long kw, long oh, int rows, long rowBegin, long rowEnd) {
    long i0 = rowBegin - oh - rows + 1, i1 = rowEnd - oh;
    if (i0 < 0) i0 = 0;
    if (i1 > kh) i1 = kh;
    if (i1 < i0) i1 = i0;
    return (tap_range){inC, kh * kw, i0 * kw, i1 * kw};
}

// Two output rows × 8 columns × OB channels. Per tap: one input vector per row, OB broadcast
// weights, 12 FMAs. The taps run over precomputed input offsets, one run per input channel:
// nested (channel, row, column) loops with their index arithmetic made clang shuffle and spill
// the accumulators.
INLINE void forward_tile2(const float *x, long paddedW, const long *offsets, tap_range taps, const float *weights,
                          v8f out[2][OB]) {
    v8f a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    v8f b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    FOR_TAPS(t, taps) {
        const float *wt = weights + t * OB;
        const float *p = x + offsets[t];
        v8f u = load8(p), v = load8(p + paddedW), w;
        w = splat(wt[0]); a0 += u * w; b0 += v * w;
        w = splat(wt[1]); a1 += u * w; b1 += v * w;
        w = splat(wt[2]); a2 += u * w; b2 += v * w;
        w = splat(wt[3]); a3 += u * w; b3 += v * w;
        w = splat(wt[4]); a4 += u * w; b4 += v * w;
        w = splat(wt[5]); a5 += u * w; b5 += v * w;
    }
    out[0][0] = a0; out[0][1] = a1; out[0][2] = a2; out[0][3] = a3; out[0][4] = a4; out[0][5] = a5;
    out[1][0] = b0; out[1][1] = b1; out[1][2] = b2; out[1][3] = b3; out[1][4] = b4; out[1][5] = b5;
}

// The last row of an odd output height.
INLINE void forward_tile1(const float *x, const long *offsets, tap_range taps, const float *weights,
                          v8f out[2][OB]) {
    v8f a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    FOR_TAPS(t, taps) {
        const float *wt = weights + t * OB;
        v8f u = load8(x + offsets[t]);
        a0 += u * splat(wt[0]); a1 += u * splat(wt[1]); a2 += u * splat(wt[2]);
        a3 += u * splat(wt[3]); a4 += u * splat(wt[4]); a5 += u * splat(wt[5]);
    }
    out[0][0] = a0; out[0][1] = a1; out[0][2] = a2; out[0][3] = a3; out[0][4] = a4; out[0][5] = a5;
}

// `rows` (4, 2 or 1: a constant once inlined) output rows × 16 columns × OB channels, for
// AVX-512. Four rows take 24 accumulators, 4 input vectors and a broadcast weight: 29 of its 32
// registers. Per tap that is 4 input loads and OB broadcasts for 24 FMAs, where two rows
// needed 2 and OB for 12.
INLINE void forward_tile16(const float *x, long paddedW, const long *offsets, tap_range taps, const float *weights,
                           int rows, v16f out[4][OB]) {
    v16f a[4][OB];
    for (int r = 0; r < 4; r++)
        for (int k = 0; k < OB; k++) a[r][k] = splat16(0);
    FOR_TAPS(t, taps) {
        const float *wt = weights + t * OB;
        const float *p = x + offsets[t];
        v16f u[4];
        for (int r = 0; r < rows; r++) u[r] = load16(p + r * paddedW);
        for (int k = 0; k < OB; k++) {
            v16f w = splat16(wt[k]);
            for (int r = 0; r < rows; r++) a[r][k] += u[r] * w;
        }
    }
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < OB; k++) out[r][k] = a[r][k];
}

// Adds the bias, applies the activation (ReLU in the register, the others on the stored
// lanes) and stores the first `lanes` columns of `rows` rows × `count` channels of a tile.
INLINE void store_tile16(float *y, long outPlane, long outW, v16f acc[4][OB], int rows, long count,
                         const float *bias, long lanes, int activation, float alpha) {
    for (int r = 0; r < rows; r++)
        for (long k = 0; k < count; k++) {
            v16f v = acc[r][k] + splat16(bias ? bias[k] : 0);
            if (activation == 0) v = relu16(v);
            float *p = y + k * outPlane + r * outW;
            if (lanes == 16) memcpy(p, &v, sizeof v);
            else store16_masked(p, &v, lanes);
            if (activation > 0) activate_lanes(p, lanes, activation, alpha);
        }
}

INLINE void store_tile8(float *y, long outPlane, long outW, v8f acc[2][OB], int rows, long count,
                        const float *bias, long lanes, int activation, float alpha, int isa) {
    for (int r = 0; r < rows; r++)
        for (long k = 0; k < count; k++) {
            v8f v = acc[r][k] + splat(bias ? bias[k] : 0);
            if (activation == 0) v = relu8(v);
            float *p = y + k * outPlane + r * outW;
            store_lanes(p, v, lanes, isa);
            if (activation > 0) activate_lanes(p, lanes, activation, alpha);
        }
}

// The AVX-512 build runs 16-wide column blocks while 16 columns fit in round8(outW) (what the
// padding covers: 28 → 16 + 16, 10 → 16), in tiles of 4 rows, then 2 and 1 for the last rows
// of a height that is not a multiple of 4; the rest of a row (and every column in the other
// builds) runs 8 wide in tiles of 2 rows.
INLINE void forward_body(const float *xp, long inC, long paddedH, long paddedW, long rowBegin, long rowEnd,
                         const float *packed, long outC, long kh, long kw, long outH, long outW, const float *bias,
                         int activation, float alpha, float *y, long *offsets, int isa) {
    long taps = inC * kh * kw, plane = paddedH * paddedW, outPlane = outH * outW;
    long *o = offsets;
    for (long ci = 0; ci < inC; ci++)
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++) *o++ = ci * plane + i * paddedW + j;
    for (long ob = 0; ob < (outC + OB - 1) / OB; ob++) {
        const float *wb = packed + ob * taps * OB, *bb = bias ? bias + ob * OB : NULL;
        long count = outC - ob * OB < OB ? outC - ob * OB : OB;
        float *yb = y + ob * OB * outPlane;
        long ow = 0;
        if (isa == ISA_AVX512)
            for (; ow + 16 <= round8(outW); ow += 16) {
                long lanes = outW - ow < 16 ? outW - ow : 16, oh = 0;
                v16f acc[4][OB];
                for (; oh + 4 <= outH; oh += 4) {
                    tap_range r = taps_touching(inC, kh, kw, oh, 4, rowBegin, rowEnd);
                    forward_tile16(xp + oh * paddedW + ow, paddedW, offsets, r, wb, 4, acc);
                    store_tile16(yb + oh * outW + ow, outPlane, outW, acc, 4, count, bb, lanes, activation, alpha);
                }
                for (; oh < outH; oh += 2) {
                    int rows = oh + 2 <= outH ? 2 : 1;
                    tap_range r = taps_touching(inC, kh, kw, oh, rows, rowBegin, rowEnd);
                    if (rows == 2) forward_tile16(xp + oh * paddedW + ow, paddedW, offsets, r, wb, 2, acc);
                    else forward_tile16(xp + oh * paddedW + ow, paddedW, offsets, r, wb, 1, acc);
                    store_tile16(yb + oh * outW + ow, outPlane, outW, acc, rows, count, bb, lanes, activation, alpha);
                }
            }
        for (; ow < outW; ow += 8) {
            long lanes = outW - ow < 8 ? outW - ow : 8;
            for (long oh = 0; oh < outH; oh += 2) {
                v8f acc[2][OB];
                const float *x = xp + oh * paddedW + ow;
                int rows = oh + 2 <= outH ? 2 : 1;
                tap_range r = taps_touching(inC, kh, kw, oh, rows, rowBegin, rowEnd);
                if (rows == 2) forward_tile2(x, paddedW, offsets, r, wb, acc);
                else forward_tile1(x, offsets, r, wb, acc);
                store_tile8(yb + oh * outW + ow, outPlane, outW, acc, rows, count, bb, lanes, activation, alpha, isa);
            }
        }
    }
}

// Two taps × OB output channels over `pixels` vectors (whole padded rows of every image):
// per vector, two input loads and OB gradient loads feed 12 FMAs. The AVX2 and baseline builds.
INLINE void backward_filter_taps2(const float *x0, const float *x1, const float *g, long gPlane, long outH,
                                  long paddedW, long rowW, long images, long xImage, long dyImage, v8f out[2][OB]) {
    v8f a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    v8f b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    for (long n = 0; n < images; n++) {
        for (long oh = 0; oh < outH; oh++) {
            const float *u0 = x0 + n * xImage + oh * paddedW, *u1 = x1 + n * xImage + oh * paddedW;
            const float *gp = g + n * dyImage + oh * rowW;
            for (long ow = 0; ow < rowW; ow += 8) {
                v8f u = load8(u0 + ow), v = load8(u1 + ow), gv;
                gv = load8(gp + ow); a0 += u * gv; b0 += v * gv;
                gv = load8(gp + gPlane + ow); a1 += u * gv; b1 += v * gv;
                gv = load8(gp + 2 * gPlane + ow); a2 += u * gv; b2 += v * gv;
                gv = load8(gp + 3 * gPlane + ow); a3 += u * gv; b3 += v * gv;
                gv = load8(gp + 4 * gPlane + ow); a4 += u * gv; b4 += v * gv;
                gv = load8(gp + 5 * gPlane + ow); a5 += u * gv; b5 += v * gv;
            }
        }
    }
    out[0][0] = a0; out[0][1] = a1; out[0][2] = a2; out[0][3] = a3; out[0][4] = a4; out[0][5] = a5;
    out[1][0] = b0; out[1][1] = b1; out[1][2] = b2; out[1][3] = b3; out[1][4] = b4; out[1][5] = b5;
}

// `count` (4, 2 or 1: a constant once inlined) taps × OB output channels × `W` columns per
// step, for AVX-512: each step loads `count` input vectors and OB gradient vectors for up to
// 24 FMAs (24 accumulators, 4 inputs and a gradient: 29 of its 32 registers), where two taps
// loaded 2 + OB for 12. Named accumulators, not an array: clang spilled the array's elements
// around the row loop. `x` holds each tap's offset into the padded images; the totals are
// added to `sums`. Runs the columns [begin, end) of every row.
#define BACKWARD_FILTER_TAPS4(name, vec, W, load, zero, total)                                               \
    INLINE void name(const float *xp, const long x[4], int count, const float *g, long gPlane, long outH,    \
                     long paddedW, long rowW, long begin, long end, long images, long xImage, long dyImage,  \
                     float sums[4][OB]) {                                                                   \
        vec z = zero, a00 = z, a01 = z, a02 = z, a03 = z, a04 = z, a05 = z, a10 = z, a11 = z, a12 = z;      \
        vec a13 = z, a14 = z, a15 = z, a20 = z, a21 = z, a22 = z, a23 = z, a24 = z, a25 = z, a30 = z;       \
        vec a31 = z, a32 = z, a33 = z, a34 = z, a35 = z;                                                    \
        for (long n = 0; n < images; n++) {                                                                 \
            const float *u = xp + n * xImage, *gp = g + n * dyImage;                                        \
            for (long oh = 0; oh < outH; oh++, u += paddedW, gp += rowW)                                    \
                for (long ow = begin; ow < end; ow += W) {                                                  \
                    vec u0 = load(u + x[0] + ow), u1 = z, u2 = z, u3 = z, gv;                               \
                    if (count > 1) u1 = load(u + x[1] + ow);                                                \
                    if (count > 2) u2 = load(u + x[2] + ow), u3 = load(u + x[3] + ow);                      \
                    BACKWARD_FILTER_STEP(0, load) BACKWARD_FILTER_STEP(1, load)                             \
                    BACKWARD_FILTER_STEP(2, load) BACKWARD_FILTER_STEP(3, load)                             \
                    BACKWARD_FILTER_STEP(4, load) BACKWARD_FILTER_STEP(5, load)                             \
                }                                                                                           \
        }                                                                                                   \
        sums[0][0] += total(a00); sums[0][1] += total(a01); sums[0][2] += total(a02);                       \
        sums[0][3] += total(a03); sums[0][4] += total(a04); sums[0][5] += total(a05);                       \
        sums[1][0] += total(a10); sums[1][1] += total(a11); sums[1][2] += total(a12);                       \
        sums[1][3] += total(a13); sums[1][4] += total(a14); sums[1][5] += total(a15);                       \
        sums[2][0] += total(a20); sums[2][1] += total(a21); sums[2][2] += total(a22);                       \
        sums[2][3] += total(a23); sums[2][4] += total(a24); sums[2][5] += total(a25);                       \
        sums[3][0] += total(a30); sums[3][1] += total(a31); sums[3][2] += total(a32);                       \
        sums[3][3] += total(a33); sums[3][4] += total(a34); sums[3][5] += total(a35);                       \
    }
#define BACKWARD_FILTER_STEP(k, load)                                                                           \
    gv = load(gp + k * gPlane + ow);                                                                        \
    a0##k += u0 * gv;                                                                                       \
    if (count > 1) a1##k += u1 * gv;                                                                        \
    if (count > 2) a2##k += u2 * gv, a3##k += u3 * gv;

INLINE float total16(v16f v) { return hsum(fold16(v)); }
BACKWARD_FILTER_TAPS4(backward_filter_taps16, v16f, 16, load16, splat16(0), total16)
BACKWARD_FILTER_TAPS4(backward_filter_taps8, v8f, 8, load8, splat(0), hsum)
#undef BACKWARD_FILTER_STEP
#undef BACKWARD_FILTER_TAPS4

// AVX-512: 16-column steps while 16 fit in the row, then one 8-column step when rowW is an odd
// multiple of 8, as a second pass with 8-lane accumulators.
INLINE void backward_filter_taps(const float *xp, const long x[4], int count, const float *g, long gPlane,
                                 long outH, long paddedW, long rowW, long images, long xImage, long dyImage,
                                 float sums[4][OB]) {
    long wideW = rowW / 16 * 16;
    memset(sums, 0, 4 * OB * sizeof(float));
    backward_filter_taps16(xp, x, count, g, gPlane, outH, paddedW, rowW, 0, wideW, images, xImage, dyImage, sums);
    if (wideW < rowW)
        backward_filter_taps8(xp, x, count, g, gPlane, outH, paddedW, rowW, wideW, rowW, images, xImage, dyImage,
                              sums);
}

// Channels past `count` in the last block read the zero-padded gradient channels: wasted
// lanes, never stored. The AVX-512 build takes 4 taps per pass (then 2 and 1 for the last
// ones); the others take 2, an odd last tap paired with itself.
INLINE void backward_filter_body(const float *xp, long inC, long paddedH, long paddedW, const float *dyp,
                                 long outC, long kh, long kw, long outH, long outW, long images, float *dw,
                                 int isa) {
    long taps = inC * kh * kw, plane = paddedH * paddedW, rowW = round8(outW), gPlane = outH * rowW;
    long dyImage = cnn_padded_gradient_channels(outC) * gPlane, xImage = inC * plane;
    for (long ob = 0; ob < outC; ob += OB) {
        long count = outC - ob < OB ? outC - ob : OB;
        const float *g = dyp + ob * gPlane;
        if (isa == ISA_AVX512) {
            for (long tap = 0; tap < taps;) {
                long left = taps - tap, x[4];
                int n = left >= 4 ? 4 : left >= 2 ? 2 : 1;
                for (int r = 0; r < n; r++) {
                    long t = tap + r;
                    x[r] = t / (kh * kw) * plane + t / kw % kh * paddedW + t % kw;
                }
                float sums[4][OB];
                if (n == 4)
                    backward_filter_taps(xp, x, 4, g, gPlane, outH, paddedW, rowW, images, xImage, dyImage, sums);
                else if (n == 2)
                    backward_filter_taps(xp, x, 2, g, gPlane, outH, paddedW, rowW, images, xImage, dyImage, sums);
                else
                    backward_filter_taps(xp, x, 1, g, gPlane, outH, paddedW, rowW, images, xImage, dyImage, sums);
                for (long k = 0; k < count; k++)
                    for (int r = 0; r < n; r++) dw[(ob + k) * taps + tap + r] += sums[r][k];
                tap += n;
            }
            continue;
        }
        for (long tap = 0; tap < taps; tap += 2) {
            long t1 = tap + 1 < taps ? tap + 1 : tap;
            const float *x0 = xp + tap / (kh * kw) * plane + tap / kw % kh * paddedW + tap % kw;
            const float *x1 = xp + t1 / (kh * kw) * plane + t1 / kw % kh * paddedW + t1 % kw;
            v8f acc[2][OB];
            backward_filter_taps2(x0, x1, g, gPlane, outH, paddedW, rowW, images, xImage, dyImage, acc);
            for (long k = 0; k < count; k++) {
                dw[(ob + k) * taps + tap] += hsum(acc[0][k]);
                if (t1 != tap) dw[(ob + k) * taps + t1] += hsum(acc[1][k]);
            }
        }
    }
}

#define FORWARD_PARAMS                                                                                      \
    (const float *xp, long inC, long paddedH, long paddedW, long rowBegin, long rowEnd, const float *packed,   \
     long outC, long kh, long kw, long outH, long outW, const float *bias, int activation, float alpha,       \
     float *y, long *offsets)
#define FORWARD_ARGS                                                                                        \
    xp, inC, paddedH, paddedW, rowBegin, rowEnd, packed, outC, kh, kw, outH, outW, bias, activation, alpha, y, \
        offsets

AVX512 static void forward_avx512 FORWARD_PARAMS { forward_body(FORWARD_ARGS, ISA_AVX512); }
AVX2_FMA static void forward_avx2 FORWARD_PARAMS { forward_body(FORWARD_ARGS, ISA_AVX2); }
static void forward_baseline FORWARD_PARAMS { forward_body(FORWARD_ARGS, ISA_BASELINE); }

AVX512 static void backward_filter_avx512(const float *xp, long inC, long paddedH,
    long paddedW, const float *dyp, long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw, ISA_AVX512);
}

AVX2_FMA static void backward_filter_avx2(const float *xp, long inC, long paddedH,
    long paddedW, const float *dyp, long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw, ISA_AVX2);
}

static void backward_filter_baseline(const float *xp, long inC, long paddedH, long paddedW, const float *dyp,
                                     long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw, ISA_BASELINE);
}

// cnn_cpu_isa_active: the widest instruction set of this CPU (read once, by the runtime's
// constructor), unless a test capped it to check the narrower builds.
void cnn_blocked_conv_forward FORWARD_PARAMS {
    int isa = cnn_cpu_isa_active();
    (isa == CNN_ISA_AVX512 ? forward_avx512 : isa == CNN_ISA_AVX2 ? forward_avx2 : forward_baseline)(FORWARD_ARGS);
}

void cnn_blocked_conv_backward_filter(const float *xp, long inC, long paddedH, long paddedW, const float *dyp,
                                      long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    int isa = cnn_cpu_isa_active();
    (isa == CNN_ISA_AVX512 ? backward_filter_avx512 : isa == CNN_ISA_AVX2 ? backward_filter_avx2
                                                                          : backward_filter_baseline)(
        xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw);
}
