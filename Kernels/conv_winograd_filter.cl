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
// Transforms: one work-item per (strip of WF_STRIP tiles along a tile row, channel), the strip
// index along dimension 0, so consecutive work-items load consecutive runs of a row of x or dy
// and write consecutive WF_STRIP-float runs of p of X and D (coalesced); the 2 columns and
// rows by which neighbouring x patches overlap are read through the cache.
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
//   WF_STRIP      tiles per work-item of the two transforms (4, 8, 16)

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

// Both transforms run on strips of WF_STRIP consecutive tiles of one tile row (a multiple of
// 4), one strip per work-item. On a CPU (16) each of a strip's 36 outputs is 16 consecutive p,
// a whole cache line written by one work-item in 4 float4 stores; on a GPU (4) consecutive
// work-items write consecutive float4s and the private patch stays small (KernelTunables
// .winogradFilter says why and what was measured). The strip's rows (4·WF_STRIP + 2 columns of
// x: the 2 its last patch overlaps by; 4·WF_STRIP of dy) are first copied into a
// private patch, deinterleaved by column mod 4 (zero outside the plane), so that column m of 4
// consecutive tiles is one contiguous float4. Then, for each output row r and group of 4
// tiles, row r of Bᵀ (or A) is applied down the patch's rows to each of the 6 (4) columns as
// float4s, and the 4 tiles' row is transformed along the columns: 6 float4 outputs live at a
// time, never 36 × 16 values (the strip form that kept all 36 spilled). There are no vector
// shuffles: building column vectors out of swizzles of a float16 row made LLVM emit shuffles
// with undefined lanes, on which oclgrind's uninitialized-value checker crashes or reports
// every output uninitialized. The operations per value are the per-tile form's. Work-item
// q < images·tiles_h·strips_w is strip q % strips_w of tile row q / strips_w (its last strip
// partial when tiles_w is not a multiple of WF_STRIP); the work-items after those zero the
// padding columns [P, PP), WF_STRIP at a time.
#ifndef WF_STRIP
#define WF_STRIP 16
#endif
#if WF_STRIP % 4 != 0 || WF_STRIP < 4
#error "WF_STRIP must be a positive multiple of 4"
#endif

// Row r of Bᵀ (winograd_f4_points.cl's BT6) and of A (WF_A4) applied to a column of inputs;
// r is a constant after unrolling, so the selection folds away.
#define WF_BT_ROW(r, i0, i1, i2, i3, i4, i5)                                       \
    ((r) == 0 ? 4.0f * (i0) - 5.0f * (i2) + (i4)                                   \
     : (r) == 1 ? -4.0f * ((i1) + (i2)) + (i3) + (i4)                              \
     : (r) == 2 ? 4.0f * ((i1) - (i2)) - (i3) + (i4)                               \
     : (r) == 3 ? 2.0f * ((i3) - (i1)) - (i2) + (i4)                               \
     : (r) == 4 ? 2.0f * ((i1) - (i3)) - (i2) + (i4)                               \
     : 4.0f * (i1) - 5.0f * (i3) + (i5))
#define WF_A_ROW(r, i0, i1, i2, i3)                                                \
    ((r) == 0 ? (i0)                                                               \
     : (r) == 1 ? ((i0) + (i2)) + ((i1) + (i3))                                    \
     : (r) == 2 ? ((i0) + (i2)) - ((i1) + (i3))                                    \
     : (r) == 3 ? ((i0) + 4.0f * (i2)) + (2.0f * (i1) + 8.0f * (i3))               \
     : (r) == 4 ? ((i0) + 4.0f * (i2)) - (2.0f * (i1) + 8.0f * (i3))               \
     : (i3))

// Where strip q starts: *p0 (its first tile), the tiles it holds (*count, 1…WF_STRIP), its image
// *n of the chunk, tile row *th and first tile column *tw0. A padding strip gets *th = −2 (rows
// above the image: it transforms to zeros) and image 0. (Out-parameters, not a returned
// struct: oclgrind's uninitialized-value checker crashes on the kernels with the struct.)
inline void winograd_filter_strip(const int q, const int images, const int tiles_h, const int tiles_w,
                                  const int padded_tiles, int* p0, int* count, int* n, int* th, int* tw0) {
    const int strips_w = (tiles_w + WF_STRIP - 1) / WF_STRIP, row_strips = images * tiles_h * strips_w;
    const int tiles = images * tiles_h * tiles_w;
    if (q < row_strips) {
        const int row = q / strips_w, j = q - row * strips_w;
        *n = row / tiles_h;
        *th = row - *n * tiles_h;
        *tw0 = j * WF_STRIP;
        *p0 = row * tiles_w + *tw0;
        *count = min(WF_STRIP, tiles_w - *tw0);
    } else {
        *n = 0;
        *th = -2;
        *tw0 = 0;
        *p0 = tiles + (q - row_strips) * WF_STRIP;
        *count = clamp(padded_tiles - *p0, 0, WF_STRIP);
    }
}

// The strips (row strips, then padding strips) of a chunk: the transforms' dimension 0.
inline int winograd_filter_strips(const int images, const int tiles_h, const int tiles_w, const int padded_tiles) {
    const int strips_w = (tiles_w + WF_STRIP - 1) / WF_STRIP, tiles = images * tiles_h * tiles_w;
    return images * tiles_h * strips_w + (padded_tiles - tiles + WF_STRIP - 1) / WF_STRIP;
}

