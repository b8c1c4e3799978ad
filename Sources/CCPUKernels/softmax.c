#include "softmax.h"
#include "isa_variants.h"
#include <math.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/// e^x on 16 lanes for x ≤ 0 (or NaN), portable (the baseline build, and every build off x86;
/// AVX2 and AVX-512 use the table forms below): 2^n·e^r with n = round(x·log2 e),
/// |r| ≤ ln 2 / 2, e^r from a degree-6 polynomial 1 + r + r²·q(r) (q fitted for relative error
/// on |r| ≤ ln 2 / 2: 3·10⁻⁹ in exact arithmetic; the whole function within 8.4·10⁻⁸ of e^x in
/// float, as close as the degree-7 Cephes polynomial it replaced, with one multiply-add fewer);
/// n is rounded by adding and removing 1.5·2²³ (no rounding instruction on the baseline
/// target), and 2^n is built from its exponent bits. Softmax only takes e^(x − max), so there
/// is no overflow to clamp; below −87.3 the result is 0 (the lanes' arithmetic there is garbage
/// and replaced), and NaN propagates through the arithmetic. Two clamps and a NaN select fewer
/// than a general e^x: this is the loop's whole cost.
INLINE vf16 exp16_nonpositive(vf16 x) {
    // 1.5·2²³ + 127: the sum's low mantissa bits are n + 127, so shifting its bits left by 23
    // leaves 2^n's exponent field (no integer subtract and add). The odd 127 cannot change the
    // rounding: a tie needs x·log2 e to end in exactly .5, which no float of magnitude under
    // 2²² times this log2 e does.
    vf16 magic = splat16(12583039.0f);
    vf16 shifted = x * splat16(1.44269504f) + magic;
    vf16 n = shifted - magic;
    // ln 2 split in two so that n·ln 2 is subtracted without rounding away r's low bits.
    vf16 r = x - n * splat16(0.693359375f);
    r = r + n * splat16(2.12194440e-4f);
    vf16 p = splat16(1.3815577840e-3f);
    p = p * r + splat16(8.3687463775e-3f);
    p = p * r + splat16(4.1668370366e-2f);
    p = p * r + splat16(1.6666519642e-1f);
    p = p * r + splat16(4.9999994040e-1f);
    p = p * (r * r) + r + splat16(1);
    vf16 result = p * (vf16)((vi16)shifted << 23);
    return select16(x < splat16(-87.3f), splat16(0), result);
}

#if defined(__x86_64__) || defined(__i386__)
// The table forms' bit arithmetic is unsigned: shifted and added bits wrap, as they must in
// the lanes that are zeroed afterwards.
typedef unsigned vu16 __attribute__((vector_size(64)));
typedef float vf8 __attribute__((vector_size(32)));
typedef unsigned vu8 __attribute__((vector_size(32)));

