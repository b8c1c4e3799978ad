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
// Transforms: one work-item per (tile, channel), the tile index along dimension 0, so
// consecutive work-items write consecutive p of X and D (coalesced); neighbouring x patches
// overlap and are read through the cache.
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

// X = Bᵀ x B over the 6×6 patch at (4·th − pad_top, 4·tw − pad_left) of image first_image + n,
// zero outside the image. Range [PP, C]; padding columns p ≥ P are written as zeros.
__kernel void winograd_filter_x_transform(const int first_image, const int images, const int channels,
                                          const int height, const int width, const int pad_top, const int pad_left,
                                          const int tiles_h, const int tiles_w, const int padded_tiles,
                                          __global const float* x, __global float* v, const int v_offset) {
    const int p = get_global_id(0), c = get_global_id(1);
    const int tiles = images * tiles_h * tiles_w;
    if (p >= padded_tiles || c >= channels) return;
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global float* out = v + v_offset + (size_t)c * padded_tiles + p;
    const int n = p / (tiles_h * tiles_w), t = p - n * (tiles_h * tiles_w);
    const int th = t / tiles_w, tw = t - (t / tiles_w) * tiles_w;
    const int h0 = p < tiles ? 4 * th - pad_top : -6, w0 = 4 * tw - pad_left;  // −6: a padding column
    __global const float* plane = x + ((size_t)(first_image + (p < tiles ? n : 0)) * channels + c) * height * width;
    winograd_f4_input_patch(plane, h0, w0, height, width, out, plane_size);
}

// D = A dy Aᵀ over the 4×4 tile at (4·th, 4·tw) of image first_image + n, zero past the
// output's edge. Range [PP, K]; padding columns p ≥ P are written as zeros.
__kernel void winograd_filter_dy_transform(const int first_image, const int images, const int channels,
                                           const int out_h, const int out_w, const int tiles_h, const int tiles_w,
                                           const int padded_tiles, __global const float* dy, __global float* dt,
                                           const int d_offset) {
    const int p = get_global_id(0), k = get_global_id(1);
    const int tiles = images * tiles_h * tiles_w;
    if (p >= padded_tiles || k >= channels) return;
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global float* out = dt + d_offset + (size_t)k * padded_tiles + p;
    const int n = p / (tiles_h * tiles_w), t = p - n * (tiles_h * tiles_w);
    const int th = t / tiles_w, tw = t - (t / tiles_w) * tiles_w;
    // As in the x transform: a padding column reads rows above the output, all zeros.
    const int h0 = p < tiles ? 4 * th : -4, w0 = 4 * tw;
    __global const float* plane = dy + ((size_t)(first_image + (p < tiles ? n : 0)) * channels + k) * out_h * out_w;
    float g[4][4];
    _Pragma("unroll")
    for (int r = 0; r < 4; r++)
        _Pragma("unroll")
        for (int s = 0; s < 4; s++) {
            const int h = h0 + r, ww = w0 + s;
            g[r][s] = (h >= 0 && h < out_h && ww < out_w) ? plane[h * out_w + ww] : 0.0f;
        }
    float t6[6][4];  // A g
    _Pragma("unroll")
    for (int s = 0; s < 4; s++)
        WF_A4(g[0][s], g[1][s], g[2][s], g[3][s], t6[0][s], t6[1][s], t6[2][s], t6[3][s], t6[4][s], t6[5][s]);
    _Pragma("unroll")
    for (int r = 0; r < 6; r++) {
        float o[6];
        WF_A4(t6[r][0], t6[r][1], t6[r][2], t6[r][3], o[0], o[1], o[2], o[3], o[4], o[5]);
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) out[(r * 6 + s) * plane_size] = o[s];
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
