#include "channel_vector_convolution.h"
#include "activation_epilogue.h"
#include "isa_variants.h"

// Output channels run along the vector lanes, 16 per block: one register with AVX-512, two
// with AVX2 (the same C, `vf16` arithmetic compiled for each target: clang splits it into two
// 8-float halves). Each pass keeps a register block of output pixels (forward) or kernel taps
// (filter gradient) × 16 channels in accumulators, sized per instruction set:
// - AVX-512, up to 4 rows × 6 columns: 24 accumulators, one operand vector and the broadcast
//   input: 26 of its 32 registers, and every FMA's input operand is a broadcast load folded
//   into the FMA ({1to16}). 24 independent FMA chains cover the FMA latency (4 cycles × 2 per
//   cycle on Zen 5) with room to spare.
// - AVX2, 1 row × up to 6 columns: 6 × 2 = 12 accumulators, two operand halves and the
//   broadcast: 15 of its 16 registers. Per tap (or pixel) 2 loads, 6 broadcasts and 12 FMAs,
//   which Zen 2 and 3's three load ports keep up with; 12 chains cover 2 FMAs a cycle at 4–5
//   cycles' latency.
// The R rows of a filter-gradient block are any R of the inC·kh (channel, row) pairs, so a
// 6×5×5 filter runs as 7 blocks of 4 rows and one of 2 with AVX-512, not 6 blocks of 4 + 1.
#define MAX_ROWS 4
#define MAX_COLS 6
#define AVX2_ROWS 1
#define AVX2_COLS 6

// The bodies have no target of their own: each is inlined into an AVX-512 and an AVX2 entry
// point (isa_variants.h's targets and 16-float vector helpers; a 16-float vector may cross a
// call only between functions of one target, so every helper is always inlined).

long cnn_channel_vector_gradient_count(long outC, long pixels) { return (outC + 15) / 16 * pixels * 16; }

