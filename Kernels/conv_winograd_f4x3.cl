// conv_winograd_f4x3.cl: Winograd's minimal filtering F(4×4, 3×3) for 3×3, stride-1,
// dilation-1, single-group convolution (Lavin & Gray, 2015, interpolation points 0, ±1, ±2, ∞).
// Each 4×4 output tile is Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A over a 6×6 input patch d, so the 36
// element-wise products, summed over input channels, become 36 independent GEMMs, which
// winograd_f4_batched_gemm runs as one launch (4× fewer multiplies than direct, against 2.25×
// for F(2×2, 3×3)). Launched by Backends/OpenCL/Solvers/WinogradF4x3Solver.swift; the GEMM's
// tunables and launch geometry come from one table, KernelTunables.winogradF4x3.
//   U[ξ][k][c] = (G g_kc Gᵀ)[ξ]                 weights, [36, K, C]
//   V[ξ][c][p] = (Bᵀ d_cp B)[ξ]                 input patches, [36, C, PP]
//   M[ξ][k][p] = Σ_c U[ξ][k][c] · V[ξ][c][p]    36 GEMMs, [36, K, PP]
//   y[n][k][4·th + i][4·tw + j] = (Aᵀ M_kp A)[i][j] + bias[k], then the activation
// Layout: x [N, C, H, W], y [N, K, OH, OW], w [K, C, 3, 3]; U, V, M share one workspace (V
// and M at element offsets v_offset, m_offset); tile p = (n·TH + th)·TW + tw with
// TH = ceil(OH/4), TW = ceil(OW/4), P = N·TH·TW tiles, rows of V and M padded to PP, a multiple
// of 16 (the widest vector), with zero columns, so the GEMM's column chunks are always whole
// vectors; ξ = 6·row + column of the 6×6 transform domain.
// Backward data is the same convolution of dy with the weights flipped and transposed
// (winograd_f4_weight_transform's `flip`) and padding 2 − pad.
//
// Transforms: one work-item per (tile, channel), the tile index along dimension 0, so
// consecutive work-items write consecutive p of V and read consecutive p of M (coalesced); a
// work-item reads a 6×6 patch of x, which neighbouring tiles overlap, through the cache.
//
// The batched GEMM (tunables, -D, defaults below; local size [RTN, RTM], global
// [ceil(PP / TN)·RTN, ceil(K / TM)·RTM, 36]): a work-group computes a TM × TN tile of one
// M[ξ], stepping through c by TK. Each step stages a TM × TK tile of U[ξ] row-major (its rows
// are contiguous along c, so they copy as VW-wide vectors) and a TK × TN tile of V[ξ] in
// __local memory; each work-item accumulates a WPT_M × WPT_N register tile: rows RTM = TM/WPT_M
// apart, columns in WPT_N/VW vectors of VW consecutive columns, RTN·VW apart (RTN = TN/WPT_N),
// so consecutive work-items read consecutive __local vectors and write consecutive addresses.
// The shape is conv_implicit_gemm.cl's KERNEL_1X1 forward (there one GEMM per group; here one
// per ξ, with the operands already dense), and the same PoCL rules apply (see there): explicit
// vectors, the register tile unrolled, the k loop started at lid >> 20.
//   TM, TN        work-group tile (rows = output channels, columns = tiles), powers of two
//   TK            c step staged through __local memory, a power of two
//   WPT_M, WPT_N  register tile per work-item
//   VW            vector width of the register tile's columns (1, 2, 4, 8, 16)
// Constraints (checked in gemm_tile.cl): TM % WPT_M == 0, TN % WPT_N == 0, WPT_N % VW == 0.

#include "gemm_tile.cl"

#include "activation_function.cl"

#include "winograd_f4_points.cl"

// The other transforms, written out as BT6 is (winograd_f4_points.cl).
// o = G i, G = [¼ 0 0; −⅙ −⅙ −⅙; −⅙ ⅙ −⅙; 1⁄24 1⁄12 ⅙; 1⁄24 −1⁄12 ⅙; 0 0 1].
#define G3(i0, i1, i2, o0, o1, o2, o3, o4, o5) do {              \
        o0 = 0.25f * (i0);                                        \
        o1 = -((i0) + (i1) + (i2)) / 6.0f;                        \
        o2 = -((i0) - (i1) + (i2)) / 6.0f;                        \
        o3 = (i0) / 24.0f + (i1) / 12.0f + (i2) / 6.0f;           \
        o4 = (i0) / 24.0f - (i1) / 12.0f + (i2) / 6.0f;           \
        o5 = (i2);                                                \
    } while (0)
