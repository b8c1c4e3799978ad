// conv_implicit_gemm.cl: 2-D convolution as a tiled GEMM whose operands are read straight
// from the NCHW tensors (implicit GEMM: no column matrix is ever written to memory).
// Launched by Backends/OpenCL/Solvers/ImplicitGEMMSolver.swift; the tunables and the launch
// geometry come from one table, Backends/OpenCL/KernelTunables.swift.
//
// Layout: x, dx [N, C, H, W]; w, dw [K, C/G, R, S] (OIHW); y, dy [N, K, OH, OW]; G groups,
// each group one GEMM (group = get_group_id(2), with the split index folded in for the
// filter gradient). Per group, with Cg = C/G and Kg = K/G:
//   forward          Y[m, n]  = Σ_k W[m, k]  · X[k, n]   m = output channel (Kg), n = (image, out
//                                                         pixel) (N·OH·OW), k = (c, r, s) (Cg·R·S)
//   backward data    dX[m, n] = Σ_k W'[m, k] · dY[k, n]  m = input channel (Cg), n = (image, in
//                                                         pixel) (N·H·W), k = (o, r, s) (Kg·R·S)
//   backward filter  dW[m, n] = Σ_k dY[m, k] · X[k, n]   m = output channel (Kg), n = (c, r, s)
//                                                         (Cg·R·S), k = (image, out pixel) (N·OH·OW)
// Backward data of a strided layer runs conv_igemm_backward_data_phase once per stride phase
// instead: a dense GEMM over that phase's pixels and the taps that reach them (see there).
// The backward-filter reduction is long (N·OH·OW), so it is split into KSPLIT slices (runtime
// argument `splits`), each writing its partial sums to a workspace; conv_igemm_reduce_splits
// then adds the slices in a fixed order: deterministic, no atomics.
//
// Tiling: a work-group computes a TM × TN tile of the output GEMM, stepping through k by TK.
// Each step stages a TM × TK tile of the left operand (row-major where its rows are contiguous
// along k in memory, forward weights and filter-gradient dy, so they copy as vectors; k-major
// otherwise) and a TK × TN tile of the right one in __local memory; each work-item then accumulates a WPT_M × WPT_N register tile: rows RTM =
// TM/WPT_M apart, and columns in WPT_N/VW vectors of VW consecutive columns, the vectors RTN·VW
// apart (RTN = TN/WPT_N), so consecutive work-items (dimension 0 runs along n) read
// consecutive __local vectors and write consecutive output addresses. The vectors are explicit
// (floatVW, vloadVW): PoCL vectorizes a work-group only across work-items of a loop-free
// region, and the k loop is a loop, so without them a CPU device runs the tile one float at a
// time (5–20 GFLOP/s on AVX-512); a GPU gets the wide __local loads CLBlast's VWN gives it.
// Staging is written as "element (or VW-column chunk) idx = lid + j·WG of the tile", which any
// work-group size fills; a chunk whose pixels are contiguous in memory and inside the image
// is one vector load, and a register-tile vector whose outputs are contiguous is one vector
// store (elsewhere, element by element). The index arithmetic of a k step (integer divisions
// by R·S, S, OH·OW, OW) is done once per work-group into small __local tables, not once per
// element.
//
// Tunables (-D, defaults below; the Swift table keeps them consistent with the launch size,
// local = [RTN, RTM]):
//   TM, TN        work-group tile (rows of the output GEMM, columns), powers of two
//   TK            k step staged through __local memory, a power of two
//   WPT_M, WPT_N  register tile per work-item
//   VW            vector width of the register tile's columns (1, 2, 4, 8, 16)
//   KERNEL_1X1    defined for 1×1 with no padding: the forward right operand is the input
//                 itself (X[n] is a C × H·W matrix, sampled at the stride), no tap table and no
//                 bounds checks; with stride 1 a chunk inside one image is one vector. In
//                 backward data (any stride), dy's chunks load as vectors across row ends, and
//                 the weights stage straight from w as vectors (STAGE_A_KMAJOR_ROWS), never
//                 transposed. In backward filter (any stride), x is gathered without bounds checks
//   WEIGHTS_TRANSPOSED  backward data (both kernels): the weights argument is the transposed
//                 copy from conv_igemm_transpose_weights, staged row-major as vectors (see there)
// Constraints (checked in gemm_tile.cl): TM % WPT_M == 0, TN % WPT_N == 0, WPT_N % VW == 0.

#include "gemm_tile.cl"

// A chunk of VW columns in one image of a stride-1 layer whose rows are as wide as the other
// tensor's (OW == W, "same" padding: every ResNet 3×3 layer) is contiguous in the other tensor
// across row ends, so it loads as one vector with the lanes outside the image (a row's wrap,
// padding) masked to zero: at 14² and 7² no 16-wide chunk fits in one row, and the
// per-element path cost 4 bounds checks per element. row_v, col_v: the lanes' row and column
// in the loaded tensor; rows, cols: its size.
#define MASKED_CHUNK(v, row_v, col_v, rows, cols) \
    select((floatVW)(0.0f), v, (row_v) >= 0 && (row_v) < (rows) && (col_v) >= 0 && (col_v) < (cols))

// The fused epilogue's activation (codes: Activation.kernelCode; -1 is none).
#include "activation_function.cl"

// q = a / b and r = a − q·b for a ≥ 0, b > 0, by a float quotient corrected in integers.
// Not an integer division: LLVM rewrites an integer division and remainder of the same
// operands with a `freeze`, which oclgrind's uninitialized-value checker cannot interpret
// (scripts/check-kernels.sh), and integer division is slow on GPUs and does not vectorize on
// CPUs. The float quotient is within one of the truth below 2^24 (a few steps above), and the
// loops make the result exact for every int.
#define DIVMOD(a, b, q, r) do {                     \
        q = (int)((float)(a) / (float)(b));         \
        r = (a) - q * (b);                          \
        while (r < 0) { q--; r += (b); }            \
        while (r >= (b)) { q++; r -= (b); }         \
    } while (0)

// A row offset that no tap can bring back inside the image: marks padding columns.
#define OUTSIDE (-(1 << 28))