// Transposes 16 rows of 16 floats in registers: swap the off-diagonal 8×8 blocks, then the
// 4×4 blocks inside each, then 2×2, then single lanes (64 two-register shuffles for 256
// floats; the scalar loop it replaces took a load and a store per float, 26 µs of conv2's
// 155 µs filter gradient).
#define SWAP_BLOCKS(b, ...)                                                                                 \
    for (int i = 0; i < 16; i++)                                                                            \
        if (!(i & b)) {                                                                                     \
            vf16 lo = __builtin_shufflevector(r[i], r[i + b], __VA_ARGS__);                                 \
            r[i + b] = __builtin_shufflevector(r[i], r[i + b], HI##b);                                      \
            r[i] = lo;                                                                                      \
        }
#define HI8 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define HI4 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define HI2 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define HI1 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
INLINE void transpose16(vf16 r[16]) {
    SWAP_BLOCKS(8, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
    SWAP_BLOCKS(4, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27)
    SWAP_BLOCKS(2, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)
    SWAP_BLOCKS(1, 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30)
}

// The first `lanes` floats at p (the rest zero), and their store: a plane's last, partial 16
// pixels (only in the layout transposes, not in the FMA loops).
INLINE vf16 load_lanes(const float *p, long lanes) {
    if (lanes == 16) return load16(p);
    float t[16] = {0};
    memcpy(t, p, (size_t)lanes * sizeof(float));
    return load16(t);
}
INLINE void store_lanes(float *p, vf16 v, long lanes) { memcpy(p, &v, (size_t)lanes * sizeof(float)); }

/// Planes `src[k][pixels]` (k < count, the others zero) to pixel-major `dst[pixels][16]`, or back
/// (`toPlanes`: `dst[k][pixels]` for k < count from `src[pixels][16]`), 16 pixels at a time.
INLINE void transpose_planes(const float *src, float *dst, long count, long pixels, int toPlanes) {
    for (long p0 = 0; p0 < pixels; p0 += 16) {
        long n = pixels - p0 < 16 ? pixels - p0 : 16, rows = toPlanes ? n : count;
        vf16 r[16];
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

INLINE void gradient_body(const float *dy, long outC, long pixels, float *dyv) {
    for (long b = 0; b < (outC + 15) / 16; b++) {
        long count = outC - b * 16 < 16 ? outC - b * 16 : 16;
        transpose_planes(dy + b * 16 * pixels, dyv + b * pixels * 16, count, pixels, 0);
    }
}
TARGET_AVX512 static void gradient_avx512(const float *dy, long outC, long pixels, float *dyv) {
    gradient_body(dy, outC, pixels, dyv);
}
TARGET_AVX2 static void gradient_avx2(const float *dy, long outC, long pixels, float *dyv) {
    gradient_body(dy, outC, pixels, dyv);
}
void cnn_channel_vector_gradient(const float *dy, long outC, long pixels, float *dyv) {
    if (cnn_cpu_isa_active() == CNN_ISA_AVX512) gradient_avx512(dy, outC, pixels, dyv);
    else gradient_avx2(dy, outC, pixels, dyv);
}

// `rows` × `cols` taps (constants once inlined) × 16 output channels over every output pixel
// of `images` images; `x[r]` points at kernel row r's first tap in image 0 (its channel plane,
// row i, column j0). Adds the sums to dw, whose tap (r, c) is at `dw + tap[r] + c` and whose
// output channel k at stride `taps`.
INLINE void block(const float *const x[MAX_ROWS], const long tap[MAX_ROWS], int rows, int cols, const float *g,
                  long gImage, long paddedW, long xImage, long outH, long outW, long images, long count,
                  long taps, float *dw) {
    vf16 a[MAX_ROWS][MAX_COLS];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) a[r][c] = splat16(0);
    for (long n = 0; n < images; n++)
        for (long oh = 0; oh < outH; oh++) {
            long row = n * xImage + oh * paddedW;
            const float *gp = g + n * gImage + oh * outW * 16;
            for (long ow = 0; ow < outW; ow++) {
                vf16 gv = load16(gp + ow * 16);
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
    case (R - 1) * MAX_COLS + C - 1:                                                                        \
        block(x, tap, R, C, g, gImage, paddedW, xImage, outH, outW, images, count, taps, dwb);             \
        break;
#define BLOCK_CASES(R) BLOCK_CASE(R, 1) BLOCK_CASE(R, 2) BLOCK_CASE(R, 3) BLOCK_CASE(R, 4) BLOCK_CASE(R, 5) \
    BLOCK_CASE(R, 6)
// Blocks of up to `maxRows` kernel rows × `maxCols` kernel columns (constants once inlined:
// the blocks of 2–4 rows exist in the AVX-512 build only). The entry points below hand this
// body scalars and pointers only: a 16-float vector may cross a call only between functions of
// one target, and the body's own calls are all inlined.
INLINE void backward_filter_body(const float *xp, long inC, long paddedH, long paddedW, const float *dyv, long outC,
                                 long kh, long kw, long outH, long outW, long images, float *dw, int maxRows,
                                 int maxCols) {
    long taps = inC * kh * kw, kernelRows = inC * kh, plane = paddedH * paddedW, xImage = inC * plane;
    long pixels = outH * outW, gImage = cnn_channel_vector_gradient_count(outC, pixels);
    for (long b = 0; b < (outC + 15) / 16; b++) {
        const float *g = dyv + b * pixels * 16;
        long count = outC - b * 16 < 16 ? outC - b * 16 : 16;
        float *dwb = dw + b * 16 * taps;
        for (long r0 = 0; r0 < kernelRows; r0 += maxRows) {
            int rows = kernelRows - r0 < maxRows ? (int)(kernelRows - r0) : maxRows;
            for (long j0 = 0; j0 < kw; j0 += maxCols) {
                int cols = kw - j0 < maxCols ? (int)(kw - j0) : maxCols;
                const float *x[MAX_ROWS] = {xp, xp, xp, xp};
                long tap[MAX_ROWS] = {0, 0, 0, 0};
                for (int r = 0; r < rows; r++) {
                    long ci = (r0 + r) / kh, i = (r0 + r) % kh;
                    x[r] = xp + ci * plane + i * paddedW + j0;
                    tap[r] = (ci * kh + i) * kw + j0;
                }
                switch ((rows - 1) * MAX_COLS + cols - 1) {
                    BLOCK_CASES(1)
                default:
                    if (maxRows > 1) switch ((rows - 1) * MAX_COLS + cols - 1) {
                        BLOCK_CASES(2) BLOCK_CASES(3) BLOCK_CASES(4)
                    }
                }
            }
        }
    }
}

TARGET_AVX512 static void backward_filter_avx512(const float *xp, long inC, long paddedH, long paddedW, const float *dyv,
                                          long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyv, outC, kh, kw, outH, outW, images, dw, MAX_ROWS, MAX_COLS);
}
TARGET_AVX2 static void backward_filter_avx2(const float *xp, long inC, long paddedH, long paddedW, const float *dyv,
                                      long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyv, outC, kh, kw, outH, outW, images, dw, AVX2_ROWS, AVX2_COLS);
}

void cnn_channel_vector_conv_backward_filter(const float *xp, long inC, long paddedH, long paddedW,
                                             const float *dyv, long outC, long kh, long kw, long outH,
                                             long outW, long images, float *dw) {
    if (cnn_cpu_isa_active() == CNN_ISA_AVX512)
        backward_filter_avx512(xp, inC, paddedH, paddedW, dyv, outC, kh, kw, outH, outW, images, dw);
    else backward_filter_avx2(xp, inC, paddedH, paddedW, dyv, outC, kh, kw, outH, outW, images, dw);
}

long cnn_channel_vector_weight_count(long outC, long taps) { return (outC + 15) / 16 * taps * 16; }

void cnn_channel_vector_pack_weights(const float *w, long outC, long taps, float *packed) {
    memset(packed, 0, (size_t)cnn_channel_vector_weight_count(outC, taps) * sizeof(float));
    for (long oc = 0; oc < outC; oc++)
        for (long t = 0; t < taps; t++) packed[(oc / 16 * taps + t) * 16 + oc % 16] = w[oc * taps + t];
}

// Forward: register blocks of output rows × output columns of 16 output channels, the filter
// gradient's shape with pixels in place of taps. Per tap: one weight vector and R·C FMAs with
// a broadcast input operand. The sums (plus the bias, ReLU applied) go to `yv`, `[pixels][16]`
// for this channel block.
INLINE void forward_block(const float *x, long paddedW, const long *offsets, long taps, const float *wt, int rows,
                          int cols, vf16 bias, int relu, float *yv, long outW) {
    vf16 a[MAX_ROWS][MAX_COLS];
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) a[r][c] = splat16(0);
    for (long t = 0; t < taps; t++) {
        vf16 wv = load16(wt + t * 16);
        const float *p = x + offsets[t];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) a[r][c] += splat16(p[r * paddedW + c]) * wv;
    }
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            vf16 v = a[r][c] + bias;
            if (relu) v = (vf16)((vi16)v & ~(v < splat16(0))); // v < 0 ? 0 : v, NaN kept
            memcpy(yv + (r * outW + c) * 16, &v, sizeof v);
        }
}

#define FORWARD_CASE(R, C)                                                                                  \
    case (R - 1) * MAX_COLS + C - 1:                                                                        \
        forward_block(x, paddedW, offsets, taps, wt, R, C, bv, activation == 0, yv, outW);                  \
        break;
#define FORWARD_CASES(R) FORWARD_CASE(R, 1) FORWARD_CASE(R, 2) FORWARD_CASE(R, 3) FORWARD_CASE(R, 4)         \
    FORWARD_CASE(R, 5) FORWARD_CASE(R, 6)
// Blocks of up to `maxRows` output rows × `maxCols` columns; called as backward_filter_body is.
INLINE void forward_body(const float *xp, long inC, long paddedH, long paddedW, const float *packed, long outC,
                         long kh, long kw, long outH, long outW, const float *bias, int activation, float alpha,
                         float *y, long *offsets, float *scratch, int maxRows, int maxCols) {
    long taps = inC * kh * kw, plane = paddedH * paddedW, pixels = outH * outW;
    long *o = offsets;
    for (long ci = 0; ci < inC; ci++)
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++) *o++ = ci * plane + i * paddedW + j;
    // Column chunks as even as the widest block allows (10 → 5 + 5, 14 → 5 + 5 + 4).
    long chunks = (outW + maxCols - 1) / maxCols, chunkW = (outW + chunks - 1) / chunks;
    for (long b = 0; b < (outC + 15) / 16; b++) {
        const float *wt = packed + b * taps * 16;
        long count = outC - b * 16 < 16 ? outC - b * 16 : 16;
        float lanes[16] = {0};
        for (long k = 0; k < count; k++) lanes[k] = bias ? bias[b * 16 + k] : 0;
        vf16 bv = load16(lanes);
        for (long oh = 0; oh < outH; oh += maxRows) {
            int rows = outH - oh < maxRows ? (int)(outH - oh) : maxRows;
            for (long ow = 0; ow < outW; ow += chunkW) {
                int cols = outW - ow < chunkW ? (int)(outW - ow) : (int)chunkW;
                const float *x = xp + oh * paddedW + ow;
                float *yv = scratch + (oh * outW + ow) * 16;
                switch ((rows - 1) * MAX_COLS + cols - 1) {
                    FORWARD_CASES(1)
                default:
                    if (maxRows > 1) switch ((rows - 1) * MAX_COLS + cols - 1) {
                        FORWARD_CASES(2) FORWARD_CASES(3) FORWARD_CASES(4)
                    }
                }
            }
        }
        // Back to channel planes: one contiguous output row per channel.
        transpose_planes(scratch, y + b * 16 * pixels, count, pixels, 1);
        if (activation > 0)
            for (long k = 0; k < count; k++) activate_lanes(y + (b * 16 + k) * pixels, pixels, activation, alpha);
    }
}

#define FORWARD_PARAMS                                                                                      \
    (const float *xp, long inC, long paddedH, long paddedW, const float *packed, long outC, long kh, long kw, \
     long outH, long outW, const float *bias, int activation, float alpha, float *y, long *offsets,          \
     float *scratch)
#define FORWARD_ARGS                                                                                        \
    xp, inC, paddedH, paddedW, packed, outC, kh, kw, outH, outW, bias, activation, alpha, y, offsets, scratch
TARGET_AVX512 static void forward_avx512 FORWARD_PARAMS { forward_body(FORWARD_ARGS, MAX_ROWS, MAX_COLS); }
TARGET_AVX2 static void forward_avx2 FORWARD_PARAMS { forward_body(FORWARD_ARGS, AVX2_ROWS, AVX2_COLS); }

void cnn_channel_vector_conv_forward(const float *xp, long inC, long paddedH, long paddedW, const float *packed,
                                     long outC, long kh, long kw, long outH, long outW, const float *bias,
                                     int activation, float alpha, float *y, long *offsets, float *scratch) {
    if (cnn_cpu_isa_active() == CNN_ISA_AVX512) forward_avx512(FORWARD_ARGS);
    else forward_avx2(FORWARD_ARGS);
}