// o = Aᵀ i, Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1].
#define AT6(i0, i1, i2, i3, i4, i5, o0, o1, o2, o3) do {         \
        o0 = (i0) + (i1) + (i2) + (i3) + (i4);                    \
        o1 = ((i1) - (i2)) + 2.0f * ((i3) - (i4));                \
        o2 = ((i1) + (i2)) + 4.0f * ((i3) + (i4));                \
        o3 = ((i1) - (i2)) + 8.0f * ((i3) - (i4)) + (i5);         \
    } while (0)

// U = G g Gᵀ. Without flip, g = w[k][c]; with flip (backward data: the convolution from dy's
// K channels to dx's C channels), the k-th output (a dx channel) and c-th input (a dy channel)
// use g[r][s] = w[c][k][2 − r][2 − s]. Range [C_in·K_out] where K_out, C_in are the GEMM's
// sizes: index = k·C_in + c, so consecutive work-items write consecutive c of U.
__kernel void winograd_f4_weight_transform(const int k_out, const int c_in, const int flip,
                                           __global const float* w, __global float* u) {
    const int i = get_global_id(0);
    if (i >= k_out * c_in) return;
    const int k = i / c_in, c = i - (i / c_in) * c_in;
    float g[3][3];
    _Pragma("unroll")
    for (int r = 0; r < 3; r++)
        _Pragma("unroll")
        for (int s = 0; s < 3; s++)
            g[r][s] = flip ? w[((c * k_out + k) * 3 + 2 - r) * 3 + 2 - s] : w[((k * c_in + c) * 3 + r) * 3 + s];
    float t[6][3];  // G g
    _Pragma("unroll")
    for (int s = 0; s < 3; s++) G3(g[0][s], g[1][s], g[2][s], t[0][s], t[1][s], t[2][s], t[3][s], t[4][s], t[5][s]);
    const size_t plane = (size_t)k_out * c_in;
    __global float* out = u + i;
    _Pragma("unroll")
    for (int r = 0; r < 6; r++) {
        float o[6];
        G3(t[r][0], t[r][1], t[r][2], o[0], o[1], o[2], o[3], o[4], o[5]);
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) out[(r * 6 + s) * plane] = o[s];
    }
}

// V = Bᵀ d B; d is the 6×6 patch at (4·th − pad_top, 4·tw − pad_left), zero outside the image.
// Range [PP, C]; the padding columns p ≥ P are written as zeros (the GEMM reads them).
__kernel void winograd_f4_input_transform(const int batch, const int channels, const int height, const int width,
                                          const int pad_top, const int pad_left, const int tiles_h,
                                          const int tiles_w, const int padded_tiles,
                                          __global const float* x, __global float* v, const int v_offset) {
    const int p = get_global_id(0), c = get_global_id(1);
    const int tiles = batch * tiles_h * tiles_w;
    if (p >= padded_tiles || c >= channels) return;
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global float* out = v + v_offset + (size_t)c * padded_tiles + p;
    const int n = p / (tiles_h * tiles_w), t = p - n * (tiles_h * tiles_w);
    const int th = t / tiles_w, tw = t - (t / tiles_w) * tiles_w;
    const int h0 = p < tiles ? 4 * th - pad_top : -6, w0 = 4 * tw - pad_left;  // −6: a padding column
    winograd_f4_input_patch(x + ((size_t)n * channels + c) * height * width, h0, w0, height, width, out, plane_size);
}