/// e^x on 16 lanes for x ≤ 0 (or NaN), AVX-512: 2^(k/16)·e^r with k = round(x·16·log2 e) and
/// |r| ≤ ln 2 / 32, 2^(j/16) (j = k mod 16) taken from a 16-entry table in one register by
/// `vpermps`, e^r = 1 + r + r²·(c2 + c3·r) (fitted here for relative error on |r| ≤ ln 2 / 32:
/// 1.6·10⁻⁹ in exact arithmetic). The portable form's degree-6 polynomial spent 10 of its 15
/// vector instructions on the two multiply-add pipes, which bound the loop; this one spends 7
/// (the rounding, two for r, three for the polynomial, one to scale), the table look-up and the
/// exponent's shift and add running on the other pipes: 0.72× the time per value on one Zen 5
/// core. Over every float in [−87.33, −0] against double e^x its largest relative error is
/// 1.07·10⁻⁷ (the portable form's 8.3·10⁻⁸: the rounded table entry and the final rounding add
/// up). Below −87.33 the result is 0 (2^(k/16) would leave the normal range; the portable form
/// gives 0 below −87.3), NaN propagates through r. A 32-entry table (`vpermt2ps`) with a degree-2
/// polynomial saves one more multiply-add but measured only 0.95× the time, with up to twice the
/// polynomial's error: not used.
TARGET_AVX512 INLINE vf16 exp16_table_avx512(vf16 x) {
    // Adding 1.5·2²³ rounds to an integer and leaves the sum's low mantissa bits k in two's
    // complement, so its bits shifted left by 19 are m·2²³ + j·2¹⁹ for k = 16m + j: m added to
    // an exponent field, with j in the mantissa's top four bits, which the table's entries have
    // subtracted in advance. (Scalars in vector arithmetic are splatted: splat16 is not built
    // for this target.)
    vf16 shifted = x * 23.0831206542f + 12582912.0f;
    vf16 k = shifted - 12582912.0f;
    // ln 2 / 16 split in two (9 significant bits, then the rest), so that k·(ln 2 / 16) is
    // subtracted without rounding away r's low bits.
    vf16 r = x - k * (0.693359375f / 16);
    r = r + k * (2.12194440e-4f / 16);
    vf16 powers = {0x1p+0f,        0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f, 0x1.3dea64p+0f,
                   0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
                   0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f};
    vu16 j = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    vf16 table = (vf16)((vu16)powers - (j << 19));
    // vpermps reads each index's low four bits: j.
    vu16 bits = (vu16)shifted;
    vf16 scale = (vf16)((vu16)_mm512_permutexvar_ps((__m512i)bits, (__m512)table) + (bits << 19));
    vf16 q = (r * 1.66667193e-1f + 5.00016153e-1f) * (r * r) + r;
    // Lanes of x ≥ −87.33 or NaN keep scale·(1 + q); the others get 0.
    __mmask16 kept = _mm512_cmp_ps_mask((__m512)x, _mm512_set1_ps(-87.33f), _CMP_NLT_UQ);
    return (vf16)_mm512_maskz_fmadd_ps(kept, (__m512)scale, (__m512)q, (__m512)scale);
}

/// e^x on 16 lanes for x ≤ 0 (or NaN), AVX2: exp16_table_avx512's method with AVX2's 8-lane
/// `vpermps`, so 8 entries 2^(j/8) for k = round(x·8·log2 e), one look-up per half, |r| ≤ ln 2 /
/// 16 and the polynomial fitted there (2.6·10⁻⁸ in float coefficients). Over every float in
/// [−87.33, −0] against double e^x: largest relative error 1.12·10⁻⁷; 0.79–0.80× the time of
/// the portable form in the AVX2 build on one Zen 5 core. 0 below −87.33, NaN propagates.
TARGET_AVX2 INLINE vf16 exp16_table_avx2(vf16 x) {
    // As in exp16_table_avx512, with the shift by 20: m·2²³ + j·2²⁰ for k = 8m + j.
    vf16 shifted = x * 11.5415603271f + 12582912.0f;
    vf16 k = shifted - 12582912.0f;
    vf16 r = x - k * (0.693359375f / 8);
    r = r + k * (2.12194440e-4f / 8);
    vf8 powers = {0x1p+0f, 0x1.172b84p+0f, 0x1.306fe0p+0f, 0x1.4bfdaep+0f,
                  0x1.6a09e6p+0f, 0x1.8ace54p+0f, 0x1.ae89fap+0f, 0x1.d5818ep+0f};
    vu8 j = {0, 1, 2, 3, 4, 5, 6, 7};
    __m256 table = (__m256)((vu8)powers - (j << 20));
    vu16 bits = (vu16)shifted;
    vu8 low = __builtin_shufflevector(bits, bits, 0, 1, 2, 3, 4, 5, 6, 7);
    vu8 high = __builtin_shufflevector(bits, bits, 8, 9, 10, 11, 12, 13, 14, 15);
    vf8 t0 = (vf8)_mm256_permutevar8x32_ps(table, (__m256i)low), t1 = (vf8)_mm256_permutevar8x32_ps(table, (__m256i)high);
    vf16 t = __builtin_shufflevector(t0, t1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    vf16 scale = (vf16)((vu16)t + (bits << 20));
    vf16 q = (r * 1.66668609e-1f + 5.00064492e-1f) * (r * r) + r;
    vf16 e = scale * q + scale;
    // Lanes below −87.33 get 0; NaN lanes compare false and keep their NaN.
    return (vf16)((vi16)e & ~(vi16)(x < -87.33f));
}
#endif

/// One of the exponentials above; a constant argument of the always-inline loops below.
typedef vf16 (*exponential16)(vf16);

/// Lanes 0..7 of v combined with lanes 8..15 by `op`, then 0..3 with 4..7, and so on: four
/// steps instead of a chain of fifteen dependent scalar ones, twice per row.
#define HALVES(v, op)                                                                                           \
    do {                                                                                                        \
        vf16 h = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);          \
        v = op(v, h);                                                                                           \
        h = __builtin_shufflevector(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);              \
        v = op(v, h);                                                                                           \
        h = __builtin_shufflevector(v, v, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);              \
        v = op(v, h);                                                                                           \
        h = __builtin_shufflevector(v, v, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);              \
        v = op(v, h);                                                                                           \
    } while (0)

