// conv_winograd_filter.cl: the filter gradient of a 3×3, stride-1, dilation-1, single-group
// convolution by Winograd's minimal filtering F(3×3, 4×4): each 4×4 tile of dy and the 6×6
// patch of x under it contribute the 3×3 correlation of the two, which with the matrices of
// F(4×4, 3×3) (conv_winograd_f4x3.cl, points 0, ±1, ±2, ∞) is
//   dW_tile = Gᵀ [ (A dy_tile Aᵀ) ⊙ (Bᵀ x_patch B) ] G
// (the transpose of the forward identity y = Aᵀ[(G w) ⊙ (Bᵀ d)] A: differentiating
// Σ dy ⊙ y with respect to w moves G to the other side and A onto dy). Summed over tiles and
// images, the 36 element-wise products become 36 independent GEMMs whose reduction runs over
// tiles: 36·K·C·P multiplies against the direct 9·16·K·C·P, 4× fewer. Launched by
// Backends/OpenCL/Solvers/WinogradFilterSolver.swift, one chunk of images at a time (so the
// transformed tensors, 2.25× x and dy, stay bounded); the GEMM's tunables come from one
// table, KernelTunables.winogradFilter.
//   X[ξ][c][p] = (Bᵀ x_cp B)[ξ]                  x patches, [36, C, PP]
//   D[ξ][k][p] = (A dy_kp Aᵀ)[ξ]                 dy tiles, [36, K, PP]
//   M[s][ξ][k][c] (+)= Σ_{p in slice s} D[ξ][k][p] · X[ξ][c][p]    [KSPLIT, 36, K, CP]
//   dw[k][c] = Gᵀ (Σ_s M[s][ξ][k][c]) G
// Layout: x [N, C, H, W], dy [N, K, OH, OW], dw [K, C, 3, 3]. Tile p = (n·TH + th)·TW + tw of
// the chunk's images (n from 0), TH = ceil(OH/4), TW = ceil(OW/4); rows of X and D padded to
// PP (a multiple of 16, the widest vector) with zero columns; rows of M padded to CP (a
// multiple of 16) so the GEMM stores whole vectors. ξ = 6·row + column of the transform domain.
// Chunks add into M in launch order and the slices are summed in index order by the output
// transform: the result does not depend on timing (no atomics).
//
// Transforms: one work-item per (strip of 4 tiles along a tile row, channel), the strip index
// along dimension 0, so consecutive work-items load consecutive runs of a row of x or dy and
// write consecutive float4 runs of p of X and D (coalesced); the 2 columns and rows by which
// neighbouring x patches overlap are read through the cache.
//
// The batched GEMM (tunables, -D, defaults in gemm_tile.cl; local size [RTN, RTM], global
// [ceil(CP / TN)·RTN, ceil(K / TM)·RTM, 36], one launch per slice): a work-group computes a TM × TN tile of
// one M[s][ξ] (rows k, columns c) over its slice of tiles, stepping by TK. D's rows are
// contiguous along the reduction, so its TM × TK tile is staged row-major as AK-wide vectors
// (the broadcast operand); X's rows are too, so its TN × TK tile is read as AK-wide runs along
// p (consecutive work-items, consecutive runs) and stored transposed into the k-major __local
// tile the register tile reads as vectors. The register tile and the PoCL rules are
// conv_winograd_f4x3.cl's batched GEMM's (explicit vectors, the register tile unrolled, the k
// loop started at lid >> 20).
//   TM, TN        work-group tile (rows = dy channels, columns = x channels), powers of two
//   TK            reduction step (tiles) staged through __local memory, a power of two
//   WPT_M, WPT_N  register tile per work-item
//   VW            vector width of the register tile's columns (1, 2, 4, 8, 16)

#include "gemm_tile.cl"

#include "winograd_f4_points.cl"

