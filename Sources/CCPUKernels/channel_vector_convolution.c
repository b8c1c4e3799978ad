#include "channel_vector_convolution.h"
#include "activation_epilogue.h"
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// Filter gradient: register blocks of up to 4 kernel rows × 6 kernel columns: 24 accumulators of 16 output
// channels, one gradient vector and the broadcast input: 26 of AVX-512's 32 registers. Per
// output pixel that is one gradient load and R·C FMAs whose input operand is a broadcast load
// folded into the FMA ({1to16}), so every lane of every FMA is useful work. The R kernel rows
// of a block are any R of the inC·kh (channel, row) pairs, so a 6×5×5 filter runs as 7 blocks
// of 4 rows and one of 2, not 6 blocks of 4 + 1. 24 independent FMA chains cover the FMA
// latency (4 cycles × 2 per cycle on Zen 5) with room to spare.
#define ROWS 4
#define COLS 6

typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
#pragma clang diagnostic ignored "-Wpsabi"

#if defined(__x86_64__) || defined(__i386__)
#define AVX512 __attribute__((target("avx512f,avx512vl,avx2,fma")))
#else
#define AVX512
#endif
// Every helper is AVX-512 code too: clang refuses a 16-float vector passed between functions
// whose targets differ.
#define INLINE static inline __attribute__((always_inline)) AVX512