INLINE vf16 max2(vf16 a, vf16 b) { return select16(b > a, b, a); }
INLINE vf16 add2(vf16 a, vf16 b) { return a + b; }

/// The largest lane, NaN lanes ignored unless every lane is NaN.
INLINE float max16(vf16 v) {
    HALVES(v, max2);
    return v[0];
}

/// The sum of the lanes, added pairwise.
INLINE float tree_sum16(vf16 v) {
    HALVES(v, add2);
    return v[0];
}

/// The largest of n ≥ 1 floats, with four running maxima so that each compare-and-select does
/// not wait for the previous one. A NaN makes the row's softmax NaN whatever the maximum is
/// (e^(NaN − m) enters the sum), so which lanes' NaNs are ignored does not matter. Rows of 16
/// or more end with a vector overlapping the one before (max is idempotent).
INLINE float maximum(const float *x, long n) {
    if (n < 16) {
        float m = x[0];
        for (long i = 1; i < n; i++)
            if (x[i] > m) m = x[i];
        return m;
    }
    vf16 l0 = load16(x), l1 = l0, l2 = l0, l3 = l0;
    long i = 16;
    for (; i + 64 <= n; i += 64) {
        l0 = max2(l0, load16(x + i));
        l1 = max2(l1, load16(x + i + 16));
        l2 = max2(l2, load16(x + i + 32));
        l3 = max2(l3, load16(x + i + 48));
    }
    for (; i + 16 <= n; i += 16) l0 = max2(l0, load16(x + i));
    if (i < n) l1 = max2(l1, load16(x + n - 16));
    return max16(max2(max2(l0, l1), max2(l2, l3)));
}

/// Σ e^(x[i] − shift) over a row of n < 16 floats, storing each term in y unless y is NULL:
/// one vector padded with −∞, so every term gets the same formula as in longer rows.
INLINE float sum_of_exponentials_short(const float *x, long n, float shift, float *y, exponential16 exp16) {
    vf16 v = splat16(-INFINITY);
    for (long k = 0; k < n; k++) v[k] = x[k] - shift;
    vf16 e = exp16(v);
    if (y)
        for (long k = 0; k < n; k++) y[k] = e[k];
    return tree_sum16(e);
}

/// Lanes 16 − fresh … 15: those of a row's last, overlapping vector that the vector before it
/// did not cover.
INLINE vi16 last_lanes(long fresh) {
    vi16 lane;
    for (int k = 0; k < 16; k++) lane[k] = k;
    return lane >= splat16i((int)(16 - fresh));
}