// Stores 4 tiles' values o at out[0…count): one vector where all 4 are inside the strip.
inline void winograd_filter_store4(const float4 o, const int count, __global float* out) {
    if (count >= 4) {
        vstore4(o, 0, out);
    } else {
        if (count > 0) out[0] = o.s0;
        if (count > 1) out[1] = o.s1;
        if (count > 2) out[2] = o.s2;
    }
}

// Row h of `plane` (height × width) from column w0, zero outside, into `patch` deinterleaved:
// column w at patch[(w % 4)·stride + w / 4], so that column m of 4 consecutive tiles (4j + m)
// is one contiguous float4 (and the transforms take no shuffles). Runs of 16 columns inside
// the plane are copied without per-element bounds checks (element by element: a float16 load
// split into its phases is a shuffle again).
inline void winograd_filter_stage_row(__global const float* plane, const int h, const int w0, const int height,
                                      const int width, const int columns, const int stride, float* patch) {
    const bool row_inside = h >= 0 && h < height;
    __global const float* src = plane + (size_t)(row_inside ? h : 0) * width;
    for (int c0 = 0; c0 < columns; c0 += 16) {
        const int w = w0 + c0;
        if (row_inside && w >= 0 && w + 16 <= width && c0 + 16 <= columns) {
            _Pragma("unroll")
            for (int s = 0; s < 16; s++) patch[(s & 3) * stride + ((c0 + s) >> 2)] = src[w + s];
            continue;
        }
        for (int s = c0; s < min(c0 + 16, columns); s++) {
            const int ww = w0 + s;
            patch[(s & 3) * stride + (s >> 2)] = (row_inside && ww >= 0 && ww < width) ? src[ww] : 0.0f;
        }
    }
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
    int p0, count, n, th, tw0;
    winograd_filter_strip(q, images, tiles_h, tiles_w, padded_tiles, &p0, &count, &n, &th, &tw0);
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global float* out = v + v_offset + (size_t)c * padded_tiles + p0;
    __global const float* plane = x + ((size_t)(first_image + n) * channels + c) * height * width;
    const int h0 = 4 * th - pad_top, w0 = 4 * tw0 - pad_left;
    // 6 rows of 4·WF_STRIP + 2 columns (the 2 the last patch overlaps by), deinterleaved into 4
    // phases of WF_STRIP + 1 (rounded up to WF_STRIP + 4 for the float4 loads; the 2 columns
    // past 4·WF_STRIP + 2 are staged, never used).
    float d[6][4][WF_STRIP + 4];
    for (int r = 0; r < 6; r++)
        winograd_filter_stage_row(plane, h0 + r, w0, height, width, 4 * WF_STRIP + 4, WF_STRIP + 4, &d[r][0][0]);
    _Pragma("unroll")
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < WF_STRIP; j += 4) {
            // Row r of Bᵀ d at columns 4j' + m of tiles j' = j … j + 3: columns 4 and 5 of a tile
            // are columns 0 and 1 of the next.
            float4 col[6];
            _Pragma("unroll")
            for (int m = 0; m < 6; m++) {
                const int phase = m & 3, at = j + (m >> 2);
                col[m] = WF_BT_ROW(r, vload4(0, &d[0][phase][at]), vload4(0, &d[1][phase][at]), vload4(0, &d[2][phase][at]),
                                   vload4(0, &d[3][phase][at]), vload4(0, &d[4][phase][at]), vload4(0, &d[5][phase][at]));
            }
            float4 o[6];
            BT6(col[0], col[1], col[2], col[3], col[4], col[5], o[0], o[1], o[2], o[3], o[4], o[5]);
            _Pragma("unroll")
            for (int s = 0; s < 6; s++) winograd_filter_store4(o[s], count - j, out + (r * 6 + s) * plane_size + j);
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
    int p0, count, n, th, tw0;
    winograd_filter_strip(q, images, tiles_h, tiles_w, padded_tiles, &p0, &count, &n, &th, &tw0);
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global float* out = dt + d_offset + (size_t)k * padded_tiles + p0;
    __global const float* plane = dy + ((size_t)(first_image + n) * channels + k) * out_h * out_w;
    const int h0 = 4 * th, w0 = 4 * tw0;
    float g[4][4][WF_STRIP];  // 4 rows of 4·WF_STRIP columns, deinterleaved into 4 phases
    for (int r = 0; r < 4; r++)
        winograd_filter_stage_row(plane, h0 + r, w0, out_h, out_w, 4 * WF_STRIP, WF_STRIP, &g[r][0][0]);
    _Pragma("unroll")
    for (int r = 0; r < 6; r++)
        for (int j = 0; j < WF_STRIP; j += 4) {
            float4 col[4];  // row r of A g at columns 4j' + m of tiles j' = j … j + 3
            _Pragma("unroll")
            for (int m = 0; m < 4; m++)
                col[m] = WF_A_ROW(r, vload4(0, &g[0][m][j]), vload4(0, &g[1][m][j]), vload4(0, &g[2][m][j]),
                                  vload4(0, &g[3][m][j]));
            float4 o[6];
            WF_A4(col[0], col[1], col[2], col[3], o[0], o[1], o[2], o[3], o[4], o[5]);
            _Pragma("unroll")
            for (int s = 0; s < 6; s++) winograd_filter_store4(o[s], count - j, out + (r * 6 + s) * plane_size + j);
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