// o = A i, A = (Aᵀ)ᵀ of F(4×4,3×3): 4 values at the points 0, 1, −1, 2, −2, ∞.
#define WF_A4(i0, i1, i2, i3, o0, o1, o2, o3, o4, o5) do {          \
        o0 = (i0);                                                   \
        o1 = ((i0) + (i2)) + ((i1) + (i3));                          \
        o2 = ((i0) + (i2)) - ((i1) + (i3));                          \
        o3 = ((i0) + 4.0f * (i2)) + (2.0f * (i1) + 8.0f * (i3));     \
        o4 = ((i0) + 4.0f * (i2)) - (2.0f * (i1) + 8.0f * (i3));     \
        o5 = (i3);                                                   \
    } while (0)
// o = Gᵀ i, G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1].
#define WF_GT6(i0, i1, i2, i3, i4, i5, o0, o1, o2) do {             \
        o0 = 0.25f * (i0) - ((i1) + (i2)) / 6.0f + ((i3) + (i4)) / 24.0f;  \
        o1 = ((i2) - (i1)) / 6.0f + ((i3) - (i4)) / 12.0f;                 \
        o2 = ((i3) + (i4) - (i1) - (i2)) / 6.0f + (i5);                    \
    } while (0)

// Both transforms run on strips of WF_STRIP = 4 consecutive tiles of one tile row, one strip
// per work-item: a strip's rows are 18 columns of x (16 + the 2 the patches overlap by) or 16
// of dy, one float16 (+ float2) load each, and its 36 outputs are 36 float4 stores of 4
// consecutive p. Transforming a row vector at a time keeps the live values to the 6 loaded and
// the 6 column-transformed row vectors (x's per-tile form, vectorized by PoCL across work-items,
// gathered every value at a stride of 4 floats and ran at 8 GB/s). Bᵀ (or A) is applied down
// the rows first, on whole vectors, then along each row to the strip's 4 tiles at once: the
// columns 4j + m of the 4 tiles are the swizzles below. The order of the operations is the
// per-tile form's, so the values are the same. Work-item q < images·tiles_h·strips_w is strip
// q % strips_w of tile row q / strips_w (its last strip partial when tiles_w is not a multiple
// of 4); the work-items after those zero the padding columns [P, PP), 4 at a time.
#define WF_STRIP 4

// The columns 4j + m (j = 0…3) of an 18-column row held as float16 lo + float2 hi.
#define WF_COLS0(lo, hi) ((lo).s048C)
#define WF_COLS1(lo, hi) ((lo).s159D)
#define WF_COLS2(lo, hi) ((lo).s26AE)
#define WF_COLS3(lo, hi) ((lo).s37BF)
#define WF_COLS4(lo, hi) ((float4)((lo).s48C, (hi).s0))
#define WF_COLS5(lo, hi) ((float4)((lo).s59D, (hi).s1))

// Where strip q starts: p0 (its first tile), the tiles it holds (1…4; 0 past the padding),
// and its tile row (image n of the chunk, th) and first tile column tw0. A padding strip gets
// th = −2 (rows above the image: it transforms to zeros) and image 0.
typedef struct { int p0, count, n, th, tw0; } WinogradFilterStrip;

inline WinogradFilterStrip winograd_filter_strip(const int q, const int images, const int tiles_h, const int tiles_w,
                                                 const int padded_tiles) {
    const int strips_w = (tiles_w + WF_STRIP - 1) / WF_STRIP, row_strips = images * tiles_h * strips_w;
    const int tiles = images * tiles_h * tiles_w;
    WinogradFilterStrip s;
    if (q < row_strips) {
        const int row = q / strips_w, j = q - row * strips_w;
        s.n = row / tiles_h;
        s.th = row - s.n * tiles_h;
        s.tw0 = j * WF_STRIP;
        s.p0 = row * tiles_w + s.tw0;
        s.count = min(WF_STRIP, tiles_w - s.tw0);
    } else {
        s.n = 0;
        s.th = -2;
        s.tw0 = 0;
        s.p0 = tiles + (q - row_strips) * WF_STRIP;
        s.count = clamp(padded_tiles - s.p0, 0, WF_STRIP);
    }
    return s;
}