/// Σ e^(x[i] − shift) over a row of n ≥ 16 floats, storing each term in y unless y is NULL,
/// two accumulators; with `has_next`, the largest of the next row's n floats (`next`) into
/// *next_max, and with `has_prev`, the previous row's terms (`prev`) multiplied by
/// `prev_inverse`, all in the same sweep. A row's three passes (maximum, exponentials, scaling)
/// each waited for the one before, its horizontal reduction and division, and the
/// exponentials' sweep filled the reorder window so that the next row's work could not start
/// under it: one sweep doing the first pass of the next row and the last of the previous one
/// hides those waits (the loads and stores it adds run beside the exponential's arithmetic).
/// The row ends with the vector of its last 16 floats: its terms are stored (the overlapped
/// ones again, the same values, from x read before any store, so y may be x) and only the new
/// lanes added or scaled.
INLINE float sum_of_exponentials(const float *x, long n, float shift, float *y, const float *next, float *next_max,
                                 float *prev, float prev_inverse, int has_next, int has_prev, exponential16 exp16) {
    vf16 a0 = splat16(0), a1 = a0, s = splat16(shift), inverse = splat16(prev_inverse);
    vf16 last = load16(x + n - 16), l0 = has_next ? load16(next) : a0, l1 = l0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        vf16 e0 = exp16(load16(x + i) - s), e1 = exp16(load16(x + i + 16) - s);
        if (y) {
            store16(y + i, e0);
            store16(y + i + 16, e1);
        }
        a0 += e0;
        a1 += e1;
        if (has_next) {
            l0 = max2(l0, load16(next + i));
            l1 = max2(l1, load16(next + i + 16));
        }
        if (has_prev) {
            store16(prev + i, load16(prev + i) * inverse);
            store16(prev + i + 16, load16(prev + i + 16) * inverse);
        }
    }
    for (; i + 16 <= n; i += 16) {
        vf16 e = exp16(load16(x + i) - s);
        if (y) store16(y + i, e);
        a0 += e;
        if (has_next) l0 = max2(l0, load16(next + i));
        if (has_prev) store16(prev + i, load16(prev + i) * inverse);
    }
    if (i < n) {
        vf16 e = exp16(last - s);
        if (y) store16(y + n - 16, e);
        vi16 fresh = last_lanes(n - i);
        a1 += select16(fresh, e, splat16(0));
        if (has_next) l1 = max2(l1, load16(next + n - 16));
        if (has_prev) {
            vf16 p = load16(prev + n - 16);
            store16(prev + n - 16, select16(fresh, p * inverse, p));
        }
    }
    if (has_next) *next_max = max16(max2(l0, l1));
    return tree_sum16(a0 + a1);
}

/// Softmax over rows of n ≥ 16 floats: the first row's maximum, then one sweep per row
/// (sum_of_exponentials: this row's terms, the next row's maximum, the previous row's
/// scaling), then the last row's scaling.
INLINE void softmax_rows_swept(const float *x, float *y, long rows, long n, exponential16 exp16) {
    float m = maximum(x, n), inverse = 0, next_max = 0;
    for (long row = 0; row < rows; row++) {
        const float *xr = x + row * n;
        float *yr = y + row * n;
        float sum;
        // Constant flags: each case inlines its own loop, with no per-vector test.
        if (rows == 1)
            sum = sum_of_exponentials(xr, n, m, yr, 0, 0, 0, 0, 0, 0, exp16);
        else if (row == 0)
            sum = sum_of_exponentials(xr, n, m, yr, xr + n, &next_max, 0, 0, 1, 0, exp16);
        else if (row + 1 < rows)
            sum = sum_of_exponentials(xr, n, m, yr, xr + n, &next_max, yr - n, inverse, 1, 1, exp16);
        else
            sum = sum_of_exponentials(xr, n, m, yr, 0, 0, yr - n, inverse, 0, 1, exp16);
        m = next_max;
        inverse = 1 / sum;
    }
    float *yr = y + (rows - 1) * n;
    vf16 v = splat16(inverse);
    long i = 0;
    for (; i + 16 <= n; i += 16) store16(yr + i, load16(yr + i) * v);
    for (; i < n; i++) yr[i] *= inverse;
}

INLINE void softmax_rows_body(const float *x, float *y, long rows, long axis, int log, exponential16 exp16) {
    if (!log && axis >= 16) {
        if (rows > 0) softmax_rows_swept(x, y, rows, axis, exp16);
        return;
    }
    for (long row = 0; row < rows; row++) {
        const float *xr = x + row * axis;
        float *yr = y + row * axis;
        float m = maximum(xr, axis);
        long i = 0;
        if (log) {
            float sum = axis < 16 ? sum_of_exponentials_short(xr, axis, m, 0, exp16)
                                  : sum_of_exponentials(xr, axis, m, 0, 0, 0, 0, 0, 0, 0, exp16);
            vf16 shift = splat16(m + logf(sum));
            for (; i + 16 <= axis; i += 16) store16(yr + i, load16(xr + i) - shift);
            for (; i < axis; i++) yr[i] = xr[i] - shift[0];
        } else {
            vf16 inverse = splat16(1 / sum_of_exponentials_short(xr, axis, m, yr, exp16));
            for (; i < axis; i++) yr[i] *= inverse[0];
        }
    }
}