INLINE v16f load16(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
INLINE v16f splat16(float s) { return (v16f){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }

long cnn_channel_vector_gradient_count(long outC, long pixels) { return (outC + 15) / 16 * pixels * 16; }

// Transposes 16 rows of 16 floats in registers: swap the off-diagonal 8×8 blocks, then the
// 4×4 blocks inside each, then 2×2, then single lanes (64 two-register shuffles for 256
// floats; the scalar loop it replaces took a load and a store per float, 26 µs of conv2's
// 155 µs filter gradient).
#define SWAP_BLOCKS(b, ...)                                                                                 \
    for (int i = 0; i < 16; i++)                                                                            \
        if (!(i & b)) {                                                                                     \
            v16f lo = __builtin_shufflevector(r[i], r[i + b], __VA_ARGS__);                                 \
            r[i + b] = __builtin_shufflevector(r[i], r[i + b], HI##b);                                      \
            r[i] = lo;                                                                                      \
        }
#define HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
INLINE void transpose16(v16f r[16]) {
    SWAP_BLOCKS(8, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
    SWAP_BLOCKS(4, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27)
    SWAP_BLOCKS(2, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)
    SWAP_BLOCKS(1, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30)
}

#if defined(__x86_64__) || defined(__i386__)
INLINE v16f load_lanes(const float *p, long lanes) { return (v16f)_mm512_maskz_loadu_ps((__mmask16)((1u << lanes) - 1), p); }
INLINE void store_lanes(float *p, v16f v, long lanes) { _mm512_mask_storeu_ps(p, (__mmask16)((1u << lanes) - 1), (__m512)v); }
#else
INLINE v16f load_lanes(const float *p, long lanes) {
    float t[16] = {0};
    memcpy(t, p, (size_t)lanes * sizeof(float));
    return load16(t);
}
INLINE void store_lanes(float *p, v16f v, long lanes) { memcpy(p, &v, (size_t)lanes * sizeof(float)); }
#endif

/// Planes `src[k][pixels]` (k < count, the others zero) to pixel-major `dst[pixels][16]`, or back
/// (`toPlanes`: `dst[k][pixels]` for k < count from `src[pixels][16]`), 16 pixels at a time.
INLINE void transpose_planes(const float *src, float *dst, long count, long pixels, int toPlanes) {
    for (long p0 = 0; p0 < pixels; p0 += 16) {
        long n = pixels - p0 < 16 ? pixels - p0 : 16, rows = toPlanes ? n : count;
        v16f r[16];
        for (int i = 0; i < 16; i++) r[i] = splat16(0);
        for (long i = 0; i < rows; i++)
            r[i] = toPlanes ? load16(src + (p0 + i) * 16) : load_lanes(src + i * pixels + p0, n);
        transpose16(r);
        for (long i = 0; i < (toPlanes ? count : n); i++) {
            if (toPlanes) store_lanes(dst + i * pixels + p0, r[i], n);
            else memcpy(dst + (p0 + i) * 16, &r[i], sizeof r[i]);
        }
    }
}

AVX512 void cnn_channel_vector_gradient(const float *dy, long outC, long pixels, float *dyv) {
    for (long b = 0; b < (outC + 15) / 16; b++) {
        long count = outC - b * 16 < 16 ? outC - b * 16 : 16;
        transpose_planes(dy + b * 16 * pixels, dyv + b * pixels * 16, count, pixels, 0);
    }
}

// `rows` × `cols` taps (constants once inlined) × 16 output channels over every output pixel
// of `images` images; `x[r]` points at kernel row r's first tap in image 0 (its channel plane,
// row i, column j0). Adds the sums to dw, whose tap (r, c) is at `dw + tap[r] + c` and whose
// output channel k at stride `taps`.
INLINE void block(const float *const x[ROWS], const long tap[ROWS], int rows, int cols, const float *g,
                  long gImage, long paddedW, long xImage, long outH, long outW, long images, long count,
                  long taps, float *dw) {
    v16f a[ROWS][COLS];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) a[r][c] = splat16(0);
    for (long n = 0; n < images; n++)
        for (long oh = 0; oh < outH; oh++) {
            long row = n * xImage + oh * paddedW;
            const float *gp = g + n * gImage + oh * outW * 16;
            for (long ow = 0; ow < outW; ow++) {
                v16f gv = load16(gp + ow * 16);
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++) a[r][c] += splat16(x[r][row + ow + c]) * gv;
            }
        }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++)
            for (long k = 0; k < count; k++) dw[k * taps + tap[r] + c] += a[r][c][k];
}

// One instantiation of `block` per (rows, cols): the loops must have constant trip counts to
// keep the accumulators in registers.
#define BLOCK_CASE(R, C)                                                                                    \
    case (R - 1) * COLS + C - 1:                                                                            \
        block(x, tap, R, C, g, gImage, paddedW, xImage, outH, outW, images, count, taps, dwb);             \
        break;
#define BLOCK_CASES(R) BLOCK_CASE(R, 1) BLOCK_CASE(R, 2) BLOCK_CASE(R, 3) BLOCK_CASE(R, 4) BLOCK_CASE(R, 5) \
    BLOCK_CASE(R, 6)

AVX512 void cnn_channel_vector_conv_backward_filter(const float *xp, long inC, long paddedH, long paddedW,
                                                    const float *dyv, long outC, long kh, long kw, long outH,
                                                    long outW, long images, float *dw) {
    long taps = inC * kh * kw, kernelRows = inC * kh, plane = paddedH * paddedW, xImage = inC * plane;
    long pixels = outH * outW, gImage = cnn_channel_vector_gradient_count(outC, pixels);
    for (long b = 0; b < (outC + 15) / 16; b++) {
        const float *g = dyv + b * pixels * 16;
        long count = outC - b * 16 < 16 ? outC - b * 16 : 16;
        float *dwb = dw + b * 16 * taps;
        for (long r0 = 0; r0 < kernelRows; r0 += ROWS) {
            int rows = kernelRows - r0 < ROWS ? (int)(kernelRows - r0) : ROWS;
            for (long j0 = 0; j0 < kw; j0 += COLS) {
                int cols = kw - j0 < COLS ? (int)(kw - j0) : COLS;
                const float *x[ROWS] = {xp, xp, xp, xp};
                long tap[ROWS] = {0, 0, 0, 0};
                for (int r = 0; r < rows; r++) {
                    long ci = (r0 + r) / kh, i = (r0 + r) % kh;
                    x[r] = xp + ci * plane + i * paddedW + j0;
                    tap[r] = (ci * kh + i) * kw + j0;
                }
                switch ((rows - 1) * COLS + cols - 1) {
                    BLOCK_CASES(1) BLOCK_CASES(2) BLOCK_CASES(3) BLOCK_CASES(4)
                }
            }
        }
    }
}

long cnn_channel_vector_weight_count(long outC, long taps) { return (outC + 15) / 16 * taps * 16; }

void cnn_channel_vector_pack_weights(const float *w, long outC, long taps, float *packed) {
    memset(packed, 0, (size_t)cnn_channel_vector_weight_count(outC, taps) * sizeof(float));
    for (long oc = 0; oc < outC; oc++)
        for (long t = 0; t < taps; t++) packed[(oc / 16 * taps + t) * 16 + oc % 16] = w[oc * taps + t];
}

// Forward: register blocks of up to 4 output rows × 6 output columns of 16 output channels,
// the filter gradient's shape with pixels in place of taps. Per tap: one weight vector and
// R·C FMAs with a broadcast input operand. The sums (plus the bias, ReLU applied) go to `yv`,
// `[pixels][16]` for this channel block.
INLINE void forward_block(const float *x, long paddedW, const long *offsets, long taps, const float *wt, int rows,
                          int cols, v16f bias, int relu, float *yv, long outW) {
    v16f a[ROWS][COLS];
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) a[r][c] = splat16(0);
    for (long t = 0; t < taps; t++) {
        v16f wv = load16(wt + t * 16);
        const float *p = x + offsets[t];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) a[r][c] += splat16(p[r * paddedW + c]) * wv;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            v16f v = a[r][c] + bias;
            if (relu) v = (v16f)((v16i)v & ~(v < splat16(0))); // v < 0 ? 0 : v, NaN kept
            memcpy(yv + (r * outW + c) * 16, &v, sizeof v);
        }
}