// The strips (row strips, then padding strips) of a chunk: the transforms' dimension 0.
inline int winograd_filter_strips(const int images, const int tiles_h, const int tiles_w, const int padded_tiles) {
    const int strips_w = (tiles_w + WF_STRIP - 1) / WF_STRIP, tiles = images * tiles_h * tiles_w;
    return images * tiles_h * strips_w + (padded_tiles - tiles + WF_STRIP - 1) / WF_STRIP;
}

// Stores the 4 tiles' values o at out[0…count): one vector where the strip is whole.
inline void winograd_filter_store4(const float4 o, const int count, __global float* out) {
    if (count == WF_STRIP) {
        vstore4(o, 0, out);
    } else {
        if (count > 0) out[0] = o.s0;
        if (count > 1) out[1] = o.s1;
        if (count > 2) out[2] = o.s2;
    }
}

// Row h of `plane` (height × width) at columns w0 … w0 + 17 as lo (16) + hi (2), zero outside.
inline void winograd_filter_load18(__global const float* plane, const int h, const int w0, const int height,
                                   const int width, float16* lo, float2* hi) {
    __global const float* src = plane + (size_t)max(h, 0) * width;
    if (h >= 0 && h < height && w0 >= 0 && w0 + 18 <= width) {
        *lo = vload16(0, src + w0);
        *hi = vload2(0, src + w0 + 16);
        return;
    }
    float e[18];
    _Pragma("unroll")
    for (int s = 0; s < 18; s++) {
        const int ww = w0 + s;
        e[s] = (h >= 0 && h < height && ww >= 0 && ww < width) ? src[ww] : 0.0f;
    }
    *lo = vload16(0, e);
    *hi = vload2(0, e + 16);
}

// X = Bᵀ x B over the 6×6 patches at (4·th − pad_top, 4·tw − pad_left) of image
// first_image + n, zero outside the image, for the strip's tiles. Range [strips (rounded up to
// the work-group), C]; padding columns p ≥ P are written as zeros.
__kernel void winograd_filter_x_transform(const int first_image, const int images, const int channels,
                                          const int height, const int width, const int pad_top, const int pad_left,
                                          const int tiles_h, const int tiles_w, const int padded_tiles,
                                          __global const float* x, __global float* v, const int v_offset) {
    const int q = get_global_id(0), c = get_global_id(1);
    if (q >= winograd_filter_strips(images, tiles_h, tiles_w, padded_tiles) || c >= channels) return;
    const WinogradFilterStrip st = winograd_filter_strip(q, images, tiles_h, tiles_w, padded_tiles);
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global float* out = v + v_offset + (size_t)c * padded_tiles + st.p0;
    __global const float* plane = x + ((size_t)(first_image + st.n) * channels + c) * height * width;
    const int h0 = 4 * st.th - pad_top, w0 = 4 * st.tw0 - pad_left;
    float16 d[6];
    float2 dh[6];
    _Pragma("unroll")
    for (int r = 0; r < 6; r++) winograd_filter_load18(plane, h0 + r, w0, height, width, &d[r], &dh[r]);
    float16 t[6];  // Bᵀ d, down the rows
    float2 th[6];
    BT6(d[0], d[1], d[2], d[3], d[4], d[5], t[0], t[1], t[2], t[3], t[4], t[5]);
    BT6(dh[0], dh[1], dh[2], dh[3], dh[4], dh[5], th[0], th[1], th[2], th[3], th[4], th[5]);
    _Pragma("unroll")
    for (int r = 0; r < 6; r++) {
        float4 o[6];
        BT6(WF_COLS0(t[r], th[r]), WF_COLS1(t[r], th[r]), WF_COLS2(t[r], th[r]), WF_COLS3(t[r], th[r]),
            WF_COLS4(t[r], th[r]), WF_COLS5(t[r], th[r]), o[0], o[1], o[2], o[3], o[4], o[5]);
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) winograd_filter_store4(o[s], st.count, out + (r * 6 + s) * plane_size);
    }
}