// Not ISA_VARIANTS: the AVX-512 and AVX2 builds take the table exponentials, whose permutes
// have no portable form. The exponential is a constant argument of always-inline functions, so
// each build inlines its own.
TARGET_AVX512 static void softmax_rows_avx512(const float *x, float *y, long rows, long axis, int log) {
#if defined(__x86_64__) || defined(__i386__)
    softmax_rows_body(x, y, rows, axis, log, exp16_table_avx512);
#else
    softmax_rows_body(x, y, rows, axis, log, exp16_nonpositive);
#endif
}
TARGET_AVX2 static void softmax_rows_avx2(const float *x, float *y, long rows, long axis, int log) {
#if defined(__x86_64__) || defined(__i386__)
    softmax_rows_body(x, y, rows, axis, log, exp16_table_avx2);
#else
    softmax_rows_body(x, y, rows, axis, log, exp16_nonpositive);
#endif
}
static void softmax_rows_baseline(const float *x, float *y, long rows, long axis, int log) {
    softmax_rows_body(x, y, rows, axis, log, exp16_nonpositive);
}

void cnn_softmax_rows(const float *x, float *y, long rows, long axis, int log) {
    switch (cnn_cpu_isa_active()) {
    case CNN_ISA_AVX512: softmax_rows_avx512(x, y, rows, axis, log); break;
    case CNN_ISA_AVX2: softmax_rows_avx2(x, y, rows, axis, log); break;
    default: softmax_rows_baseline(x, y, rows, axis, log); break;
    }
}

/// Σ a[i]·b[i] over n floats, four 16-lane accumulators (one would make each add wait for the
/// previous one), the tail in scalars.
INLINE float dot(const float *a, const float *b, long n) {
    vf16 s0 = splat16(0), s1 = s0, s2 = s0, s3 = s0;
    long i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 += load16(a + i) * load16(b + i);
        s1 += load16(a + i + 16) * load16(b + i + 16);
        s2 += load16(a + i + 32) * load16(b + i + 32);
        s3 += load16(a + i + 48) * load16(b + i + 48);
    }
    for (; i + 16 <= n; i += 16) s0 += load16(a + i) * load16(b + i);
    float s = sum16((s0 + s1) + (s2 + s3));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

INLINE void softmax_rows_backward_body(const float *y, const float *dy, float *dx, long rows, long axis) {
    for (long row = 0; row < rows; row++) {
        const float *yr = y + row * axis, *gr = dy + row * axis;
        float *out = dx + row * axis;
        vf16 s = splat16(dot(gr, yr, axis));
        long i = 0;
        for (; i + 16 <= axis; i += 16) store16(out + i, load16(yr + i) * (load16(gr + i) - s));
        for (; i < axis; i++) out[i] = yr[i] * (gr[i] - s[0]);
    }
}

ISA_VARIANTS(softmax_rows_backward, softmax_rows_backward_body,
             (const float *y, const float *dy, float *dx, long rows, long axis), (y, dy, dx, rows, axis))

void cnn_softmax_rows_backward(const float *y, const float *dy, float *dx, long rows, long axis) {
    softmax_rows_backward_dispatch(y, dy, dx, rows, axis);
}

