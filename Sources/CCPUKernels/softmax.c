#include "softmax.h"
#include "isa_variants.h"
#include <math.h>

/// e^x on 16 lanes for x ≤ 0 (or NaN): 2^n·e^r with n = round(x·log2 e), |r| ≤ ln 2 / 2, e^r
/// from a degree-6 polynomial 1 + r + r²·q(r) (q fitted for relative error on |r| ≤ ln 2 / 2:
/// 3·10⁻⁹ in exact arithmetic; the whole function within 8.4·10⁻⁸ of e^x in float, as close as
/// the degree-7 Cephes polynomial it replaced, with one multiply-add fewer); n is rounded by adding and removing 1.5·2²³ (no rounding
/// instruction on the baseline target), and 2^n is built from its exponent bits. Softmax only
/// takes e^(x − max), so there is no overflow to clamp; below −87.3 the result is 0 (the lanes'
/// arithmetic there is garbage and replaced), and NaN propagates through the arithmetic. Two
/// clamps and a NaN select fewer than a general e^x: this is the loop's whole cost.
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

/// Σ e^(x[i] − shift), storing each term in y unless y is NULL, two accumulators. A row of 16
/// or more ends with the vector of its last 16 floats: its terms are stored (the overlapped
/// ones again, the same values) and only the new lanes added. Shorter rows go through one
/// vector padded with −∞, so every term gets the same formula.
INLINE float sum_of_exponentials(const float *x, long n, float shift, float *y) {
    vf16 a0 = splat16(0), a1 = a0, s = splat16(shift);
    long i = 0;
    if (n < 16) {
        vf16 v = splat16(-INFINITY);
        for (long k = 0; k < n; k++) v[k] = x[k] - shift;
        vf16 e = exp16_nonpositive(v);
        if (y)
            for (long k = 0; k < n; k++) y[k] = e[k];
        return tree_sum16(e);
    }
    for (; i + 32 <= n; i += 32) {
        vf16 e0 = exp16_nonpositive(load16(x + i) - s), e1 = exp16_nonpositive(load16(x + i + 16) - s);
        if (y) {
            store16(y + i, e0);
            store16(y + i + 16, e1);
        }
        a0 += e0;
        a1 += e1;
    }
    for (; i + 16 <= n; i += 16) {
        vf16 e = exp16_nonpositive(load16(x + i) - s);
        if (y) store16(y + i, e);
        a0 += e;
    }
    if (i < n) {
        vf16 e = exp16_nonpositive(load16(x + n - 16) - s);
        if (y) store16(y + n - 16, e);
        vi16 lane;
        for (int k = 0; k < 16; k++) lane[k] = k;
        a1 += select16(lane >= splat16i((int)(16 - (n - i))), e, splat16(0));
    }
    return tree_sum16(a0 + a1);
}

INLINE void softmax_rows_body(const float *x, float *y, long rows, long axis, int log) {
    for (long row = 0; row < rows; row++) {
        const float *xr = x + row * axis;
        float *yr = y + row * axis;
        float m = maximum(xr, axis);
        long i = 0;
        if (log) {
            vf16 shift = splat16(m + logf(sum_of_exponentials(xr, axis, m, 0)));
            for (; i + 16 <= axis; i += 16) store16(yr + i, load16(xr + i) - shift);
            for (; i < axis; i++) yr[i] = xr[i] - shift[0];
        } else {
            vf16 inverse = splat16(1 / sum_of_exponentials(xr, axis, m, yr));
            for (; i + 16 <= axis; i += 16) store16(yr + i, load16(yr + i) * inverse);
            for (; i < axis; i++) yr[i] *= inverse[0];
        }
    }
}

ISA_VARIANTS(softmax_rows, softmax_rows_body, (const float *x, float *y, long rows, long axis, int log),
             (x, y, rows, axis, log))

void cnn_softmax_rows(const float *x, float *y, long rows, long axis, int log) {
    softmax_rows_dispatch(x, y, rows, axis, log);
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