// D = A dy Aᵀ over the 4×4 tiles at (4·th, 4·tw) of image first_image + n, zero past the
// output's edge, for the strip's tiles. Range [strips (rounded up to the work-group), K];
// padding columns p ≥ P are written as zeros.
__kernel void winograd_filter_dy_transform(const int first_image, const int images, const int channels,
                                           const int out_h, const int out_w, const int tiles_h, const int tiles_w,
                                           const int padded_tiles, __global const float* dy, __global float* dt,
                                           const int d_offset) {
    const int q = get_global_id(0), k = get_global_id(1);
    if (q >= winograd_filter_strips(images, tiles_h, tiles_w, padded_tiles) || k >= channels) return;
    const WinogradFilterStrip st = winograd_filter_strip(q, images, tiles_h, tiles_w, padded_tiles);
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global float* out = dt + d_offset + (size_t)k * padded_tiles + st.p0;
    __global const float* plane = dy + ((size_t)(first_image + st.n) * channels + k) * out_h * out_w;
    const int h0 = 4 * st.th, w0 = 4 * st.tw0;
    float16 g[4];
    _Pragma("unroll")
    for (int r = 0; r < 4; r++) {
        const int h = h0 + r;
        __global const float* src = plane + (size_t)max(h, 0) * out_w + w0;
        if (h >= 0 && h < out_h && w0 + 16 <= out_w) {
            g[r] = vload16(0, src);
        } else {
            float e[16];
            _Pragma("unroll")
            for (int s = 0; s < 16; s++) e[s] = (h >= 0 && h < out_h && w0 + s < out_w) ? src[s] : 0.0f;
            g[r] = vload16(0, e);
        }
    }
    float16 t[6];  // A g, down the rows
    WF_A4(g[0], g[1], g[2], g[3], t[0], t[1], t[2], t[3], t[4], t[5]);
    _Pragma("unroll")
    for (int r = 0; r < 6; r++) {
        float4 o[6];
        WF_A4(t[r].s048C, t[r].s159D, t[r].s26AE, t[r].s37BF, o[0], o[1], o[2], o[3], o[4], o[5]);
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) winograd_filter_store4(o[s], st.count, out + (r * 6 + s) * plane_size);
    }
}

