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
// The backward-filter reduction is long (N·OH·OW), so it is split into KSPLIT slices (runtime
// argument `splits`), each writing its partial sums to a workspace; conv_igemm_reduce_splits
// then adds the slices in a fixed order: deterministic, no atomics.
//
// Tiling: a work-group computes a TM × TN tile of the output GEMM, stepping through k by TK.
// Each step stages a TM × TK tile of the left operand and a TK × TN tile of the right one in
// __local memory; each work-item then accumulates a WPT_M × WPT_N register tile whose rows are
// RTM = TM/WPT_M apart and columns RTN = TN/WPT_N apart, so consecutive work-items (dimension
// 0 runs along n) read consecutive __local words and write consecutive output addresses.
// The index arithmetic of a k step (integer divisions by R·S, S, OH·OW, OW) is done once per
// work-group into small __local tables, not once per element.
//
// Tunables (-D, defaults below; the Swift table keeps them consistent with the launch size,
// local = [RTN, RTM]):
//   TM, TN        work-group tile (rows of the output GEMM, columns)
//   TK            k step staged through __local memory
//   WPT_M, WPT_N  register tile per work-item
//   KERNEL_1X1    defined for 1×1, stride 1, no padding, no dilation: the forward right
//                 operand is the input itself (X[n] is a C × H·W matrix), no tap table
// Constraints (checked below): TM % WPT_M == 0, TN % WPT_N == 0, the work-group size
// WG = RTM·RTN is a multiple of TN and of TK, and TK divides TM·TK and TK·TN evenly by WG.

#ifndef TM
#define TM 64
#endif
#ifndef TN
#define TN 64
#endif
#ifndef TK
#define TK 16
#endif
#ifndef WPT_M
#define WPT_M 4
#endif
#ifndef WPT_N
#define WPT_N 4
#endif

#define RTM (TM / WPT_M)
#define RTN (TN / WPT_N)
#define WG (RTM * RTN)

#if TM % WPT_M != 0 || TN % WPT_N != 0
#error "TM and TN must be multiples of WPT_M and WPT_N"
#endif
#if WG % TN != 0 || WG % TK != 0 || (TK * TN) % WG != 0 || (TM * TK) % WG != 0
#error "the work-group size RTM*RTN must be a multiple of TN and TK and divide the tiles"
#endif

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

// The multiply-accumulate of one staged k step, shared by the three kernels.
#define ACCUMULATE_TILE(As, Bs, acc, tx, ty)                                   \
    for (int kk = 0; kk < TK; kk++) {                                          \
        float a_reg[WPT_M], b_reg[WPT_N];                                      \
        for (int i = 0; i < WPT_M; i++) a_reg[i] = As[kk][ty + i * RTM];       \
        for (int j = 0; j < WPT_N; j++) b_reg[j] = Bs[kk][tx + j * RTN];       \
        for (int i = 0; i < WPT_M; i++)                                        \
            for (int j = 0; j < WPT_N; j++)                                    \
                acc[i][j] = fma(a_reg[i], b_reg[j], acc[i][j]);                \
    }

