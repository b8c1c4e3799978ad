#include "blocked_convolution.h"
#include "cpu_isa.h"
#include <math.h>

#include <string.h>

// GCC/Clang vector of 8 floats, loaded and stored unaligned through memcpy. The loops are
// written once (always-inlined bodies) and compiled twice: with AVX2+FMA, where `a += v * s`
// becomes one vfmadd per vector, and for the baseline target, where it is two SSE halves.
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

// 16 floats: one AVX-512 register. Only the AVX-512 build uses it (`wide` below); the other
// builds inline the same bodies with `wide` 0, so those loops vanish from them.
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

// Writes the first `lanes` floats of `v` to `dst`.
INLINE void store_lanes(float *dst, v8f v, long lanes) {
    if (lanes == 8) {
        store8(dst, v);
    } else {
        float tmp[8];
        store8(tmp, v);
        memcpy(dst, tmp, (size_t)lanes * sizeof(float));
    }
}

// Two output rows × 8 columns × OB channels. Per tap: one input vector per row, OB broadcast
// weights, 12 FMAs. The taps run as one flat loop over precomputed input offsets: nested
// (channel, row, column) loops made clang shuffle and spill the accumulators.
INLINE void forward_tile2(const float *x, long paddedW, const long *offsets, long taps, const float *wt,
                          v8f out[2][OB]) {
    v8f a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    v8f b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    for (long t = 0; t < taps; t++, wt += OB) {
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
INLINE void forward_tile1(const float *x, const long *offsets, long taps, const float *wt, v8f out[2][OB]) {
    v8f a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    for (long t = 0; t < taps; t++, wt += OB) {
        v8f u = load8(x + offsets[t]);
        a0 += u * splat(wt[0]); a1 += u * splat(wt[1]); a2 += u * splat(wt[2]);
        a3 += u * splat(wt[3]); a4 += u * splat(wt[4]); a5 += u * splat(wt[5]);
    }
    out[0][0] = a0; out[0][1] = a1; out[0][2] = a2; out[0][3] = a3; out[0][4] = a4; out[0][5] = a5;
}

// forward_tile2 and forward_tile1 at 16 columns, for AVX-512: the same instructions per tap
// cover twice the outputs. The 12 accumulators plus operands leave half of its 32 registers free.
INLINE void forward_tile2_16(const float *x, long paddedW, const long *offsets, long taps, const float *wt,
                             v16f out[2][OB]) {
    v16f a0 = splat16(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    v16f b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    for (long t = 0; t < taps; t++, wt += OB) {
        const float *p = x + offsets[t];
        v16f u = load16(p), v = load16(p + paddedW), w;
        w = splat16(wt[0]); a0 += u * w; b0 += v * w;
        w = splat16(wt[1]); a1 += u * w; b1 += v * w;
        w = splat16(wt[2]); a2 += u * w; b2 += v * w;
        w = splat16(wt[3]); a3 += u * w; b3 += v * w;
        w = splat16(wt[4]); a4 += u * w; b4 += v * w;
        w = splat16(wt[5]); a5 += u * w; b5 += v * w;
    }
    out[0][0] = a0; out[0][1] = a1; out[0][2] = a2; out[0][3] = a3; out[0][4] = a4; out[0][5] = a5;
    out[1][0] = b0; out[1][1] = b1; out[1][2] = b2; out[1][3] = b3; out[1][4] = b4; out[1][5] = b5;
}

INLINE void forward_tile1_16(const float *x, const long *offsets, long taps, const float *wt, v16f out[2][OB]) {
    v16f a0 = splat16(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    for (long t = 0; t < taps; t++, wt += OB) {
        v16f u = load16(x + offsets[t]);
        a0 += u * splat16(wt[0]); a1 += u * splat16(wt[1]); a2 += u * splat16(wt[2]);
        a3 += u * splat16(wt[3]); a4 += u * splat16(wt[4]); a5 += u * splat16(wt[5]);
    }
    out[0][0] = a0; out[0][1] = a1; out[0][2] = a2; out[0][3] = a3; out[0][4] = a4; out[0][5] = a5;
}

// The fused activation, on the `lanes` values just stored (still in L1); the same formulas as
// the CPU backend's activationForward, so a fused and an unfused pass agree.
INLINE void activate_lanes(float *p, long lanes, int code, float alpha) {
    for (long l = 0; l < lanes; l++) {
        float v = p[l];
        switch (code) {
        case 0: p[l] = v < 0 ? 0 : v; break;
        case 1: p[l] = v > 0 ? v : alpha * v; break;
        case 2: p[l] = v > 0 ? v : alpha * expm1f(v); break;
        case 3: p[l] = 1 / (1 + expf(-v)); break;
        default: p[l] = tanhf(v); break;
        }
    }
}

// With `wide`, column blocks run 16 wide while 16 columns fit in round8(outW) (what the padding
// covers: 28 → 16 + 16, 10 → 16), and the rest 8 wide.
INLINE void forward_body(const float *xp, long inC, long paddedH, long paddedW, const float *packed,
                         long outC, long kh, long kw, long outH, long outW, const float *bias, int activation,
                         float alpha, float *y, long *offsets, int wide) {
    long taps = inC * kh * kw, plane = paddedH * paddedW, outPlane = outH * outW;
    long *o = offsets;
    for (long ci = 0; ci < inC; ci++)
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++) *o++ = ci * plane + i * paddedW + j;
    for (long ob = 0; ob < (outC + OB - 1) / OB; ob++) {
        const float *wb = packed + ob * taps * OB;
        long count = outC - ob * OB < OB ? outC - ob * OB : OB;
        float *yb = y + ob * OB * outPlane;
        for (long oh = 0; oh < outH; oh += 2) {
            int rows = oh + 2 <= outH ? 2 : 1;
            long ow = 0;
            if (wide)
                for (; ow + 16 <= round8(outW); ow += 16) {
                    v16f acc[2][OB];
                    const float *x = xp + oh * paddedW + ow;
                    if (rows == 2) forward_tile2_16(x, paddedW, offsets, taps, wb, acc);
                    else forward_tile1_16(x, offsets, taps, wb, acc);
                    long lanes = outW - ow < 16 ? outW - ow : 16;
                    for (int r = 0; r < rows; r++)
                        for (long k = 0; k < count; k++) {
                            v16f v = acc[r][k] + splat16(bias ? bias[ob * OB + k] : 0);
                            float *p = yb + k * outPlane + (oh + r) * outW + ow;
                            if (lanes == 16) {
                                memcpy(p, &v, sizeof v);
                            } else {
                                float tmp[16];
                                memcpy(tmp, &v, sizeof v);
                                memcpy(p, tmp, (size_t)lanes * sizeof(float));
                            }
                            if (activation >= 0) activate_lanes(p, lanes, activation, alpha);
                        }
                }
            for (; ow < outW; ow += 8) {
                v8f acc[2][OB];
                const float *x = xp + oh * paddedW + ow;
                if (rows == 2) forward_tile2(x, paddedW, offsets, taps, wb, acc);
                else forward_tile1(x, offsets, taps, wb, acc);
                long lanes = outW - ow < 8 ? outW - ow : 8;
                for (int r = 0; r < rows; r++)
                    for (long k = 0; k < count; k++) {
                        v8f b = splat(bias ? bias[ob * OB + k] : 0);
                        float *p = yb + k * outPlane + (oh + r) * outW + ow;
                        store_lanes(p, acc[r][k] + b, lanes);
                        if (activation >= 0) activate_lanes(p, lanes, activation, alpha);
                    }
            }
        }
    }
}

// Two taps × OB output channels over `pixels` vectors (whole padded rows of every image):
// per vector, two input loads and OB gradient loads feed 12 FMAs.
// With `wide` (AVX-512), each row runs 16 columns per step while 16 fit in rowW and 8 after;
// the 16-lane sums fold into the 8-lane ones at the end.
INLINE void backward_filter_taps2(const float *x0, const float *x1, const float *g, long gPlane, long outH,
                                  long paddedW, long rowW, long images, long xImage, long dyImage, v8f out[2][OB],
                                  int wide) {
    v8f a0 = splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0;
    v8f b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0;
    v16f c0 = splat16(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    v16f d0 = c0, d1 = c0, d2 = c0, d3 = c0, d4 = c0, d5 = c0;
    long wideW = wide ? rowW / 16 * 16 : 0;
    for (long n = 0; n < images; n++) {
        for (long oh = 0; oh < outH; oh++) {
            const float *u0 = x0 + n * xImage + oh * paddedW, *u1 = x1 + n * xImage + oh * paddedW;
            const float *gp = g + n * dyImage + oh * rowW;
            for (long ow = 0; ow < wideW; ow += 16) {
                v16f u = load16(u0 + ow), v = load16(u1 + ow), gv;
                gv = load16(gp + ow); c0 += u * gv; d0 += v * gv;
                gv = load16(gp + gPlane + ow); c1 += u * gv; d1 += v * gv;
                gv = load16(gp + 2 * gPlane + ow); c2 += u * gv; d2 += v * gv;
                gv = load16(gp + 3 * gPlane + ow); c3 += u * gv; d3 += v * gv;
                gv = load16(gp + 4 * gPlane + ow); c4 += u * gv; d4 += v * gv;
                gv = load16(gp + 5 * gPlane + ow); c5 += u * gv; d5 += v * gv;
            }
            for (long ow = wideW; ow < rowW; ow += 8) {
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
    if (wide) {
        a0 += fold16(c0); a1 += fold16(c1); a2 += fold16(c2); a3 += fold16(c3); a4 += fold16(c4); a5 += fold16(c5);
        b0 += fold16(d0); b1 += fold16(d1); b2 += fold16(d2); b3 += fold16(d3); b4 += fold16(d4); b5 += fold16(d5);
    }
    out[0][0] = a0; out[0][1] = a1; out[0][2] = a2; out[0][3] = a3; out[0][4] = a4; out[0][5] = a5;
    out[1][0] = b0; out[1][1] = b1; out[1][2] = b2; out[1][3] = b3; out[1][4] = b4; out[1][5] = b5;
}

// Channels past `count` in the last block read the zero-padded gradient channels: wasted
// lanes, never stored. An odd last tap runs paired with itself.
INLINE void backward_filter_body(const float *xp, long inC, long paddedH, long paddedW, const float *dyp,
                                 long outC, long kh, long kw, long outH, long outW, long images, float *dw,
                                 int wide) {
    long taps = inC * kh * kw, plane = paddedH * paddedW, rowW = round8(outW), gPlane = outH * rowW;
    long dyImage = cnn_padded_gradient_channels(outC) * gPlane, xImage = inC * plane;
    for (long ob = 0; ob < outC; ob += OB) {
        long count = outC - ob < OB ? outC - ob : OB;
        for (long tap = 0; tap < taps; tap += 2) {
            long t1 = tap + 1 < taps ? tap + 1 : tap;
            const float *x0 = xp + tap / (kh * kw) * plane + tap / kw % kh * paddedW + tap % kw;
            const float *x1 = xp + t1 / (kh * kw) * plane + t1 / kw % kh * paddedW + t1 % kw;
            v8f acc[2][OB];
            backward_filter_taps2(x0, x1, dyp + ob * gPlane, gPlane, outH, paddedW, rowW, images, xImage, dyImage, acc, wide);
            for (long k = 0; k < count; k++) {
                dw[(ob + k) * taps + tap] += hsum(acc[0][k]);
                if (t1 != tap) dw[(ob + k) * taps + t1] += hsum(acc[1][k]);
            }
        }
    }
}

AVX512 static void forward_avx512(const float *xp, long inC, long paddedH,
    long paddedW, const float *packed, long outC, long kh, long kw, long outH, long outW, const float *bias,
    int activation, float alpha, float *y, long *offsets) {
    forward_body(xp, inC, paddedH, paddedW, packed, outC, kh, kw, outH, outW, bias, activation, alpha, y, offsets, 1);
}

AVX2_FMA static void forward_avx2(const float *xp, long inC, long paddedH,
    long paddedW, const float *packed, long outC, long kh, long kw, long outH, long outW, const float *bias,
    int activation, float alpha, float *y, long *offsets) {
    forward_body(xp, inC, paddedH, paddedW, packed, outC, kh, kw, outH, outW, bias, activation, alpha, y, offsets, 0);
}

static void forward_baseline(const float *xp, long inC, long paddedH, long paddedW, const float *packed,
                             long outC, long kh, long kw, long outH, long outW, const float *bias, int activation,
                             float alpha, float *y, long *offsets) {
    forward_body(xp, inC, paddedH, paddedW, packed, outC, kh, kw, outH, outW, bias, activation, alpha, y, offsets, 0);
}

AVX512 static void backward_filter_avx512(const float *xp, long inC, long paddedH,
    long paddedW, const float *dyp, long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw, 1);
}

AVX2_FMA static void backward_filter_avx2(const float *xp, long inC, long paddedH,
    long paddedW, const float *dyp, long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw, 0);
}

static void backward_filter_baseline(const float *xp, long inC, long paddedH, long paddedW, const float *dyp,
                                     long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    backward_filter_body(xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw, 0);
}

// cnn_cpu_isa_active: the widest instruction set of this CPU (read once, by the runtime's
// constructor), unless a test capped it to check the narrower builds.
void cnn_blocked_conv_forward(const float *xp, long inC, long paddedH, long paddedW, const float *packed,
                              long outC, long kh, long kw, long outH, long outW, const float *bias, int activation,
                              float alpha, float *y, long *offsets) {
    int isa = cnn_cpu_isa_active();
    (isa == CNN_ISA_AVX512 ? forward_avx512 : isa == CNN_ISA_AVX2 ? forward_avx2 : forward_baseline)(
        xp, inC, paddedH, paddedW, packed, outC, kh, kw, outH, outW, bias, activation, alpha, y, offsets);
}

void cnn_blocked_conv_backward_filter(const float *xp, long inC, long paddedH, long paddedW, const float *dyp,
                                      long outC, long kh, long kw, long outH, long outW, long images, float *dw) {
    int isa = cnn_cpu_isa_active();
    (isa == CNN_ISA_AVX512 ? backward_filter_avx512 : isa == CNN_ISA_AVX2 ? backward_filter_avx2
                                                                          : backward_filter_baseline)(
        xp, inC, paddedH, paddedW, dyp, outC, kh, kw, outH, outW, images, dw);
}