#define GEOMETRY const int batch, const int C, const int H, const int W, const int K, \
    const int R, const int S, const int stride_h, const int stride_w, const int pad_top, \
    const int pad_left, const int dil_h, const int dil_w, const int OH, const int OW, const int groups

// Stages the TM × TK block of a left operand whose rows lie contiguous along k in global
// memory (row m at a + m·KK) into At[TM][TK]: consecutive work-items copy consecutive AK-wide
// chunks of a row, one vector each where the chunk is inside the matrix (scalar gathers into a
// k-major tile took about 10% of a kernel on PoCL). Used by the forward (weights) and the
// input gradient over transposed weights.
#if AK > 1
#define STAGE_A_WHOLE_CHUNK(row, mm, kc, m, k, M, KK)                               \
            if ((m) < (M) && (k) + AK <= (KK)) {                                    \
                VSTORE_VW(VLOAD_VW(row), &At[mm][kc]);                              \
                continue;                                                           \
            }
#else
#define STAGE_A_WHOLE_CHUNK(row, mm, kc, m, k, M, KK)
#endif
#define STAGE_A_MMAJOR(a, m0, k0, M, KK)                                            \
        for (uint idx = lid; idx < TM * (TK / AK); idx += WG) {                     \
            const int mm = idx / (TK / AK), kc = idx % (TK / AK) * AK;              \
            const int m = (m0) + mm, k = (k0) + kc;                                 \
            __global const float* row = (a) + (size_t)m * (KK) + k;                 \
            STAGE_A_WHOLE_CHUNK(row, mm, kc, m, k, M, KK)                           \
            for (int l = 0; l < AK; l++)                                            \
                At[mm][kc + l] = (m < (M) && k + l < (KK)) ? row[l] : 0.0f;         \
        }

// Stages the TK × TM block of a left operand whose k rows lie contiguous along m in global
// memory (row k at a + k·M) into the k-major As[TK][TM]: a 1×1 layer's input gradient, whose
// W'[c][o] = w[o][c], so its weights need neither a transposed copy nor a gather per element.
// Consecutive work-items copy consecutive AM-wide chunks of a row, one vector each inside the
// matrix.
#if TM % VW == 0
#define AM VW
#else
#define AM 1
#endif
#if AM > 1
#define STAGE_A_WHOLE_ROW_CHUNK(row, kk, mc, m, k, M, KK)                           \
            if ((k) < (KK) && (m) + AM <= (M)) {                                    \
                VSTORE_VW(VLOAD_VW(row), &As[kk][mc]);                              \
                continue;                                                           \
            }
#else
#define STAGE_A_WHOLE_ROW_CHUNK(row, kk, mc, m, k, M, KK)
#endif
#define STAGE_A_KMAJOR_ROWS(a, m0, k0, M, KK)                                       \
        for (uint idx = lid; idx < TK * (TM / AM); idx += WG) {                     \
            const int kk = idx / (TM / AM), mc = idx % (TM / AM) * AM;              \
            const int m = (m0) + mc, k = (k0) + kk;                                 \
            __global const float* row = (a) + (size_t)k * (M) + m;                  \
            STAGE_A_WHOLE_ROW_CHUNK(row, kk, mc, m, k, M, KK)                       \
            for (int l = 0; l < AM; l++)                                            \
                As[kk][mc + l] = (k < (KK) && m + l < (M)) ? row[l] : 0.0f;         \
        }

// The output tile of this work-group, row tiles fastest: work-groups that run one after another
// share their right operand's column tile (the gathered input, KK × TN: 512 KB for a 1×1
// 1024-channel layer), which then stays in cache while the small weight tiles change; the
// launch's own order (column tiles fastest) streams the whole input again for each row tile.
// On PoCL 0–10% less CPU time per forward and input gradient with several row tiles, and
// 0–45% for the strided input gradient's phases (the 1×1/2 layers, whose dy tiles are largest).
// DIVMOD, not / and %: see there (oclgrind --uninitialized computed wrong tiles otherwise).
#define TILE_ORIGIN(m0, n0) do {                                                    \
        const int tile_ = get_group_id(0) + get_group_id(1) * get_num_groups(0);     \
        const int rows_ = get_num_groups(1);                                        \
        int tn_, tm_;                                                               \
        DIVMOD(tile_, rows_, tn_, tm_);                                             \
        m0 = tm_ * TM;                                                              \
        n0 = tn_ * TN;                                                              \
    } while (0)

#define ZERO_TILE(acc)                                                              \
    floatVW acc[WPT_M][NV];                                                         \
    for (int i = 0; i < WPT_M; i++)                                                 \
        for (int jv = 0; jv < NV; jv++) acc[i][jv] = (floatVW)(0.0f);

// Stores the lanes of v (output columns nj, nj + 1, … of a GEMM whose columns are (image,
// pixel), PLANE pixels per image plane) that are inside the GEMM (fewer than `left` remain)
// one element at a time, at plane + image·IMAGE_STRIDE + pixel: for a vector that straddles
// an image's end (at 7², 7 of every 25 chunks of 16) or the GEMM's. The image and pixel of
// the first lane (im, pj) step along, no division per element.
#define STORE_LANES(v, plane, IMAGE_STRIDE, PLANE, im, pj, left) do {               \
        float e_[VW];                                                               \
        VSTORE_VW(v, e_);                                                           \
        int im_ = (im), p_ = (pj);                                                  \
        for (int l_ = 0; l_ < VW && l_ < (left); l_++) {                            \
            (plane)[(size_t)im_ * (IMAGE_STRIDE) + p_] = e_[l_];                    \
            if (++p_ == (PLANE)) { p_ = 0; im_++; }                                 \
        }                                                                           \
    } while (0)

// Any activation of a vector, element by element (`activate`'s switch).
inline floatVW activate_lanes(const int act, const float alpha, const floatVW v) {
    float e[VW];
    VSTORE_VW(v, e);
    for (int l = 0; l < VW; l++) e[l] = activate(act, alpha, e[l]);
    return VLOAD_VW(e);
}