// Forward: y = act(conv(x, w) + bias). Range [ceil(N·OH·OW / TN)·RTN, ceil(Kg / TM)·RTM, G].
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void conv_igemm_forward(GEOMETRY, __global const float* x, __global const float* w,
                        __global const float* bias, const int has_bias, const int act,
                        const float alpha, __global float* y) {
    const int Cg = C / groups, Kg = K / groups, RS = R * S;
    const int M = Kg, OHW = OH * OW, NN = batch * OHW, KK = Cg * RS, HW = H * W;
    const int g = get_group_id(2);
    const int m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;
    const int tx = get_local_id(0), ty = get_local_id(1);
    // Unsigned, so lid / TK and lid % TK (powers of two) become a shift and a mask, not a
    // division/remainder pair (see DIVMOD).
    const uint lid = ty * RTN + tx;

    __local float As[TK][TM];
    __local float Bs[TK][TN];
#ifndef KERNEL_1X1
    __local int tap_off[TK], tap_r[TK], tap_s[TK];
#endif

    // This work-item always loads the same column nn of the X tile (WG is a multiple of TN):
    // decode its (image, output pixel) once.
    const int nn = lid % TN, n = n0 + nn;
    const bool n_valid = n < NN;
    int img = 0, p = 0;
    if (n_valid) DIVMOD(n, OHW, img, p);
#ifdef KERNEL_1X1
    const int x_col = (img * C + g * Cg) * HW + p;
#else
    int oh, ow;
    DIVMOD(p, OW, oh, ow);
    const int ih0 = n_valid ? oh * stride_h - pad_top : OUTSIDE, iw0 = ow * stride_w - pad_left;
    // Only dereferenced with a tap that lands inside the image, so negative parts are fine.
    const int x_col = n_valid ? (img * C + g * Cg) * HW + ih0 * W + iw0 : 0;
#endif
    // And the same k column of the W tile (WG is a multiple of TK).
    const int a_kk = lid % TK;
    __global const float* wg = w + (size_t)g * Kg * KK;

    float acc[WPT_M][WPT_N];
    for (int i = 0; i < WPT_M; i++)
        for (int j = 0; j < WPT_N; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < KK; k0 += TK) {
#ifndef KERNEL_1X1
        if (lid < TK) {
            const int k = k0 + lid;
            int c, rs, r, s;
            DIVMOD(k, RS, c, rs);
            DIVMOD(rs, S, r, s);
            tap_off[lid] = c * HW + r * dil_h * W + s * dil_w;
            tap_r[lid] = k < KK ? r * dil_h : OUTSIDE;
            tap_s[lid] = s * dil_w;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
#endif
        for (int mm = lid / TK; mm < TM; mm += WG / TK) {
            const int m = m0 + mm, k = k0 + a_kk;
            As[a_kk][mm] = (m < M && k < KK) ? wg[(size_t)m * KK + k] : 0.0f;
        }
        for (int kk = lid / TN; kk < TK; kk += WG / TN) {
#ifdef KERNEL_1X1
            const int k = k0 + kk;
            Bs[kk][nn] = (n_valid && k < KK) ? x[x_col + k * HW] : 0.0f;
#else
            const int ih = ih0 + tap_r[kk], iw = iw0 + tap_s[kk];
            Bs[kk][nn] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[x_col + tap_off[kk]] : 0.0f;
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(As, Bs, acc, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (int i = 0; i < WPT_M; i++) {
        const int m = m0 + ty + i * RTM;
        if (m >= M) continue;
        const int o = g * Kg + m;
        const float b = has_bias ? bias[o] : 0.0f;
        for (int j = 0; j < WPT_N; j++) {
            const int nj = n0 + tx + j * RTN;
            if (nj >= NN) continue;
            int im, pj;
            DIVMOD(nj, OHW, im, pj);
            y[((size_t)im * K + o) * OHW + pj] = activate(act, alpha, acc[i][j] + b);
        }
    }
}

// Backward data: dx = conv_transpose(dy, w). Range [ceil(N·H·W / TN)·RTN, ceil(Cg / TM)·RTM, G].
__kernel __attribute__((reqd_work_group_size(RTN, RTM, 1)))
void conv_igemm_backward_data(GEOMETRY, __global const float* dy, __global const float* w,
                              __global float* dx) {
    const int Cg = C / groups, Kg = K / groups, RS = R * S;
    const int M = Cg, HW = H * W, OHW = OH * OW, NN = batch * HW, KK = Kg * RS;
    const int g = get_group_id(2);
    const int m0 = get_group_id(1) * TM, n0 = get_group_id(0) * TN;
    const int tx = get_local_id(0), ty = get_local_id(1);
    // Unsigned, so lid / TK and lid % TK (powers of two) become a shift and a mask, not a
    // division/remainder pair (see DIVMOD).
    const uint lid = ty * RTN + tx;

    __local float As[TK][TM];
    __local float Bs[TK][TN];
    __local int tap_w[TK], tap_dy[TK], tap_r[TK], tap_s[TK];

    const int nn = lid % TN, n = n0 + nn;
    const bool n_valid = n < NN;
    int img = 0, q = 0, ih = 0, iw = 0;
    if (n_valid) DIVMOD(n, HW, img, q);
    DIVMOD(q, W, ih, iw);
    // ih + pad_top: an output row oh reads this input row through tap r when
    // oh·stride_h + r·dil_h == ih + pad_top.
    const int th0 = n_valid ? ih + pad_top : OUTSIDE, tw0 = iw + pad_left;
    const int dy_img = (img * K + g * Kg) * OHW;
    const int a_kk = lid % TK;
    __global const float* wg = w + (size_t)g * Kg * Cg * RS;

    float acc[WPT_M][WPT_N];
    for (int i = 0; i < WPT_M; i++)
        for (int j = 0; j < WPT_N; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < KK; k0 += TK) {
        if (lid < TK) {
            const int k = k0 + lid;
            int o, rs, r, s;
            DIVMOD(k, RS, o, rs);
            DIVMOD(rs, S, r, s);
            tap_w[lid] = o * Cg * RS + rs;
            tap_dy[lid] = o * OHW;
            tap_r[lid] = k < KK ? r * dil_h : -OUTSIDE;
            tap_s[lid] = s * dil_w;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        for (int mm = lid / TK; mm < TM; mm += WG / TK) {
            const int m = m0 + mm, k = k0 + a_kk;
            As[a_kk][mm] = (m < M && k < KK) ? wg[tap_w[a_kk] + m * RS] : 0.0f;
        }
        for (int kk = lid / TN; kk < TK; kk += WG / TN) {
            const int th = th0 - tap_r[kk], tw = tw0 - tap_s[kk];
            float v = 0.0f;
            if (th >= 0 && tw >= 0) {
                int oh = th, ow = tw, rh = 0, rw = 0;
                if (stride_h != 1) DIVMOD(th, stride_h, oh, rh);
                if (stride_w != 1) DIVMOD(tw, stride_w, ow, rw);
                if (rh == 0 && rw == 0 && oh < OH && ow < OW)
                    v = dy[dy_img + tap_dy[kk] + oh * OW + ow];
            }
            Bs[kk][nn] = v;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(As, Bs, acc, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    for (int i = 0; i < WPT_M; i++) {
        const int m = m0 + ty + i * RTM;
        if (m >= M) continue;
        for (int j = 0; j < WPT_N; j++) {
            const int nj = n0 + tx + j * RTN;
            if (nj >= NN) continue;
            int im, qj;
            DIVMOD(nj, HW, im, qj);
            dx[((size_t)im * C + g * Cg + m) * HW + qj] = acc[i][j];
        }
    }
}

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
    // Unsigned, so lid / TK and lid % TK (powers of two) become a shift and a mask, not a
    // division/remainder pair (see DIVMOD).
    const uint lid = ty * RTN + tx;
    const int k_begin = split * k_per_split, k_end = min(KK, k_begin + k_per_split);

    __local float As[TK][TM];
    __local float Bs[TK][TN];
    // Per k (image, output pixel): dy offset, x offset of the window's corner, corner row/col.
    __local int tap_dy[TK], tap_x[TK], tap_ih[TK], tap_iw[TK];
    // Per column n = (c, r, s) of this tile: x offset and the tap's row/col shift.
    __local int col_x[TN], col_r[TN], col_s[TN];

    for (int nn = lid; nn < TN; nn += WG) {
        const int n = n0 + nn;
        int c, rs, r, s;
        DIVMOD(n, RS, c, rs);
        DIVMOD(rs, S, r, s);
        col_x[nn] = c * HW + r * dil_h * W + s * dil_w;
        col_r[nn] = n < NN ? r * dil_h : OUTSIDE;
        col_s[nn] = s * dil_w;
    }
    // Both operands are loaded k-fastest: consecutive work-items read consecutive pixels.
    const int kk_own = lid % TK;

    float acc[WPT_M][WPT_N];
    for (int i = 0; i < WPT_M; i++)
        for (int j = 0; j < WPT_N; j++) acc[i][j] = 0.0f;

    for (int k0 = k_begin; k0 < k_end; k0 += TK) {
        if (lid < TK) {
            const int k = k0 + lid;
            int img, p, oh, ow;
            DIVMOD(k, OHW, img, p);
            DIVMOD(p, OW, oh, ow);
            const int ih = oh * stride_h - pad_top, iw = ow * stride_w - pad_left;
            tap_dy[lid] = (img * K + g * Kg) * OHW + p;
            tap_x[lid] = (img * C + g * Cg) * HW + ih * W + iw;
            tap_ih[lid] = k < k_end ? ih : OUTSIDE;
            tap_iw[lid] = iw;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const bool k_valid = k0 + kk_own < k_end;
        for (int mm = lid / TK; mm < TM; mm += WG / TK) {
            const int m = m0 + mm;
            As[kk_own][mm] = (m < M && k_valid) ? dy[tap_dy[kk_own] + m * OHW] : 0.0f;
        }
        for (int nn = lid / TK; nn < TN; nn += WG / TK) {
            const int ih = tap_ih[kk_own] + col_r[nn], iw = tap_iw[kk_own] + col_s[nn];
            Bs[kk_own][nn] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[tap_x[kk_own] + col_x[nn]] : 0.0f;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        ACCUMULATE_TILE(As, Bs, acc, tx, ty)
        barrier(CLK_LOCAL_MEM_FENCE);
    }

    __global float* slice = out + (size_t)split * K * NN;
    for (int i = 0; i < WPT_M; i++) {
        const int m = m0 + ty + i * RTM;
        if (m >= M) continue;
        for (int j = 0; j < WPT_N; j++) {
            const int nj = n0 + tx + j * RTN;
            if (nj < NN) slice[(size_t)(g * Kg + m) * NN + nj] = acc[i][j];
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