// M[ξ] = U[ξ] · V[ξ]: U [36, K, C] at u, V [36, C, PP] at v + v_offset, M [36, K, PP] at
// m + m_offset. PP is a multiple of 16 ≥ VW, so a column chunk of VW is wholly inside or
// wholly outside. Range [ceil(PP / TN)·RTN, ceil(K / TM)·RTM, 36].
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void winograd_f4_batched_gemm(const int K, const int C, const int PP, __global const float* u,
                              __global const float* v, const int v_offset, __global float* m, const int m_offset) {
    const int xi = get_group_id(2);
    const int m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;
    const int tx = get_local_id(0), ty = get_local_id(1);
    // Unsigned, so / and % by the power-of-two tile sizes become shifts and masks.
    const uint lid = ty * RTN + tx;
    __global const float* a = u + (size_t)xi * K * C;
    __global const float* b = v + v_offset + (size_t)xi * C * PP;

    __local float At[TM][TK];
    __local float Bs[TK][TN];
    floatVW acc[WPT_M][NV];
    for (int i = 0; i < WPT_M; i++)
        for (int jv = 0; jv < NV; jv++) acc[i][jv] = (floatVW)(0.0f);

    for (int k0 = 0; k0 < C; k0 += TK) {
        // U's rows are contiguous along c: consecutive work-items copy consecutive AK-wide chunks.
        for (uint idx = lid; idx < TM * (TK / AK); idx += WG) {
            const int mm = idx / (TK / AK), kc = idx % (TK / AK) * AK;
            const int row = m0 + mm, k = k0 + kc;
            __global const float* src = a + (size_t)row * C + k;
#if AK > 1
            if (row < K && k + AK <= C) {
                VSTORE_VW(VLOAD_VW(src), &At[mm][kc]);
                continue;
            }
#endif
            for (int l = 0; l < AK; l++) At[mm][kc + l] = (row < K && k + l < C) ? src[l] : 0.0f;
        }
        for (uint idx = lid; idx < TK * (TN / VW); idx += WG) {
            const int kk = idx / (TN / VW), c = idx % (TN / VW) * VW;
            const int k = k0 + kk, n = n0 + c;
            VSTORE_VW(k < C && n < PP ? VLOAD_VW(b + (size_t)k * PP + n) : (floatVW)(0.0f), &Bs[kk][c]);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(A_MMAJOR, Bs, acc, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    __global float* out = m + m_offset + (size_t)xi * K * PP;
    for (int i = 0; i < WPT_M; i++) {
        const int row = m0 + ty + i * RTM;
        if (row >= K) break;
        for (int jv = 0; jv < NV; jv++) {
            const int n = n0 + (jv * RTN + tx) * VW;
            if (n < PP) VSTORE_VW(acc[i][jv], out + (size_t)row * PP + n);
        }
    }
}

// Stores the 4×4 output tile of t4 (Aᵀ M) at (4·th, 4·tw) of `plane`, each value v (the
// tile's entry plus the bias b) as EXPR, skipping what lies past the image's edge.
#define STORE_OUTPUT_TILE(EXPR)                                                     \
    _Pragma("unroll")                                                               \
    for (int i = 0; i < 4; i++) {                                                   \
        const int oh = 4 * th + i, ow = 4 * tw;                                     \
        float o[4];                                                                 \
        AT6(t4[i][0], t4[i][1], t4[i][2], t4[i][3], t4[i][4], t4[i][5], o[0], o[1], o[2], o[3]); \
        _Pragma("unroll")                                                           \
        for (int j = 0; j < 4; j++) {                                               \
            const float v = o[j] + b;                                               \
            if (oh < out_h && ow + j < out_w) plane[oh * out_w + ow + j] = (EXPR);  \
        }                                                                           \
    }

// y tile = Aᵀ M A plus bias, then the activation (code −1: none). Range [P, K].
__kernel void winograd_f4_output_transform(const int batch, const int channels, const int out_h, const int out_w,
                                           const int tiles_h, const int tiles_w, const int padded_tiles,
                                           __global const float* m, const int m_offset,
                                           __global const float* bias, const int has_bias, const int act,
                                           const float alpha, __global float* y) {
    const int p = get_global_id(0), k = get_global_id(1);
    const int tiles = batch * tiles_h * tiles_w;
    if (p >= tiles || k >= channels) return;
    const size_t plane_size = (size_t)channels * padded_tiles;
    __global const float* in = m + m_offset + (size_t)k * padded_tiles + p;
    float q[6][6];
    _Pragma("unroll")
    for (int r = 0; r < 6; r++)
        _Pragma("unroll")
        for (int s = 0; s < 6; s++) q[r][s] = in[(r * 6 + s) * plane_size];
    float t4[4][6];  // Aᵀ M
    _Pragma("unroll")
    for (int s = 0; s < 6; s++)
        AT6(q[0][s], q[1][s], q[2][s], q[3][s], q[4][s], q[5][s], t4[0][s], t4[1][s], t4[2][s], t4[3][s]);
    const float b = has_bias ? bias[k] : 0.0f;
    const int n = p / (tiles_h * tiles_w), t = p - n * (tiles_h * tiles_w);
    const int th = t / tiles_w, tw = t - (t / tiles_w) * tiles_w;
    __global float* plane = y + ((size_t)n * channels + k) * out_h * out_w;
    // The activation's switch (with exp and tanh behind it) at every store kept PoCL from
    // vectorizing the stores across work-items (3–5× slower than plain stores, 64→64 56²):
    // the uniform cases without a call get branch-free copies of the store loop.
    if (act == ACT_NONE) {
        STORE_OUTPUT_TILE(v)
    } else if (act == ACT_RELU) {
        STORE_OUTPUT_TILE(v < 0.0f ? 0.0f : v)
    } else {
        STORE_OUTPUT_TILE(activate(act, alpha, v))
    }
}