// The forward's stores of its register tile: y = ACTIVATED, an expression of the vector
// v = acc + bias.
#define FORWARD_EPILOGUE(ACTIVATED)                                                 \
    for (int jv = 0; jv < NV; jv++) {                                               \
        const int nj = n0 + TILE_COL(tx, jv);                                       \
        if (nj >= NN) break;                                                        \
        int im, pj;                                                                 \
        DIVMOD(nj, OHW, im, pj);                                                    \
        const bool whole = nj + VW <= NN && pj + VW <= OHW;                         \
        for (int i = 0; i < WPT_M; i++) {                                           \
            const int m = m0 + ty + i * RTM;                                        \
            if (m >= M) break;                                                      \
            const int o = g * Kg + m;                                               \
            const floatVW v = acc[i][jv] + (has_bias ? bias[o] : 0.0f);             \
            const floatVW out = ACTIVATED;                                          \
            if (whole) {                                                            \
                VSTORE_VW(out, y + ((size_t)im * K + o) * OHW + pj);                \
                continue;                                                           \
            }                                                                       \
            STORE_LANES(out, y + (size_t)o * OHW, K * OHW, OHW, im, pj, NN - nj);   \
        }                                                                           \
    }

// Forward: y = act(conv(x, w) + bias). Range [ceil(N·OH·OW / TN)·RTN, ceil(Kg / TM)·RTM, G].
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void conv_igemm_forward(GEOMETRY, __global const float* x, __global const float* w,
                        __global const float* bias, const int has_bias, const int act,
                        const float alpha, __global float* y) {
    const int Cg = C / groups, Kg = K / groups, RS = R * S;
    const int M = Kg, OHW = OH * OW, NN = batch * OHW, KK = Cg * RS, HW = H * W;
    const int g = get_group_id(2);
    int m0, n0;
    TILE_ORIGIN(m0, n0);
    const int tx = get_local_id(0), ty = get_local_id(1);
    // Unsigned, so / and % by the power-of-two tile sizes become shifts and masks, not
    // division/remainder pairs (see DIVMOD).
    const uint lid = ty * RTN + tx;

    __local float At[TM][TK];
    __local float Bs[TK][TN];
    // Per column of the tile (image, output pixel): x offset of the window's corner (of the
    // pixel for 1×1) and the corner's row (OUTSIDE past the end) and column.
    __local int col_x[TN], col_ih[TN], col_iw[TN];
    // Per VW-column chunk: whether its pixels are consecutive in x (one output row, stride 1;
    // one image for 1×1), so that a tap inside the image loads the chunk as one vector.
    __local int chunk_run[TN / VW];
#ifndef KERNEL_1X1
    __local int tap_off[TK], tap_r[TK], tap_s[TK];
#endif
    for (uint ch = lid; ch < TN / VW; ch += WG) {
        const int n = n0 + ch * VW;
        int img = 0, p = 0;
        if (n < NN) DIVMOD(n, OHW, img, p);
#ifdef KERNEL_1X1
        // A strided layer's pixels are stride_w apart in x: they take the element path, which
        // for 1×1 needs no bounds check (the ResNet downsample layers ran 3–5 GFLOP/s on the
        // generic path's four checks per element).
        chunk_run[ch] = n + VW <= NN && p + VW <= OHW && stride_h == 1 && stride_w == 1;
#else
        // 1: inside one output row (stride 1): a tap inside the image is one plain vector load.
        // 2: inside one image whose rows continue in x (see MASKED_CHUNK).
        chunk_run[ch] = (n + VW <= NN && stride_w == 1 && p % OW + VW <= OW)
            | (n + VW <= NN && p + VW <= OHW && stride_h == 1 && stride_w == 1 && OW == W) << 1;
#endif
    }
    for (uint nn = lid; nn < TN; nn += WG) {
        const int n = n0 + nn;
        int img = 0, p = 0, oh, ow;
        if (n < NN) DIVMOD(n, OHW, img, p);
        DIVMOD(p, OW, oh, ow);
        const int ih0 = oh * stride_h - pad_top, iw0 = ow * stride_w - pad_left;
        // Only dereferenced with a tap that lands inside the image, so negative parts are fine.
        col_x[nn] = n < NN ? (img * C + g * Cg) * HW + ih0 * W + iw0 : 0;
        col_ih[nn] = n < NN ? ih0 : OUTSIDE;
        col_iw[nn] = iw0;
    }
    __global const float* wg = w + (size_t)g * Kg * KK;

    ZERO_TILE(acc)

    for (int k0 = 0; k0 < KK; k0 += TK) {
#ifndef KERNEL_1X1
        for (uint t = lid; t < TK; t += WG) {
            const int k = k0 + t;
            int c, rs, r, s;
            DIVMOD(k, RS, c, rs);
            DIVMOD(rs, S, r, s);
            tap_off[t] = c * HW + r * dil_h * W + s * dil_w;
            tap_r[t] = k < KK ? r * dil_h : OUTSIDE;
            tap_s[t] = s * dil_w;
        }
#endif
        barrier(CLK_LOCAL_MEM_FENCE);
        // Row-major (At): a weight row's k run is contiguous in w.
        STAGE_A_MMAJOR(wg, m0, k0, M, KK)
        // n fastest, VW columns per work-item: consecutive work-items read consecutive pixels,
        // as one vector where the chunk is contiguous and inside the image.
        for (uint idx = lid; idx < TK * (TN / VW); idx += WG) {
            const int kk = idx / (TN / VW), ch = idx % (TN / VW), c = ch * VW;
#ifdef KERNEL_1X1
            const int k = k0 + kk;
            if (chunk_run[ch] && k < KK) {
                VSTORE_VW(VLOAD_VW(x + col_x[c] + k * HW), &Bs[kk][c]);
                continue;
            }
            for (int l = c; l < c + VW; l++)
                Bs[kk][l] = (col_ih[l] != OUTSIDE && k < KK) ? x[col_x[l] + k * HW] : 0.0f;
#else
            const int ih = col_ih[c] + tap_r[kk], iw = col_iw[c] + tap_s[kk];
            if ((chunk_run[ch] & 1) && ih >= 0 && ih < H && iw >= 0 && iw + VW <= W) {
                VSTORE_VW(VLOAD_VW(x + col_x[c] + tap_off[kk]), &Bs[kk][c]);
                continue;
            }
#if VW > 1
            // ih·W + iw: the first lane's index in its x plane; the span must stay inside it.
            if ((chunk_run[ch] & 2) && k0 + kk < KK && ih * W + iw >= 0 && ih * W + iw + VW <= HW) {
                const intVW ihv = VLOAD_VW(col_ih + c) + tap_r[kk], iwv = VLOAD_VW(col_iw + c) + tap_s[kk];
                VSTORE_VW(MASKED_CHUNK(VLOAD_VW(x + col_x[c] + tap_off[kk]), ihv, iwv, H, W), &Bs[kk][c]);
                continue;
            }
#endif
            for (int l = c; l < c + VW; l++) {
                const int ihl = col_ih[l] + tap_r[kk], iwl = col_iw[l] + tap_s[kk];
                Bs[kk][l] = (ihl >= 0 && ihl < H && iwl >= 0 && iwl < W) ? x[col_x[l] + tap_off[kk]] : 0.0f;
            }
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(A_MMAJOR, Bs, acc, tx, ty)
    }

    // Each VW-column vector goes out as one store where its pixels are consecutive in y (one
    // image), else lane by lane (STORE_LANES). The activation is applied to whole vectors, in
    // one copy of the loop per kind: a switch per element (`activate`) kept the epilogue scalar,
    // and where the k loop is short it is much of the kernel (1×1 64→64: K = 64, two k steps).
    if (act == ACT_NONE) {
        FORWARD_EPILOGUE(v)
    } else if (act == ACT_RELU) {
        // v < 0 ? 0 : v, so NaN stays NaN (activate's ReLU).
        FORWARD_EPILOGUE(select(v, (floatVW)(0.0f), v < (floatVW)(0.0f)))
    } else {
        FORWARD_EPILOGUE(activate_lanes(act, alpha, v))
    }
}

// The input gradient's left operand W'[c][(o, r, s)] = w[o][c][r][s] is not contiguous along k
// in w, so staging it gathered one element at a time into a k-major tile. This kernel writes it
// once per launch as wt[g][c][o][rs] = w[g·Kg + o][c][rs], whose rows are contiguous along k,
// so conv_igemm_backward_data stages them as vectors like the forward's weights (A_MMAJOR).
// A strided layer's stride phase (conv_igemm_backward_data_phase) reads only the taps
// (r0 + j·r_step, s0 + i·s_step), j < Rp, i < Sp, that reach its pixels, so it gets its own
// copy wt[g][c][o][j·Sp + i] at wt + wt_offset: the phases partition the taps, so the copies of
// all phases fit in the weight count (a stride-1 layer has one phase with every tap).
// A work-group moves a T (o) × T (c) block with all its RSp = Rp·Sp taps through __local
// memory, T·RSp work-items, each owning one position j of a block row: it reads T rows of w
// (row i: the T·RSp taps of output channel o0 + i from channel c0 on, consecutive for a
// stride-1 layer) and writes T rows of wt (row i: the T·RSp consecutive floats of input
// channel c0 + i from output channel o0 on), so consecutive work-items touch consecutive (or
// nearby) addresses on both sides, and the divisions (j by RSp, by Sp) are per work-item, not
// per element (a division per element made the transpose of ResNet's 512→512 3×3 weights
// 15 ms on PoCL, more than the GEMM it serves). T is a launch argument, not a -D, so the
// transpose shares the backward-data kernels' compiled program (ImplicitGEMMSolver.swift sets
// it and sizes tile: T²·RSp floats of __local memory).
// Range [ceil(Cg / T)·T·RSp, ceil(Kg / T), G], work-group [T·RSp, 1, 1].
__kernel void conv_igemm_transpose_weights(const int Kg, const int Cg, const int R, const int S, const int T,
                                           const int r0, const int r_step, const int Rp,
                                           const int s0, const int s_step, const int Sp,
                                           __global const float* w, __global float* wt, const int wt_offset,
                                           __local float* tile) {
    const int g = get_group_id(2), c0 = get_group_id(0) * T, o0 = get_group_id(1) * T;
    const int RS = R * S, RSp = Rp * Sp, j = get_local_id(0), row = T * RSp, CgRS = Cg * RS;
    // j as (channel cc of the block, phase tap jj = (jr, js)) on the read side, (output
    // channel oo, phase tap jj) on the write side: the same division.
    const int oo = j / RSp, jj = j - oo * RSp, jr = jj / Sp, js = jj - jr * Sp;
    const int c = c0 + oo, col = c * RS + (r0 + jr * r_step) * S + s0 + js * s_step;
    __global const float* wg = w + (size_t)g * Kg * CgRS + col;
    for (int i = 0; i < T; i++)
        tile[i * row + j] = (o0 + i < Kg && c < Cg) ? wg[(size_t)(o0 + i) * CgRS] : 0.0f;
    barrier(CLK_LOCAL_MEM_FENCE);
    __global float* wtg = wt + wt_offset + (size_t)g * Cg * Kg * RSp + (size_t)o0 * RSp + j;
    if (o0 + oo >= Kg) return;
    for (int i = 0; i < T && c0 + i < Cg; i++) wtg[(size_t)(c0 + i) * Kg * RSp] = tile[oo * row + i * RSp + jj];
}

// The staged left operand of both backward-data kernels.
#ifdef WEIGHTS_TRANSPOSED
#define A_STAGED A_MMAJOR
#else
#define A_STAGED A_KMAJOR
#endif

// Backward data of a stride-1 layer (strided ones run conv_igemm_backward_data_phase):
// dx = conv_transpose(dy, w). With WEIGHTS_TRANSPOSED defined, `w` is the transposed copy
// (conv_igemm_transpose_weights) and its rows stage as vectors (A_MMAJOR); without, w's
// elements are gathered into a k-major tile. The transpose pays off only where each weight is
// staged by many column tiles (ImplicitGEMMSolver.swift decides). Range [ceil(N·H·W / TN)·RTN,
// ceil(Cg / TM)·RTM, G].
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void conv_igemm_backward_data(GEOMETRY, __global const float* dy, __global const float* w,
                              __global float* dx) {
    const int Cg = C / groups, Kg = K / groups, RS = R * S;
    const int M = Cg, HW = H * W, OHW = OH * OW, NN = batch * HW, KK = Kg * RS;
    const int g = get_group_id(2);
    int m0, n0;
    TILE_ORIGIN(m0, n0);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const uint lid = ty * RTN + tx;

#ifdef WEIGHTS_TRANSPOSED
    __local float At[TM][TK];
#else
    __local float As[TK][TM];
    __local int tap_w[TK];
#endif
    __local float Bs[TK][TN];
    __local int tap_dy[TK], tap_r[TK], tap_s[TK];
    // Per column (image, input pixel): dy offset of the image, and ih + pad_top, iw + pad_left
    // (an output row oh reads input row ih through tap r when oh + r·dil_h equals ih + pad_top;
    // OUTSIDE past the end).
    __local int col_dy[TN], col_th[TN], col_tw[TN];
    // Per VW-column chunk: whether its pixels are consecutive in dy, so that a tap whose output
    // row is inside dy loads the chunk as one vector.
    __local int chunk_run[TN / VW];
    for (uint ch = lid; ch < TN / VW; ch += WG) {
        const int n = n0 + ch * VW;
        int img = 0, q = 0;
        if (n < NN) DIVMOD(n, HW, img, q);
#ifdef KERNEL_1X1
        // dy has x's pixel grid: a chunk inside one image is contiguous in dy across rows too
        // (at 14² and 7² no 16-wide chunk fits in a row).
        chunk_run[ch] = n + VW <= NN && q + VW <= HW;
#else
        // 1: inside one input row (stride 1); 2: inside one image whose rows continue in dy.
        chunk_run[ch] = (n + VW <= NN && q % W + VW <= W) | (n + VW <= NN && q + VW <= HW && OW == W) << 1;
#endif
    }
    for (uint nn = lid; nn < TN; nn += WG) {
        const int n = n0 + nn;
        int img = 0, q = 0, ih, iw;
        if (n < NN) DIVMOD(n, HW, img, q);
        DIVMOD(q, W, ih, iw);
        col_dy[nn] = (img * K + g * Kg) * OHW;
        col_th[nn] = n < NN ? ih + pad_top : OUTSIDE;
        col_tw[nn] = iw + pad_left;
    }
    __global const float* wg = w + (size_t)g * Cg * KK;

    ZERO_TILE(acc)

    for (int k0 = 0; k0 < KK; k0 += TK) {
        for (uint t = lid; t < TK; t += WG) {
            const int k = k0 + t;
            int o, rs, r, s;
            DIVMOD(k, RS, o, rs);
            DIVMOD(rs, S, r, s);
#ifndef WEIGHTS_TRANSPOSED
            tap_w[t] = o * Cg * RS + rs;
#endif
            tap_dy[t] = o * OHW;
            tap_r[t] = k < KK ? r * dil_h : -OUTSIDE;
            tap_s[t] = s * dil_w;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#ifdef WEIGHTS_TRANSPOSED
        // Row-major (At), as the forward: a row of the transposed weights is contiguous along k.
        STAGE_A_MMAJOR(wg, m0, k0, M, KK)
#elif defined(KERNEL_1X1)
        STAGE_A_KMAJOR_ROWS(wg, m0, k0, M, KK)
#else
        for (uint idx = lid; idx < TM * TK; idx += WG) {
            const int mm = idx / TK, kk = idx % TK, m = m0 + mm;
            As[kk][mm] = (m < M && k0 + kk < KK) ? wg[tap_w[kk] + m * RS] : 0.0f;
        }
#endif
        for (uint idx = lid; idx < TK * (TN / VW); idx += WG) {
            const int kk = idx / (TN / VW), ch = idx % (TN / VW), c = ch * VW;
            const int th0 = col_th[c] - tap_r[kk], tw0 = col_tw[c] - tap_s[kk];
#ifdef KERNEL_1X1
            // The only tap is inside dy for every k < KK (th0 is far negative past the end).
            if (chunk_run[ch] && th0 >= 0) {
#else
            if ((chunk_run[ch] & 1) && th0 >= 0 && th0 < OH && tw0 >= 0 && tw0 + VW <= OW) {
#endif
                VSTORE_VW(VLOAD_VW(dy + col_dy[c] + tap_dy[kk] + th0 * OW + tw0), &Bs[kk][c]);
                continue;
            }
#if VW > 1 && !defined(KERNEL_1X1)
            if ((chunk_run[ch] & 2) && k0 + kk < KK && th0 * OW + tw0 >= 0 && th0 * OW + tw0 + VW <= OHW) {
                const intVW thv = VLOAD_VW(col_th + c) - tap_r[kk], twv = VLOAD_VW(col_tw + c) - tap_s[kk];
                VSTORE_VW(MASKED_CHUNK(VLOAD_VW(dy + col_dy[c] + tap_dy[kk] + th0 * OW + tw0), thv, twv, OH, OW),
                          &Bs[kk][c]);
                continue;
            }
#endif
            for (int l = c; l < c + VW; l++) {
                const int th = col_th[l] - tap_r[kk], tw = col_tw[l] - tap_s[kk];
                Bs[kk][l] = (th >= 0 && th < OH && tw >= 0 && tw < OW) ? dy[col_dy[l] + tap_dy[kk] + th * OW + tw] : 0.0f;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(A_STAGED, Bs, acc, tx, ty)
    }

    for (int jv = 0; jv < NV; jv++) {
        const int nj = n0 + TILE_COL(tx, jv);
        if (nj >= NN) break;
        int im, qj;
        DIVMOD(nj, HW, im, qj);
        const bool whole = nj + VW <= NN && qj + VW <= HW;
        for (int i = 0; i < WPT_M; i++) {
            const int m = m0 + ty + i * RTM;
            if (m >= M) break;
            __global float* row = dx + (size_t)(g * Cg + m) * HW;
            if (whole) {
                VSTORE_VW(acc[i][jv], row + (size_t)im * C * HW + qj);
                continue;
            }
            STORE_LANES(acc[i][jv], row, C * HW, HW, im, qj, NN - nj);
        }
    }
}

// Backward data of a strided layer, one stride phase per launch (ImplicitGEMMSolver launches
// the stride_h·stride_w phases in turn). With stride 2 an input pixel receives taps only from
// the kernel rows r with (ih + pad_top − r·dil_h) divisible by 2, so the plain kernel above
// gathers mostly zeros and takes the per-element path (a division per element). Phase
// (ph, pw) holds the pixels ih = ph + stride_h·a, iw = pw + stride_w·b (a < Hp, b < Wp), and
// all of them receive exactly the same taps: r_j = r0 + j·r_step (j < Rp, the solutions of
// r·dil_h ≡ ph + pad_top mod stride_h), likewise s. Per tap the output row is a + oh_off(r_j)
// with oh_off = (ph + pad_top − r_j·dil_h) / stride_h exact, so the phase is a dense stride-1
// correlation of dy with a sub-sampled kernel: consecutive b read consecutive dy pixels, and
// a chunk of VW of them loads as one vector. A phase with no tap (Rp or Sp 0: e.g. a 1×1
// stride-2 layer's odd pixels) would run no k step and write its zeros; the solver fills dx
// with zeros instead and does not launch it.
// Per group: dX_phase[m, n] = Σ_k W'[m, k] · dY[k, n], m = input channel (Cg), n = (image, a,
// b) (N·Hp·Wp), k = (o, j, i) (Kg·Rp·Sp). With WEIGHTS_TRANSPOSED defined, `w` holds the
// phases' transposed copies (conv_igemm_transpose_weights) and this phase's starts at
// w_offset: W' rows contiguous along k, staged as vectors (A_MMAJOR); without, the taps are
// gathered from w (w_offset 0) into a k-major tile, or for an unpadded 1×1 layer (KERNEL_1X1)
// copied from w as vectors (STAGE_A_KMAJOR_ROWS). Range [ceil(N·Hp·Wp / TN)·RTN,
// ceil(Cg / TM)·RTM, G].
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void conv_igemm_backward_data_phase(GEOMETRY, const int ph, const int pw, const int Hp, const int Wp,
                                    const int r0, const int r_step, const int Rp,
                                    const int s0, const int s_step, const int Sp,
                                    __global const float* dy, __global const float* w, const int w_offset,
                                    __global float* dx) {
    const int Cg = C / groups, Kg = K / groups, RS = R * S, RSp = Rp * Sp;
    const int M = Cg, HW = H * W, OHW = OH * OW, HWp = Hp * Wp, NN = batch * HWp, KK = Kg * RSp;
    const int g = get_group_id(2);
    int m0, n0;
    TILE_ORIGIN(m0, n0);
    const int tx = get_local_id(0), ty = get_local_id(1);
    const uint lid = ty * RTN + tx;

#ifdef WEIGHTS_TRANSPOSED
    __local float At[TM][TK];
#else
    __local float As[TK][TM];
#endif
    __local float Bs[TK][TN];
    // Per k (o, j, i): weight offset, dy offset of the tap's (oh_off, ow_off) shift, and the
    // shift itself (a row shift no column can bring inside dy past the end of k).
    __local int tap_dy[TK], tap_oh[TK], tap_ow[TK];
#ifndef WEIGHTS_TRANSPOSED
    __local int tap_w[TK];
#endif
    // Per column (image, a, b): dy offset of (image, channel g·Kg, a, b), a (OUTSIDE past the
    // end), b, and the dx offset of (image, channel g·Cg, ih, iw).
    __local int col_dy[TN], col_a[TN], col_b[TN], col_dx[TN];
    // Per VW-column chunk: 1 when its columns are consecutive b of one phase row, so that a
    // tap whose output row is inside dy loads them as one vector; 2 when they lie in one image
    // whose phase rows are as wide as dy's (Wp == OW: every ResNet strided layer), so that they
    // are consecutive in dy across row ends too and load as one masked vector (MASKED_CHUNK:
    // at 14² and 7² a phase row holds no 16-wide chunk, and the per-element path cost 4 bounds
    // checks per element).
    __local int chunk_run[TN / VW];
    for (uint ch = lid; ch < TN / VW; ch += WG) {
        const int n = n0 + ch * VW;
        int img = 0, q = 0;
        if (n < NN) DIVMOD(n, HWp, img, q);
        chunk_run[ch] = (n + VW <= NN && q % Wp + VW <= Wp) | (n + VW <= NN && q + VW <= HWp && Wp == OW) << 1;
    }
    for (uint nn = lid; nn < TN; nn += WG) {
        const int n = n0 + nn;
        int img = 0, q = 0, a, b;
        if (n < NN) DIVMOD(n, HWp, img, q);
        DIVMOD(q, Wp, a, b);
        col_dy[nn] = (img * K + g * Kg) * OHW + a * OW + b;
        col_a[nn] = n < NN ? a : OUTSIDE;
        col_b[nn] = b;
        col_dx[nn] = (img * C + g * Cg) * HW + (ph + a * stride_h) * W + pw + b * stride_w;
    }
#ifdef WEIGHTS_TRANSPOSED
    __global const float* wg = w + w_offset + (size_t)g * Cg * KK;
#else
    __global const float* wg = w + (size_t)g * Kg * Cg * RS;
#endif

    ZERO_TILE(acc)

    for (int k0 = 0; k0 < KK; k0 += TK) {
        for (uint t = lid; t < TK; t += WG) {
            const int k = k0 + t;
            int o, ji, j, i;
            DIVMOD(k, RSp, o, ji);
            DIVMOD(ji, Sp, j, i);
            const int r = r0 + j * r_step, s = s0 + i * s_step;
            const int oh_off = (ph + pad_top - r * dil_h) / stride_h;
            const int ow_off = (pw + pad_left - s * dil_w) / stride_w;
#ifndef WEIGHTS_TRANSPOSED
            tap_w[t] = o * Cg * RS + r * S + s;
#endif
            tap_dy[t] = o * OHW + oh_off * OW + ow_off;
            tap_oh[t] = k < KK ? oh_off : OUTSIDE;
            tap_ow[t] = ow_off;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#ifdef WEIGHTS_TRANSPOSED
        STAGE_A_MMAJOR(wg, m0, k0, M, KK)
#elif defined(KERNEL_1X1)
        STAGE_A_KMAJOR_ROWS(wg, m0, k0, M, KK)
#else
        for (uint idx = lid; idx < TM * TK; idx += WG) {
            const int mm = idx / TK, kk = idx % TK, m = m0 + mm;
            As[kk][mm] = (m < M && k0 + kk < KK) ? wg[tap_w[kk] + m * RS] : 0.0f;
        }
#endif
        for (uint idx = lid; idx < TK * (TN / VW); idx += WG) {
            const int kk = idx / (TN / VW), ch = idx % (TN / VW), c = ch * VW;
#ifdef KERNEL_1X1
            // Unpadded 1×1: the one phase with a tap is dy's own pixel grid (Hp = OH, Wp = OW)
            // and the tap has no shift, so a chunk inside one image is one plain vector load.
            if ((chunk_run[ch] & 2) && k0 + kk < KK) {
                VSTORE_VW(VLOAD_VW(dy + col_dy[c] + tap_dy[kk]), &Bs[kk][c]);
                continue;
            }
#endif
            const int oh = col_a[c] + tap_oh[kk], ow = col_b[c] + tap_ow[kk];
            if ((chunk_run[ch] & 1) && oh >= 0 && oh < OH && ow >= 0 && ow + VW <= OW) {
                VSTORE_VW(VLOAD_VW(dy + col_dy[c] + tap_dy[kk]), &Bs[kk][c]);
                continue;
            }
#if VW > 1
            // oh·OW + ow: the first lane's index in its dy plane; the span must stay inside it.
            if ((chunk_run[ch] & 2) && k0 + kk < KK && oh * OW + ow >= 0 && oh * OW + ow + VW <= OHW) {
                const intVW ohv = VLOAD_VW(col_a + c) + tap_oh[kk], owv = VLOAD_VW(col_b + c) + tap_ow[kk];
                VSTORE_VW(MASKED_CHUNK(VLOAD_VW(dy + col_dy[c] + tap_dy[kk]), ohv, owv, OH, OW), &Bs[kk][c]);
                continue;
            }
#endif
            for (int l = c; l < c + VW; l++) {
                const int ohl = col_a[l] + tap_oh[kk], owl = col_b[l] + tap_ow[kk];
                Bs[kk][l] = (ohl >= 0 && ohl < OH && owl >= 0 && owl < OW) ? dy[col_dy[l] + tap_dy[kk]] : 0.0f;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(A_STAGED, Bs, acc, tx, ty)
    }

    // The phase's pixels are stride_w apart in dx: element stores, through col_dx, which other
    // work-items wrote (a phase without taps has no k step whose barrier would order that).
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int jv = 0; jv < NV; jv++) {
        const int c = TILE_COL(tx, jv);
        if (n0 + c >= NN) break;
        for (int i = 0; i < WPT_M; i++) {
            const int m = m0 + ty + i * RTM;
            if (m >= M) break;
            float out[VW];
            VSTORE_VW(acc[i][jv], out);
            for (int v = 0; v < VW && n0 + c + v < NN; v++) dx[col_dx[c + v] + (size_t)m * HW] = out[v];
        }
    }
}

// tap_run bits of the filter gradient's k chunks (see there).
#define RUN_IMAGE 1
#define RUN_X 2
#define RUN_ROW 4

// One element of the filter gradient's x tile, Bs[kk][nn] = x at pixel k0 + kk shifted by
// column nn's tap, zero in the padding and past the ends of k and n.
#ifdef KERNEL_1X1
// Every tap of an unpadded 1×1 layer is inside x: only the ends of k and n are checked
// (1.2–1.3× on PoCL for ResNet's 1×1 filter gradients).
#define STAGE_X_ELEMENT(kk, nn)                                                     \
    Bs[kk][nn] = (tap_ih[kk] != OUTSIDE && col_r[nn] != OUTSIDE) ? x[tap_x[kk] + col_x[nn]] : 0.0f
#else
#define STAGE_X_ELEMENT(kk, nn) do {                                                \
        const int ih_ = tap_ih[kk] + col_r[nn], iw_ = tap_iw[kk] + col_s[nn];       \
        Bs[kk][nn] = (ih_ >= 0 && ih_ < H && iw_ >= 0 && iw_ < W) ? x[tap_x[kk] + col_x[nn]] : 0.0f; \
    } while (0)
#endif

// Backward filter, one k slice per work-group: partial[split][o][c][r][s] (or dw itself when
// `splits` is 1; `out` then is dw). Slice `split` covers k in [split·k_per_split, +k_per_split).
// Range [ceil(Cg·R·S / TN)·RTN, ceil(Kg / TM)·RTM, G·splits], third index g·splits + split.
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void conv_igemm_backward_filter(GEOMETRY, const int splits, const int k_per_split,
                                __global const float* x, __global const float* dy,
                                __global float* out) {
    const int Cg = C / groups, Kg = K / groups, RS = R * S;
    const int M = Kg, NN = Cg * RS, HW = H * W, OHW = OH * OW, KK = batch * OHW;
    int g, split;
    DIVMOD((int)get_group_id(2), splits, g, split);
    const int m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;
    const int tx = get_local_id(0), ty = get_local_id(1);
    const uint lid = ty * RTN + tx;
    const int k_begin = split * k_per_split, k_end = min(KK, k_begin + k_per_split);

    __local float At[TM][TK];
    __local float Bs[TK][TN];
    // Per k (image, output pixel): dy offset, x offset of the window's corner, corner row/col.
    __local int tap_dy[TK], tap_x[TK], tap_ih[TK], tap_iw[TK];
    // Per AK-wide k chunk (all before the slice's end), bits: RUN_IMAGE its pixels are
    // consecutive in one image, so each dy row's chunk is one vector load; RUN_X they are also
    // consecutive in x for every tap (a vector load of x, below); RUN_ROW: in one output row.
    __local int tap_run[TK / AK];
    // Per column n = (c, r, s) of this tile: x offset and the tap's row/col shift.
    __local int col_x[TN], col_r[TN], col_s[TN];

    for (uint nn = lid; nn < TN; nn += WG) {
        const int n = n0 + nn;
        int c, rs, r, s;
        DIVMOD(n, RS, c, rs);
        DIVMOD(rs, S, r, s);
        col_x[nn] = c * HW + r * dil_h * W + s * dil_w;
        col_r[nn] = n < NN ? r * dil_h : OUTSIDE;
        col_s[nn] = s * dil_w;
    }

    ZERO_TILE(acc)

    for (int k0 = k_begin; k0 < k_end; k0 += TK) {
        for (uint t = lid; t < TK; t += WG) {
            const int k = k0 + t;
            int img, p, oh, ow;
            DIVMOD(k, OHW, img, p);
            DIVMOD(p, OW, oh, ow);
            const int ih = oh * stride_h - pad_top, iw = ow * stride_w - pad_left;
            tap_dy[t] = (img * K + g * Kg) * OHW + p;
            tap_x[t] = (img * C + g * Cg) * HW + ih * W + iw;
            tap_ih[t] = k < k_end ? ih : OUTSIDE;
            tap_iw[t] = iw;
        }
        for (uint ch = lid; ch < TK / AK; ch += WG) {
            const int k = k0 + ch * AK;
            int img, p;
            DIVMOD(k, OHW, img, p);
            const bool image = k + AK <= k_end && p + AK <= OHW;
            // Stride 1 along the row; across row ends also when rows are as wide as x's.
            const bool row = image && p % OW + AK <= OW;
            const bool contiguous = stride_w == 1 && (row || (stride_h == 1 && OW == W));
            tap_run[ch] = (image ? RUN_IMAGE : 0) | (image && contiguous ? RUN_X : 0) | (row ? RUN_ROW : 0);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        // Both operands are loaded k-fastest: consecutive work-items read consecutive pixels.
        // dy goes row-major (At), so a chunk of a dy row is one vector copy; scalar gathers
        // into a k-major tile were a third of the kernel's time on PoCL.
        for (uint idx = lid; idx < TM * (TK / AK); idx += WG) {
            const int mm = idx / (TK / AK), ch = idx % (TK / AK), kc = ch * AK, m = m0 + mm;
#if AK > 1
            if (m < M && (tap_run[ch] & RUN_IMAGE)) {
                VSTORE_VW(VLOAD_VW(dy + tap_dy[kc] + m * OHW), &At[mm][kc]);
                continue;
            }
#endif
            for (int l = kc; l < kc + AK; l++)
                At[mm][l] = (m < M && tap_ih[l] != OUTSIDE) ? dy[tap_dy[l] + m * OHW] : 0.0f;
        }
#if AK > 1
        // x: where a stride-1 layer's chunk of AK pixels is consecutive in x (RUN_X), one vector
        // load (masked at the padding) per column (c, r, s), transposed into the k-major tile by
        // AK scalar stores; consecutive work-items take consecutive chunks. The element path
        // computes four bounds checks and a gather per element. Strided layers keep the element
        // order (consecutive work-items on consecutive k): the chunk order measured 1.2–1.4×
        // slower there on PoCL (ResNet's 1×1/2 filter gradient).
        if (stride_w == 1) {
            for (uint idx = lid; idx < TN * (TK / AK); idx += WG) {
                const int nn = idx / (TK / AK), ch = idx % (TK / AK), kc = ch * AK;
                if (tap_run[ch] & RUN_X) {
                    const int at = tap_x[kc] + col_x[nn];
                    floatVW v = (floatVW)(0.0f);
                    bool staged = true;
#ifdef KERNEL_1X1
                    // Every tap inside x; columns past the GEMM's end stay zero.
                    if (col_r[nn] != OUTSIDE) v = VLOAD_VW(x + at);
#else
                    const int ih = tap_ih[kc] + col_r[nn], iw = tap_iw[kc] + col_s[nn];
                    const int row = tap_run[ch] & RUN_ROW;
                    if (col_r[nn] == OUTSIDE || (row && (ih < 0 || ih >= H))) {
                        // A column past the GEMM's end, or a padding row: zeros.
                    } else if (row && iw >= 0 && iw + AK <= W) {
                        v = VLOAD_VW(x + at);
                    } else if (ih * W + iw >= 0 && ih * W + iw + AK <= HW) {
                        // Inside this channel's plane: lanes in the padding (or across a row end
                        // into the padding) masked to zero.
                        const intVW ihv = VLOAD_VW(tap_ih + kc) + col_r[nn], iwv = VLOAD_VW(tap_iw + kc) + col_s[nn];
                        v = MASKED_CHUNK(VLOAD_VW(x + at), ihv, iwv, H, W);
                    } else {
                        staged = false;
                    }
#endif
                    if (staged) {
                        float lanes[AK];
                        VSTORE_VW(v, lanes);
                        _Pragma("unroll")
                        for (int l = 0; l < AK; l++) Bs[kc + l][nn] = lanes[l];
                        continue;
                    }
                }
                for (int kk = kc; kk < kc + AK; kk++) STAGE_X_ELEMENT(kk, nn);
            }
        } else
#endif
        for (uint idx = lid; idx < TK * TN; idx += WG) {
            const int nn = idx / TK, kk = idx % TK;
            STAGE_X_ELEMENT(kk, nn);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(A_MMAJOR, Bs, acc, tx, ty)
    }

    __global float* slice = out + (size_t)split * K * NN;
    for (int jv = 0; jv < NV; jv++) {
        const int nj = n0 + TILE_COL(tx, jv);
        if (nj >= NN) break;
        for (int i = 0; i < WPT_M; i++) {
            const int m = m0 + ty + i * RTM;
            if (m >= M) break;
            __global float* row = slice + (size_t)(g * Kg + m) * NN;
            if (nj + VW <= NN) {
                VSTORE_VW(acc[i][jv], row + nj);
                continue;
            }
            float o[VW];
            VSTORE_VW(acc[i][jv], o);
            for (int v = 0; nj + v < NN; v++) row[nj + v] = o[v];
        }
    }
}

// dw[i] = Σ_{split < splits} partial[split][i], summed in split order. Range [count].
__kernel void conv_igemm_reduce_splits(const int count, const int splits,
                                       __global const float* partial, __global float* dw) {
    const int i = get_global_id(0);
    if (i >= count) return;
    float sum = 0.0f;
    for (int s = 0; s < splits; s++) sum += partial[(size_t)s * count + i];
    dw[i] = sum;
}
