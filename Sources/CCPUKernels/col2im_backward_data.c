#include "col2im_backward_data.h"
#include "isa_variants.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// Column-matrix rows per register block. AVX-512 runs 6 rows × 4 pixel vectors: 24
// accumulators, 4 dy vectors and a broadcast weight, 29 of its 32 registers, one broadcast per
// 4 FMAs. The other builds run 6 rows × 1 vector (12 of AVX2's 16 registers, as the blocked
// kernel's 6-channel blocks).
#define RB 6

INLINE long round16(long n) { return (n + 15) & ~15L; }
INLINE long padded_rows(long inC, long kh, long kw) { return (inC * kh * kw + RB - 1) / RB * RB; }

// Floats before and after the column matrix: the col2im reads whole 16-lane vectors shifted
// up to 15 pixels before a row's start and 15 past its last pixel (then masks them off).
#define MARGIN 16

long cnn_col2im_weight_count(long outC, long inC, long kh, long kw) { return padded_rows(inC, kh, kw) * outC; }

void cnn_col2im_pack_weights(const float *w, long outC, long inC, long kh, long kw, float *packed) {
    long taps = inC * kh * kw, rows = padded_rows(inC, kh, kw);
    for (long rb = 0; rb < rows; rb += RB)
        for (long oc = 0; oc < outC; oc++)
            for (long r = 0; r < RB; r++) packed[rb * outC + oc * RB + r] = rb + r < taps ? w[oc * taps + rb + r] : 0;
}

long cnn_col2im_scratch_count(long outC, long inC, long kh, long kw, long outH, long outW) {
    long plane = round16(outH * outW);
    return outC * plane + MARGIN + padded_rows(inC, kh, kw) * plane + MARGIN;
}

// RB column-matrix rows × `nv` (4, 3, 2 or 1: a constant once inlined) vectors of 16 pixels:
// per output channel of dy, `nv` loads and RB broadcast weights for RB·nv FMAs. `dy` rows are
// `plane` floats apart, as are the `col` rows written.
INLINE void gemm_rows(const float *weights, const float *dy, long plane, long outC, int nv, float *col) {
    vf16 a[RB][4];
    for (int r = 0; r < RB; r++)
        for (int v = 0; v < 4; v++) a[r][v] = splat16(0);
    for (long oc = 0; oc < outC; oc++) {
        const float *d = dy + oc * plane, *wt = weights + oc * RB;
        vf16 u[4];
        for (int v = 0; v < nv; v++) u[v] = load16(d + 16 * v);
        for (int r = 0; r < RB; r++) {
            vf16 s = splat16(wt[r]);
            for (int v = 0; v < nv; v++) a[r][v] += s * u[v];
        }
    }
    for (int r = 0; r < RB; r++)
        for (int v = 0; v < nv; v++) store16(col + r * plane + 16 * v, a[r][v]);
}

// The first `lanes` floats of `v`, from the AVX-512 build only (the others copy them).
#if defined(__x86_64__) || defined(__i386__)
TARGET_AVX512 static inline void store16_masked(float *dst, const vf16 *v, long lanes) {
    _mm512_mask_storeu_ps(dst, (__mmask16)((1u << lanes) - 1), *(const __m512 *)v);
}
#else
static inline void store16_masked(float *dst, const vf16 *v, long lanes) { memcpy(dst, v, (size_t)lanes * sizeof(float)); }
#endif

// Row ih of `count` (6, 4, 2 or 1: a constant once inlined) dx channels from ci on, columns
// [c0, c0 + lanes): each lane of kernel column j reads col[(c·kh + i)·kw + j][oh·outW + c0 +
// lane + padLeft - j] for oh = ih + padTop - i, kept where that column lies in dy. The
// channels' sums are independent chains, so one add's latency does not serialize the row: with
// 6 chains LeNet's conv2 ran 15% faster than with 4 + 2.
INLINE void col2im_row(const float *col, long plane, long ci, int count, long kh, long kw, long outH, long outW,
                       long ih, long inH, long inW, long padTop, long padLeft, long c0, long lanes,
                       float *dx, int isa) {
    const vi16 lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    long i0 = ih + padTop - outH + 1, i1 = ih + padTop + 1;
    if (i0 < 0) i0 = 0;
    if (i1 > kh) i1 = kh;
    vf16 acc[6];
    for (int k = 0; k < 6; k++) acc[k] = splat16(0);
    for (long j = 0; j < kw; j++) {
        long shift = c0 + padLeft - j;
        if (shift >= outW || shift + 15 < 0) continue;
        vi16 ow = lane + splat16i((int)shift);
        vi16 keep = (ow >= splat16i(0)) & (ow < splat16i((int)outW));
        for (long i = i0; i < i1; i++) {
            const float *p = col + ((ci * kh + i) * kw + j) * plane + (ih + padTop - i) * outW + shift;
            for (int k = 0; k < count; k++) acc[k] += (vf16)((vi16)load16(p + k * kh * kw * plane) & keep);
        }
    }
    for (int k = 0; k < count; k++) {
        float *q = dx + ((ci + k) * inH + ih) * inW + c0;
        if (lanes == 16) {
            store16(q, acc[k]);
        } else if (isa == CNN_ISA_AVX512) {
            store16_masked(q, &acc[k], lanes);
        } else {
            float t[16];
            store16(t, acc[k]);
            memcpy(q, t, (size_t)lanes * sizeof(float));
        }
    }
}

