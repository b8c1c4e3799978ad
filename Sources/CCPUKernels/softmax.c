#include "softmax.h"
#include "isa_variants.h"
#include <math.h>

/// e^x on 16 lanes for x ≤ 0 (or NaN): 2^n·e^r with n = round(x·log2 e), |r| ≤ ln 2 / 2, e^r
/// from Cephes' degree-7 polynomial; n is rounded by adding and removing 1.5·2²³ (no rounding
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
    vf16 p = splat16(1.9875691500e-4f);
    p = p * r + splat16(1.3981999507e-3f);
    p = p * r + splat16(8.3334519073e-3f);
    p = p * r + splat16(4.1665795894e-2f);
    p = p * r + splat16(1.6666665459e-1f);
    p = p * r + splat16(5.0000001201e-1f);
    p = p * (r * r) + r + splat16(1);
    vf16 result = p * (vf16)((vi16)shifted << 23);
    return select16(x < splat16(-87.3f), splat16(0), result);
}

/// The largest of n ≥ 1 floats (NaNs ignored unless x[0] is one, as a scalar scan), with four
/// running maxima so that each compare-and-select does not wait for the previous one.
INLINE float maximum(const float *x, long n) {
    float m = x[0];
    long i = 1;
    if (n >= 17) {
        vf16 lanes = load16(x + 1), l1 = lanes, l2 = lanes, l3 = lanes;
        for (i = 17; i + 64 <= n; i += 64) {
            vf16 a = load16(x + i), b = load16(x + i + 16), c = load16(x + i + 32), d = load16(x + i + 48);
            lanes = select16(a > lanes, a, lanes);
            l1 = select16(b > l1, b, l1);
            l2 = select16(c > l2, c, l2);
            l3 = select16(d > l3, d, l3);
        }
        for (; i + 16 <= n; i += 16) {
            vf16 v = load16(x + i);
            lanes = select16(v > lanes, v, lanes);
        }
        lanes = select16(l1 > lanes, l1, lanes);
        lanes = select16(l2 > lanes, l2, lanes);
        lanes = select16(l3 > lanes, l3, lanes);
        for (int k = 0; k < 16; k++)
            if (lanes[k] > m) m = lanes[k];
    }
    for (; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

/// Σ e^(x[i] − shift), storing each term in y unless y is NULL; the tail goes through one
/// vector padded with −∞, so it gets the same formula as the rest.
INLINE float sum_of_exponentials(const float *x, long n, float shift, float *y) {
    vf16 acc = splat16(0), s = splat16(shift);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        vf16 e = exp16_nonpositive(load16(x + i) - s);
        if (y) store16(y + i, e);
        acc += e;
    }
    if (i < n) {
        vf16 v = splat16(-INFINITY);
        for (long k = 0; k < n - i; k++) v[k] = x[i + k] - shift;
        vf16 e = exp16_nonpositive(v);
        if (y)
            for (long k = 0; k < n - i; k++) y[i + k] = e[k];
        acc += e;
    }
    return sum16(acc);
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