/// Σ e^(x[i] − m) over a row of n ≥ 16 floats, each term stored in g (g may be x), and
/// Σ (x[i] − m) into *offsets (the label-smoothing term): two accumulators of each; the last,
/// overlapping vector adds only its new lanes, and x's last vector is read before any store.
/// With sum_of_exponentials' overlap (softmax_rows_swept): with `has_next` the next row's
/// maximum (`next`, into *next_max), with `has_prev` the previous row's terms (`prev`) turned
/// into its gradient, e·prev_scale − uniform (each product rounded: no fused multiply-add), in
/// the same sweep.
INLINE float loss_sweep(const float *x, long n, float m, float *g, float *offsets, const float *next, float *next_max,
                        float *prev, float prev_scale, float uniform, int has_next, int has_prev, exponential16 exp16) {
#pragma clang fp contract(off)
    vf16 a0 = splat16(0), a1 = a0, d0 = a0, d1 = a0, s = splat16(m), scale = splat16(prev_scale), u = splat16(uniform);
    vf16 last = load16(x + n - 16) - s, l0 = has_next ? load16(next) : a0, l1 = l0;
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        vf16 v0 = load16(x + i) - s, v1 = load16(x + i + 16) - s;
        vf16 e0 = exp16(v0), e1 = exp16(v1);
        store16(g + i, e0);
        store16(g + i + 16, e1);
        a0 += e0;
        a1 += e1;
        d0 += v0;
        d1 += v1;
        if (has_next) {
            l0 = max2(l0, load16(next + i));
            l1 = max2(l1, load16(next + i + 16));
        }
        if (has_prev) {
            store16(prev + i, load16(prev + i) * scale - u);
            store16(prev + i + 16, load16(prev + i + 16) * scale - u);
        }
    }
    for (; i + 16 <= n; i += 16) {
        vf16 v = load16(x + i) - s, e = exp16(v);
        store16(g + i, e);
        a0 += e;
        d0 += v;
        if (has_next) l0 = max2(l0, load16(next + i));
        if (has_prev) store16(prev + i, load16(prev + i) * scale - u);
    }
    if (i < n) {
        vf16 e = exp16(last);
        store16(g + n - 16, e);
        vi16 fresh = last_lanes(n - i);
        a1 += select16(fresh, e, splat16(0));
        d1 += select16(fresh, last, splat16(0));
        if (has_next) l1 = max2(l1, load16(next + n - 16));
        if (has_prev) {
            vf16 p = load16(prev + n - 16);
            store16(prev + n - 16, select16(fresh, p * scale - u, p));
        }
    }
    if (has_next) *next_max = max16(max2(l0, l1));
    *offsets = tree_sum16(d0 + d1);
    return tree_sum16(a0 + a1);
}

/// The label-smoothing term ε · mean(x − m), 0 without smoothing even where a logit is −∞ (its
/// x − m is −∞, and 0 · −∞ would make the loss NaN; PyTorch's loss is finite there).
INLINE double smoothing_term(float smoothing, float offsets, long n) {
    return smoothing > 0 ? (double)smoothing * (double)offsets / (double)n : 0;
}

/// A row's gradient from its exponentials e in g: e·scale − uniform, and the label's entry less
/// label_share. Each product rounded before its subtraction, as the target's terms are: a fused
/// multiply-add leaves a residue of 10⁻⁹–10⁻⁸ where they cancel (one class: exactly 0).
INLINE void finish_gradient(float *g, long n, int label, float scale, float uniform, float label_share) {
#pragma clang fp contract(off)
    vf16 sv = splat16(scale), u = splat16(uniform);
    long i = 0;
    for (; i + 16 <= n; i += 16) store16(g + i, load16(g + i) * sv - u);
    for (; i < n; i++) g[i] = g[i] * scale - uniform;
    g[label] -= label_share;
}

/// One row of n ≥ 16 classes of cnn_softmax_cross_entropy_rows: the maximum m, then e^(x − m)
/// into g with their sum s and Σ (x − m), then g = e·(1/(N·s)) − ε/(C·N) and the label's entry
/// less (1 − ε)/N.
/// The loss log s + m − (1 − ε)·x[label] − ε·mean(x) is formed from the differences to m
/// (log s + (1 − ε)·(m − x[label]) − ε·mean(x − m)), so large logits lose nothing to m's size.
INLINE double softmax_cross_entropy_row(const float *x, int label, float *g, long n, float smoothing,
                                        float inverse_rows, exponential16 exp16) {
    if (label < 0 || label >= n) {
        for (long i = 0; i < n; i++) g[i] = NAN;
        return NAN;
    }
    float m = maximum(x, n);
    // Read before the sweep: g may be x.
    float label_logit = x[label];
    float offsets;
    float sum = loss_sweep(x, n, m, g, &offsets, 0, 0, 0, 0, 0, 0, 0, exp16);
    double loss = (double)logf(sum) + (double)(1 - smoothing) * (double)(m - label_logit)
        - smoothing_term(smoothing, offsets, n);
    finish_gradient(g, n, label, inverse_rows / sum, smoothing / (float)n * inverse_rows,
                    (1 - smoothing) * inverse_rows);
    return loss;
}