INLINE void col2im_backward_data_body(const float *dy, const float *packed, long outC, long inC, long kh, long kw,
                                      long outH, long outW, long inH, long inW, long padTop, long padLeft,
                                      float *dx, float *scratch, int isa) {
    long pixels = outH * outW, plane = round16(pixels), vectors = plane / 16, rows = padded_rows(inC, kh, kw);
    float *dyc = scratch, *col = scratch + outC * plane + MARGIN;
    // dy's planes padded to whole vectors (zeros past the last pixel), so every load is whole
    // and none runs past the end of dy.
    for (long oc = 0; oc < outC; oc++) {
        memcpy(dyc + oc * plane, dy + oc * pixels, (size_t)pixels * sizeof(float));
        memset(dyc + oc * plane + pixels, 0, (size_t)(plane - pixels) * sizeof(float));
    }
    for (long rb = 0; rb < rows; rb += RB) {
        const float *wb = packed + rb * outC;
        float *c = col + rb * plane;
        long v = 0;
        if (isa == CNN_ISA_AVX512) {
            for (; v + 4 <= vectors; v += 4) gemm_rows(wb, dyc + 16 * v, plane, outC, 4, c + 16 * v);
            if (vectors - v == 3) gemm_rows(wb, dyc + 16 * v, plane, outC, 3, c + 16 * v);
            else if (vectors - v == 2) gemm_rows(wb, dyc + 16 * v, plane, outC, 2, c + 16 * v);
            else if (vectors - v == 1) gemm_rows(wb, dyc + 16 * v, plane, outC, 1, c + 16 * v);
        } else {
            for (; v < vectors; v++) gemm_rows(wb, dyc + 16 * v, plane, outC, 1, c + 16 * v);
        }
    }
    for (long ih = 0; ih < inH; ih++)
        for (long c0 = 0; c0 < inW; c0 += 16) {
            long lanes = inW - c0 < 16 ? inW - c0 : 16, ci = 0;
#define ROW(count) \
    col2im_row(col, plane, ci, count, kh, kw, outH, outW, ih, inH, inW, padTop, padLeft, c0, lanes, dx, isa)
            for (; ci + 6 <= inC; ci += 6) ROW(6);
            if (ci + 4 <= inC) ROW(4), ci += 4;
            if (ci + 2 <= inC) ROW(2), ci += 2;
            if (ci < inC) ROW(1);
#undef ROW
        }
}

#define COL2IM_PARAMS                                                                                       \
    (const float *dy, const float *packed, long outC, long inC, long kh, long kw, long outH, long outW,      \
     long inH, long inW, long padTop, long padLeft, float *dx, float *scratch)
#define COL2IM_ARGS dy, packed, outC, inC, kh, kw, outH, outW, inH, inW, padTop, padLeft, dx, scratch

TARGET_AVX512 static void col2im_avx512 COL2IM_PARAMS { col2im_backward_data_body(COL2IM_ARGS, CNN_ISA_AVX512); }
TARGET_AVX2 static void col2im_avx2 COL2IM_PARAMS { col2im_backward_data_body(COL2IM_ARGS, CNN_ISA_AVX2); }
static void col2im_baseline COL2IM_PARAMS { col2im_backward_data_body(COL2IM_ARGS, CNN_ISA_BASELINE); }

void cnn_col2im_backward_data COL2IM_PARAMS {
    switch (cnn_cpu_isa_active()) {
    case CNN_ISA_AVX512: col2im_avx512(COL2IM_ARGS); break;
    case CNN_ISA_AVX2: col2im_avx2(COL2IM_ARGS); break;
    default: col2im_baseline(COL2IM_ARGS); break;
    }
}