// M[s][ξ] (+)= D[ξ] · X[ξ]ᵀ over the tiles [s·k_per_split, min(PP, (s + 1)·k_per_split)):
// D [36, K, PP] at dt + d_offset, X [36, C, PP] at v + v_offset, M [KSPLIT, 36, K, CP] at m.
// PP and k_per_split are multiples of 16 ≥ AK, so a run of AK tiles lies wholly inside or
// wholly outside a slice; CP is a multiple of 16 ≥ VW, so column vectors are whole.
// `accumulate` adds to M (every chunk after the first). One launch per slice `split` (the host
// loops): dividing the group index into (slice, ξ) makes LLVM insert a `freeze`, which
// oclgrind's uninitialized-value checker cannot run. Range [CP / TN·RTN (rounded up),
// ceil(K / TM)·RTM, 36].
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void winograd_filter_batched_gemm(const int K, const int C, const int CP, const int PP, const int split,
                                  const int k_per_split, const int accumulate, __global const float* dt,
                                  const int d_offset, __global const float* v, const int v_offset, __global float* m) {
    const int xi = get_group_id(2);
    const int m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;
    const int tx = get_local_id(0), ty = get_local_id(1);
    // Unsigned, so / and % by the power-of-two tile sizes become shifts and masks.
    const uint lid = ty * RTN + tx;
    __global const float* a = dt + d_offset + (size_t)xi * K * PP;
    __global const float* b = v + v_offset + (size_t)xi * C * PP;
    const int k_begin = split * k_per_split, k_end = min(PP, k_begin + k_per_split);

    __local float At[TM][TK];
    __local float Bs[TK][TN];
    floatVW acc[WPT_M][NV];
    for (int i = 0; i < WPT_M; i++)
        for (int jv = 0; jv < NV; jv++) acc[i][jv] = (floatVW)(0.0f);

    for (int k0 = k_begin; k0 < k_end; k0 += TK) {
        // D's rows: consecutive work-items copy consecutive AK-wide runs of one row.
        for (uint idx = lid; idx < TM * (TK / AK); idx += WG) {
            const int mm = idx / (TK / AK), kc = idx % (TK / AK) * AK;
            const int row = m0 + mm, k = k0 + kc;
            __global const float* src = a + (size_t)row * PP + k;
#if AK > 1
            if (row < K && k < k_end) {
                VSTORE_VW(VLOAD_VW(src), &At[mm][kc]);
                continue;
            }
#endif
            for (int l = 0; l < AK; l++) At[mm][kc + l] = (row < K && k + l < k_end) ? src[l] : 0.0f;
        }
        // X's rows, the same runs, stored transposed (k-major) for the register tile's vectors.
        for (uint idx = lid; idx < TN * (TK / AK); idx += WG) {
            const int nn = idx / (TK / AK), kc = idx % (TK / AK) * AK;
            const int col = n0 + nn, k = k0 + kc;
            __global const float* src = b + (size_t)col * PP + k;
            const bool inside = col < C && k < k_end;
            _Pragma("unroll")
            for (int l = 0; l < AK; l++) Bs[kc + l][nn] = inside ? src[l] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(A_MMAJOR, Bs, acc, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    __global float* out = m + ((size_t)(split * 36 + xi) * K) * CP;
    for (int i = 0; i < WPT_M; i++) {
        const int row = m0 + ty + i * RTM;
        if (row >= K) break;
        for (int jv = 0; jv < NV; jv++) {
            const int n = n0 + (jv * RTN + tx) * VW;
            if (n >= CP) continue;
            __global float* dst = out + (size_t)row * CP + n;
            VSTORE_VW(accumulate ? VLOAD_VW(dst) + acc[i][jv] : acc[i][jv], dst);
        }
    }
}

// dw[k][c] = Gᵀ (Σ_s M[s][ξ][k][c]) G, the slices summed in index order. Range [C, K]:
// consecutive work-items read consecutive c of M.
__kernel void winograd_filter_output_transform(const int K, const int C, const int CP, const int splits,
                                               __global const float* m, __global float* dw) {
    const int c = get_global_id(0), k = get_global_id(1);
    if (c >= C || k >= K) return;
    const size_t xi_stride = (size_t)K * CP, split_stride = 36 * xi_stride;
    __global const float* in = m + (size_t)k * CP + c;
    float q[6][6];
    _Pragma("unroll")
    for (int r = 0; r < 6; r++)
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) q[r][s] = in[(r * 6 + s) * xi_stride];
    for (int sp = 1; sp < splits; sp++) {
        _Pragma("unroll")
        for (int r = 0; r < 6; r++)
            _Pragma("unroll")
            for (int s = 0; s < 6; s++) q[r][s] += in[sp * split_stride + (r * 6 + s) * xi_stride];
    }
    float t3[3][6];  // Gᵀ q
    _Pragma("unroll")
    for (int s = 0; s < 6; s++) WF_GT6(q[0][s], q[1][s], q[2][s], q[3][s], q[4][s], q[5][s], t3[0][s], t3[1][s], t3[2][s]);
    __global float* out = dw + ((size_t)k * C + c) * 9;
    _Pragma("unroll")
    for (int r = 0; r < 3; r++) {
        float o[3];
        WF_GT6(t3[r][0], t3[r][1], t3[r][2], t3[r][3], t3[r][4], t3[r][5], o[0], o[1], o[2]);
        _Pragma("unroll")
        for (int s = 0; s < 3; s++) out[r * 3 + s] = o[s];
    }
}