/// Rows of n < 16 classes (LeNet's 10), all of the call's rows at once: per row in scalars the
/// maximum m, x[label] and Σ (x − m), with x − m stored in g; then e^g over the whole block 16
/// at a time, whatever rows the lanes belong to; then per row the sum, the loss and the
/// scaling. One padded vector per row (sum_of_exponentials_short) built its lanes one at a time
/// and read them back as a vector, a store-forwarding stall per row: with AVX2 that made these
/// rows slower than scalar expf (NOTES-memory-bound.md).
INLINE void softmax_cross_entropy_short_rows(const float *x, const int *labels, float *g, double *row_loss, long rows,
                                             long n, float smoothing, float inverse_rows, exponential16 exp16) {
    for (long row = 0; row < rows; row++) {
        const float *xr = x + row * n;
        float *gr = g + row * n;
        int label = labels[row];
        if (label < 0 || label >= n) {
            for (long i = 0; i < n; i++) gr[i] = NAN;
            row_loss[row] = NAN;
            continue;
        }
        float m = xr[0];
        for (long i = 1; i < n; i++)
            if (xr[i] > m) m = xr[i];
        // Read before the stores below: g may be x.
        float label_logit = xr[label], offsets = 0;
        for (long i = 0; i < n; i++) {
            float d = xr[i] - m;
            offsets += d;
            gr[i] = d;
        }
        row_loss[row] = (double)(1 - smoothing) * (double)(m - label_logit) - smoothing_term(smoothing, offsets, n);
    }
    // x − m ≤ 0, −∞ or NaN: what exp16 takes. A bad row's NaNs stay NaN.
    long total = rows * n, i = 0;
    for (; i + 16 <= total; i += 16) store16(g + i, exp16(load16(g + i)));
    if (i < total) {
        vf16 v = splat16(-INFINITY);
        for (long k = 0; k < total - i; k++) v[k] = g[i + k];
        vf16 e = exp16(v);
        for (long k = 0; k < total - i; k++) g[i + k] = e[k];
    }
    for (long row = 0; row < rows; row++) {
        float *gr = g + row * n;
        int label = labels[row];
        if (label < 0 || label >= n) continue;
        float sum = 0;
        for (long k = 0; k < n; k++) sum += gr[k];
        row_loss[row] += (double)logf(sum);
        finish_gradient(gr, n, label, inverse_rows / sum, smoothing / (float)n * inverse_rows,
                        (1 - smoothing) * inverse_rows);
    }
}

/// Rows of n ≥ 16 classes with every label valid, swept as softmax_rows_swept: each row's
/// exponentials also take the next row's maximum and finish the previous row's gradient.
INLINE void softmax_cross_entropy_swept(const float *x, const int *labels, float *g, double *row_loss, long rows, long n,
                                        float smoothing, float inverse_rows, exponential16 exp16) {
    float m = maximum(x, n), next_max = 0, scale = 0, uniform = smoothing / (float)n * inverse_rows;
    // (1 − ε)/N rounded once, as finish_gradient subtracts it: written as a product in the
    // loop's `prev[label] -= …`, it is contracted into a fused multiply-add on FMA builds.
    float label_share = (1 - smoothing) * inverse_rows;
    for (long row = 0; row < rows; row++) {
        const float *xr = x + row * n;
        float *gr = g + row * n, *prev = gr - n;
        // Read before the sweep: g may be x.
        float label_logit = xr[labels[row]], offsets, sum;
        if (rows == 1)
            sum = loss_sweep(xr, n, m, gr, &offsets, 0, 0, 0, 0, uniform, 0, 0, exp16);
        else if (row == 0)
            sum = loss_sweep(xr, n, m, gr, &offsets, xr + n, &next_max, 0, 0, uniform, 1, 0, exp16);
        else if (row + 1 < rows)
            sum = loss_sweep(xr, n, m, gr, &offsets, xr + n, &next_max, prev, scale, uniform, 1, 1, exp16);
        else
            sum = loss_sweep(xr, n, m, gr, &offsets, 0, 0, prev, scale, uniform, 0, 1, exp16);
        if (row > 0) prev[labels[row - 1]] -= label_share;
        row_loss[row] = (double)logf(sum) + (double)(1 - smoothing) * (double)(m - label_logit)
            - smoothing_term(smoothing, offsets, n);
        m = next_max;
        scale = inverse_rows / sum;
    }
    finish_gradient(g + (rows - 1) * n, n, labels[rows - 1], scale, uniform, label_share);
}