#define FORWARD_CASE(R, C)                                                                                  \
    case (R - 1) * COLS + C - 1:                                                                            \
        forward_block(x, paddedW, offsets, taps, wt, R, C, bv, activation == 0, yv, outW);                  \
        break;
#define FORWARD_CASES(R) FORWARD_CASE(R, 1) FORWARD_CASE(R, 2) FORWARD_CASE(R, 3) FORWARD_CASE(R, 4)         \
    FORWARD_CASE(R, 5) FORWARD_CASE(R, 6)

AVX512 void cnn_channel_vector_conv_forward(const float *xp, long inC, long paddedH, long paddedW,
                                            const float *packed, long outC, long kh, long kw, long outH,
                                            long outW, const float *bias, int activation, float alpha, float *y,
                                            long *offsets, float *scratch) {
    long taps = inC * kh * kw, plane = paddedH * paddedW, pixels = outH * outW;
    long *o = offsets;
    for (long ci = 0; ci < inC; ci++)
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++) *o++ = ci * plane + i * paddedW + j;
    // Column chunks as even as 6-wide blocks allow (10 → 5 + 5, 14 → 5 + 5 + 4), rows by 4.
    long chunks = (outW + COLS - 1) / COLS, chunkW = (outW + chunks - 1) / chunks;
    for (long b = 0; b < (outC + 15) / 16; b++) {
        const float *wt = packed + b * taps * 16;
        long count = outC - b * 16 < 16 ? outC - b * 16 : 16;
        float lanes[16] = {0};
        for (long k = 0; k < count; k++) lanes[k] = bias ? bias[b * 16 + k] : 0;
        v16f bv = load16(lanes);
        for (long oh = 0; oh < outH; oh += ROWS) {
            int rows = outH - oh < ROWS ? (int)(outH - oh) : ROWS;
            for (long ow = 0; ow < outW; ow += chunkW) {
                int cols = outW - ow < chunkW ? (int)(outW - ow) : (int)chunkW;
                const float *x = xp + oh * paddedW + ow;
                float *yv = scratch + (oh * outW + ow) * 16;
                switch ((rows - 1) * COLS + cols - 1) {
                    FORWARD_CASES(1) FORWARD_CASES(2) FORWARD_CASES(3) FORWARD_CASES(4)
                }
            }
        }
        // Back to channel planes: one contiguous output row per channel.
        transpose_planes(scratch, y + b * 16 * pixels, count, pixels, 1);
        if (activation > 0)
            for (long k = 0; k < count; k++) activate_lanes(y + (b * 16 + k) * pixels, pixels, activation, alpha);
    }
}
