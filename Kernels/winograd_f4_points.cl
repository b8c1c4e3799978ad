// winograd_f4_points.cl: the matrices of Winograd F(4×4,3×3) (points 0, ±1, ±2, ∞) that more
// than one kernel file uses, and the input patch transform Bᵀ d B, which the forward/backward-
// data solver (conv_winograd_f4x3.cl) and the filter-gradient solver (conv_winograd_filter.cl)
// both apply to 6×6 patches of x. Included, not built alone for kernels (it has none).
// Each transform is one 6-vector at a time, written out so that every coefficient is a
// constant the compiler folds.

// o = Bᵀ i, Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0;
// 0 4 0 −5 0 1].
#define BT6(i0, i1, i2, i3, i4, i5, o0, o1, o2, o3, o4, o5) do { \
        o0 = 4.0f * (i0) - 5.0f * (i2) + (i4);                    \
        o1 = -4.0f * ((i1) + (i2)) + (i3) + (i4);                 \
        o2 = 4.0f * ((i1) - (i2)) - (i3) + (i4);                  \
        o3 = 2.0f * ((i3) - (i1)) - (i2) + (i4);                  \
        o4 = 2.0f * ((i1) - (i3)) - (i2) + (i4);                  \
        o5 = 4.0f * (i1) - 5.0f * (i3) + (i5);                    \
    } while (0)

// out[(6·r + s)·stride] = (Bᵀ d B)[r][s] for the 6×6 patch d of `plane` at (h0, w0), zero
// outside height × width. A caller with nothing to transform (a padding column) passes
// h0 = −6: the patch lies above the image and transforms to zeros without a branch of its
// own, so the kernel stays one loop-free region, which PoCL vectorizes across work-items (its
// loops and branches are all unrolled or selects). Always inlined: PoCL's compiler left it a
// call, and a call inside the work-item loop keeps the loop from being vectorized (the filter
// gradient's x transform took 4.5× as long as with the body written in the kernel).
inline __attribute__((always_inline)) void winograd_f4_input_patch(__global const float* plane, const int h0, const int w0, const int height,
                                    const int width, __global float* out, const size_t stride) {
    float d[6][6];
    _Pragma("unroll")
    for (int r = 0; r < 6; r++)
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) {
            const int h = h0 + r, ww = w0 + s;
            d[r][s] = (h >= 0 && h < height && ww >= 0 && ww < width) ? plane[h * width + ww] : 0.0f;
        }
    float t6[6][6];  // Bᵀ d
    _Pragma("unroll")
    for (int s = 0; s < 6; s++)
        BT6(d[0][s], d[1][s], d[2][s], d[3][s], d[4][s], d[5][s],
            t6[0][s], t6[1][s], t6[2][s], t6[3][s], t6[4][s], t6[5][s]);
    _Pragma("unroll")
    for (int r = 0; r < 6; r++) {
        float o[6];
        BT6(t6[r][0], t6[r][1], t6[r][2], t6[r][3], t6[r][4], t6[r][5], o[0], o[1], o[2], o[3], o[4], o[5]);
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) out[(r * 6 + s) * stride] = o[s];
    }
}