INLINE void softmax_cross_entropy_rows_body(const float *x, const int *labels, float *g, double *row_loss, long rows,
                                            long n, float smoothing, float inverse_rows, exponential16 exp16) {
    if (n < 16) {
        softmax_cross_entropy_short_rows(x, labels, g, row_loss, rows, n, smoothing, inverse_rows, exp16);
        return;
    }
    int valid = 1;
    for (long row = 0; row < rows; row++) valid &= labels[row] >= 0 && labels[row] < n;
    if (valid && rows > 0) {
        softmax_cross_entropy_swept(x, labels, g, row_loss, rows, n, smoothing, inverse_rows, exp16);
        return;
    }
    for (long row = 0; row < rows; row++)
        row_loss[row] = softmax_cross_entropy_row(x + row * n, labels[row], g + row * n, n, smoothing, inverse_rows, exp16);
}

// As cnn_softmax_rows: the table exponentials in the AVX-512 and AVX2 builds.
TARGET_AVX512 static void softmax_cross_entropy_rows_avx512(const float *x, const int *labels, float *g, double *row_loss,
                                                            long rows, long n, float smoothing, float inverse_rows) {
#if defined(__x86_64__) || defined(__i386__)
    softmax_cross_entropy_rows_body(x, labels, g, row_loss, rows, n, smoothing, inverse_rows, exp16_table_avx512);
#else
    softmax_cross_entropy_rows_body(x, labels, g, row_loss, rows, n, smoothing, inverse_rows, exp16_nonpositive);
#endif
}
TARGET_AVX2 static void softmax_cross_entropy_rows_avx2(const float *x, const int *labels, float *g, double *row_loss,
                                                        long rows, long n, float smoothing, float inverse_rows) {
#if defined(__x86_64__) || defined(__i386__)
    softmax_cross_entropy_rows_body(x, labels, g, row_loss, rows, n, smoothing, inverse_rows, exp16_table_avx2);
#else
    softmax_cross_entropy_rows_body(x, labels, g, row_loss, rows, n, smoothing, inverse_rows, exp16_nonpositive);
#endif
}
static void softmax_cross_entropy_rows_baseline(const float *x, const int *labels, float *g, double *row_loss,
                                                long rows, long n, float smoothing, float inverse_rows) {
    softmax_cross_entropy_rows_body(x, labels, g, row_loss, rows, n, smoothing, inverse_rows, exp16_nonpositive);
}

void cnn_softmax_cross_entropy_rows(const float *x, const int *labels, float *gradient, double *row_loss, long rows,
                                    long classes, float smoothing, float inverse_rows) {
    switch (cnn_cpu_isa_active()) {
    case CNN_ISA_AVX512:
        softmax_cross_entropy_rows_avx512(x, labels, gradient, row_loss, rows, classes, smoothing, inverse_rows);
        break;
    case CNN_ISA_AVX2:
        softmax_cross_entropy_rows_avx2(x, labels, gradient, row_loss, rows, classes, smoothing, inverse_rows);
        break;
    default:
        softmax_cross_entropy_rows_baseline(x, labels, gradient, row_loss, rows, classes, smoothing, inverse_rows);
        break;
    }
}
