// conv_channels_last.cl: 2-D convolution on a channels-last copy of its input, each work-item
// accumulating CL_RP output pixels × CL_NV·CL_VW output channels in registers (output channels
// as vectors, each input value a broadcast). Launched by
// Backends/OpenCL/Solvers/ChannelsLastSolver.swift; tunables and launch sizes come from its
// table (KernelTunables.channelsLast).
//
// Why a second layout: the implicit GEMM reads NCHW, where the reduction (channels × taps)
// strides by a whole plane per channel, so its right operand must be staged tile by tile
// through __local memory. On a CPU device (PoCL) that staging, and the barriers around it, kept
// ResNet's layers at 50–70 GFLOP/s on two AVX2 cores; the same work-item reading a
// channels-last copy walks each input pixel's channels contiguously, every load a cache-line
// neighbour of the last, and one copy of the input (one pass over memory) pays for it
// (Benchmarks/NOTES-opencl-solvers.md, fifteenth session).
//
// Three kernels:
// - channels_last_pack: src [N, C, P] → dst [N, P, C] (P = H·W), or panels of channels
//   [C / panel, N·P, panel], 8 × 8 blocks transposed in registers.
// - channels_last_weights: w [K, C, R, S] (OIHW) → wt [Kp / CO_TILE, Rp·Sp, Cin, CO_TILE] for
//   the taps (r0 + j·r_step, s0 + i·s_step), j < Rp, i < Sp (all of them forward): one panel per
//   register tile of output channels, holding everything its work-items read in the order they
//   read it, zero past the layer's output channels up to Kp (a multiple of the register tile).
//   Panels, not [Rp·Sp, Cin, Kp]: there a work-item's loads were a row of Kp floats apart, two
//   to a 4 KB page on 512-channel layers, which the hardware prefetchers do not follow; as panels
//   it streams contiguous memory (PoCL, Zen 4: the 3×3 512→512 layers 1.4–1.5× faster, 256→256
//   1.1–1.25×, none slower; Benchmarks/NOTES-opencl-solvers.md, seventeenth session). Rows
//   [Rp·Sp, Cin, Kp] where groups are wider than one work-item (GPUs; PANELS below).
//   ADJOINT = 1 (backward data, a runtime flag) writes the weights of the adjoint convolution
//   instead: its input channels are the forward's outputs and the taps run backwards,
//   panel element [j·Sp + i][k][c] = w[k][c][r0 + (Rp−1−j)·r_step][s0 + (Sp−1−i)·s_step].
// - conv_channels_last: y = act(conv(xh, wt) + bias), reading xh [N, H·W, CIN], its OH × OW
//   output pixels (a, b) written to y [N, COUT, YH, YW] at (y_h0 + y_sh·a, y_w0 + y_sw·b) (the
//   whole of y forward). A layer's input gradient is this kernel on dy's channels-last copy with
//   the adjoint weights, once per stride phase that a tap reaches: a stride phase (dx pixels
//   (ph + s·a, pw + s·b)) receives the taps r ≡ ph + pad (mod s) at dy rows a + const, so it is a
//   stride-1 convolution of dy with those taps (one phase of all the taps and padding
//   dil·(R−1) − pad at stride 1; ChannelsLastSolver.swift derives the others).
// - conv_channels_last_filter and conv_channels_last_filter_reduce: the filter gradient from
//   channels-last copies of x and dy, a register tile of CL_RP input channels × CL_NV·CL_VW
//   output channels per tap, reduced over a slice of the pixels; the slices' partial sums are
//   added in order by the second kernel (deterministic, no atomics).
//   conv_channels_last_filter_in_place does the first half for 1×1, stride-1, unpadded layers
//   straight from NCHW x and dy (CL_NCHW = 1): CL_RP input × CL_KT·CL_NV output channels, each
//   a vector of CL_VW pixels.
//
// A pixel whose tap falls in the padding reads a zero: its pointer is set to the workspace's
// first float (written zero by channels_last_weights) with a step of 0, so the channel loop has
// no bounds check and no branch. Workspace: [1 zero, padded to ZEROS floats][wt][xh], the
// offsets passed as arguments.
//
// Tunables (-D; the Swift table keeps them consistent with the launch):
//   CL_VW   output channels per vector (4, 8 or 16: the device's float vector)
//   CL_NV   vectors per work-item (1–3)
//   CL_RP   output pixels per work-item (1–8): CL_RP·CL_NV accumulators
//   CL_PF   1: launch dimension 0 runs along pixel blocks, so work-items that run one after
//           another share one output-channel block's weights (CIN·R·S·CO_TILE floats) in cache;
//           0: along output-channel blocks, so they share their pixels' input runs instead
//   CL_WG   work-items per work-group along dimension 0
//   CL_PWG  the pack's work-items per work-group along dimension 0
//   CL_FPIX the filter gradient's pixels per slice (whole output rows): the work-items of one
//           slice share its x and dy runs in cache
//   CL_SO   the epilogue's store order: 1, a tile whose pixels are consecutive in one output
//           plane is stored channel by channel (each channel's pixels one after another); 0,
//           pixel by pixel (a lane into each channel's plane), as every other tile is
//   CL_NCHW 1: read the input in place (NCHW, a channel's step one plane) instead of the
//           channels-last copy: no copy, but each channel step lands a plane away (1×1 layers
//           with few output channels, where the copy costs as much as the arithmetic); the
//           filter gradient of a 1×1, stride-1, unpadded layer reads x and dy in place
//   CL_KT   the in-place filter gradient's tiles of CL_NV output channels per work-item
//   CL_FRUN and its runs of pixel vectors per work-item: the CL_KT tiles take each run in turn,
//           so the run of the CL_RP x rows is read from L1 while the tiles' dy rows stream past

#include "activation_function.cl"

#ifndef CL_VW
#define CL_VW 8
#endif
#ifndef CL_NV
#define CL_NV 2
#endif
#ifndef CL_RP
#define CL_RP 6
#endif
#ifndef CL_PF
#define CL_PF 1
#endif
#ifndef CL_WG
#define CL_WG 1
#endif
#ifndef CL_NCHW
#define CL_NCHW 0
#endif
#ifndef CL_FPIX
#define CL_FPIX 512
#endif
#ifndef CL_SO
#define CL_SO 0
#endif
#ifndef CL_KT
#define CL_KT 1
#endif
#ifndef CL_FRUN
#define CL_FRUN 32
#endif
// Layouts of the weights and of the filter gradient's copies. One work-item per group (CPU
// devices: PoCL runs a group's work-items one after another): panels, each work-item's operand
// contiguous, for the hardware prefetchers. Wider groups (GPUs): rows of all the channels,
// so that work-items side by side along output-channel blocks read side-by-side addresses.
#define PANELS (CL_WG == 1)
#if PANELS
#define X_PANEL 8           // the filter gradient's x: 8 input channels (the pack's block)
#define DY_PANEL CO_TILE    // and dy: the register tile's output channels
#else
#define X_PANEL CINP
#define DY_PANEL KP
#endif

#define CO_TILE (CL_VW * CL_NV)

#if CL_VW == 4
typedef float4 floatV;
#define VLOAD(p) vload4(0, p)
#define VSTORE(v, p) vstore4(v, 0, p)
#elif CL_VW == 8
typedef float8 floatV;
#define VLOAD(p) vload8(0, p)
#define VSTORE(v, p) vstore8(v, 0, p)
#elif CL_VW == 16
typedef float16 floatV;
#define VLOAD(p) vload16(0, p)
#define VSTORE(v, p) vstore16(v, 0, p)
#else
#error "CL_VW must be 4, 8 or 16"
#endif

// src[n][c][p] to ws + dst_offset as panels [ceil(ldc / panel), N·P, panel]: element (n, p, c) at
// panel c / panel, row n·P + p, lane c % panel, zeros past C up to ldc (the filter gradient pads
// its runs to whole register tiles). panel = ldc is the plain channels-last [N, P, ldc]; the
// filter gradient packs dy in panels of its register tile and x in panels of 8, so that its
// work-items stream them contiguously, and of a 1×1 strided layer's x only the pixels its taps
// read (the subsample: a quarter of x at stride 2). Range [ceil(ldc / 8), ceil(P / 8), N]: a
// work-item moves an 8 × 8 block, eight vector loads along pixels transposed in registers into
// eight vector stores along channels; consecutive work-items take consecutive channel blocks,
// so they fill each destination pixel's channel run in order. (A 16 × 16 tile through __local
// memory, one element per work-item, moved 1.6 GB/s on PoCL (Zen 3); this 5–10 GB/s.)
size_t panel_offset(const int c, const int panel, const size_t row, const size_t rows) {
    const int q = c / panel;
    return ((size_t)q * rows + row) * panel + (c - q * panel);
}

// Source pixel of destination pixel p: rows of dst_w pixels, each step_h source rows of src_w
// pixels apart, step_w pixels apart in a row (a strided layer's subsample; all 1 and
// dst_w = src_w for a whole plane).
int pack_source_pixel(const int p, const int dst_w, const int src_w, const int step_h, const int step_w) {
    const int row = p / dst_w;
    return row * step_h * src_w + (p - row * dst_w) * step_w;
}

__kernel void channels_last_pack(const int C, const int P, const int ldc, const int panel, const int dst_w,
                                 const int src_w, const int src_plane, const int step_h, const int step_w,
                                 __global const float* src, __global float* ws, const int dst_offset) {
    __global float* dst = ws + dst_offset;
    const int c0 = get_global_id(0) * 8, p0 = get_global_id(1) * 8, n = get_global_id(2);
    const size_t image = (size_t)n * C * src_plane, NP = (size_t)get_global_size(2) * P;
    // Element (p, c) of image n: panel c / panel, row n·P + p, lane c % panel (the remainder
    // written out: LLVM pairs a / and % of the same operands with a `freeze`, an instruction
    // oclgrind's uninitialized-value checker stops at).
#define PACKED(p, c) panel_offset(c, panel, (size_t)n * P + (p), NP)
    if (p0 + 8 <= P && c0 + 8 <= C && (panel % 8 == 0 || c0 / panel == (c0 + 7) / panel)) {
        // Through a private 8 × 8 array, which the compiler turns into register shuffles
        // (written with vector component swizzles instead, 0.75× as fast on PoCL, and oclgrind's
        // uninitialized-value checker crashed on it).
        const bool whole = step_w == 1 && step_h == 1 && dst_w == src_w;
        int sp[8];
        #pragma unroll
        for (int j = 0; j < 8; j++) sp[j] = whole ? p0 + j : pack_source_pixel(p0 + j, dst_w, src_w, step_h, step_w);
        float t[8][8];
        #pragma unroll
        for (int i = 0; i < 8; i++) {
            float row[8];
            __global const float* plane = src + image + (size_t)(c0 + i) * src_plane;
            if (whole) {
                vstore8(vload8(0, plane + p0), 0, row);
            } else {
                #pragma unroll
                for (int j = 0; j < 8; j++) row[j] = plane[sp[j]];
            }
            #pragma unroll
            for (int j = 0; j < 8; j++) t[j][i] = row[j];
        }
        #pragma unroll
        for (int j = 0; j < 8; j++) vstore8(vload8(0, t[j]), 0, dst + PACKED(p0 + j, c0));
        return;
    }
    // A block at the last pixels or channels, or one that straddles two panels, element by element.
    for (int i = 0; i < 8 && p0 + i < P; i++) {
        const int from = pack_source_pixel(p0 + i, dst_w, src_w, step_h, step_w);
        for (int j = 0; j < 8 && c0 + j < ldc; j++)
            dst[PACKED(p0 + i, c0 + j)] = c0 + j < C ? src[image + (size_t)(c0 + j) * src_plane + from] : 0.0f;
    }
#undef PACKED
}

#define ZEROS 16

// wt (see the header) at ws + wt_offset, and the ZEROS zeros at ws. Range [Cin rounded up to
// 16, Rp·Sp, Kp / CO_TILE], work-groups [16, 1, 1]: a work-item writes one tap's and one input
// channel's CO_TILE floats of a panel, contiguous (consecutive work-items write consecutive
// runs), reading them from w a row of C·R·S floats apart (forward; R·S adjoint), where
// consecutive work-items read neighbouring addresses. (One element per work-item, its panel
// position found by four divisions, took 10 ms for the 2.4 M weights of a 3×3 512→512 layer on
// PoCL: as long as the convolution.) K, C: the forward's output and input channels; Cout, Cin:
// this convolution's (swapped when adjoint); Kp: Cout rounded up to CO_TILE.
__kernel __attribute__((reqd_work_group_size(16, 1, 1)))
void channels_last_weights(const int K, const int C, const int R, const int S, const int Kp, const int adjoint,
                           const int r0, const int r_step, const int Rp, const int s0, const int s_step,
                           const int Sp, __global const float* w, __global float* ws, const int wt_offset) {
    const int ci = get_global_id(0), rs = get_global_id(1), kb = get_global_id(2);
    if (rs == 0 && kb == 0 && ci < ZEROS) ws[ci] = 0.0f;   // dimension 0 has at least 16 = ZEROS
    const int Cout = adjoint ? C : K, Cin = adjoint ? K : C;
    if (ci >= Cin) return;
    const int j = rs / Sp, jj = rs - j * Sp;
    const int r = r0 + (adjoint ? Rp - 1 - j : j) * r_step, s = s0 + (adjoint ? Sp - 1 - jj : jj) * s_step;
    // Output channel co's weight: forward w[co][ci][r][s], adjoint w[ci][co][r][s].
    const size_t first = adjoint ? ((size_t)ci * C * R + r) * S + s : ((size_t)ci * R + r) * S + s;
    const size_t step = adjoint ? (size_t)R * S : (size_t)C * R * S;
#if PANELS
    __global float* dst = ws + wt_offset + (((size_t)kb * Rp * Sp + rs) * Cin + ci) * CO_TILE;
#else
    __global float* dst = ws + wt_offset + ((size_t)rs * Cin + ci) * Kp + kb * CO_TILE;
#endif
    for (int l = 0; l < CO_TILE; l++) {
        const int co = kb * CO_TILE + l;
        // A branch, not `co < Cout ? w[…] : 0`: the select's load past w's last output channel
        // was marked uninitialized by oclgrind's checker, and so everything computed from it.
        float v = 0.0f;
        if (co < Cout) v = w[first + (size_t)co * step];
        dst[l] = v;
    }
}

// Range [pixel blocks, channel blocks] (CL_PF 1) or the reverse, dimension 0 rounded up to CL_WG;
// a block is CL_RP output pixels (n = image·OH·OW + pixel) × CO_TILE output channels.
__kernel __attribute__((reqd_work_group_size(CL_WG, 1, 1)))
void conv_channels_last(const int batch, const int CIN, const int H, const int W, const int COUT, const int Kp,
                        const int R, const int S, const int stride_h, const int stride_w, const int pad_top,
                        const int pad_left, const int dil_h, const int dil_w, const int OH, const int OW,
                        const int YH, const int YW, const int y_h0, const int y_w0, const int y_sh, const int y_sw,
                        __global const float* x, __global const float* ws, const int wt_offset, const int xh_offset,
                        __global const float* bias, const int has_bias, const int act, const float alpha,
                        __global float* y) {
    __global const float* zero = ws;
    __global const float* wt = ws + wt_offset;
#if CL_NCHW
    __global const float* xh = x;
#else
    __global const float* xh = ws + xh_offset;
#endif
#if CL_PF
    const int pb = get_global_id(0), kb = get_global_id(1);
#else
    const int kb = get_global_id(0), pb = get_global_id(1);
#endif
    const int OHW = OH * OW, NN = batch * OHW;
    if (pb * CL_RP >= NN || kb * CO_TILE >= Kp) return;
    // Per pixel: its image's first element, and the window corner's row and column.
    int base[CL_RP], ih0[CL_RP], iw0[CL_RP];
    #pragma unroll
    for (int j = 0; j < CL_RP; j++) {
        const int n = min(pb * CL_RP + j, NN - 1);
        const int img = n / OHW, p = n - img * OHW, oh = p / OW, ow = p - oh * OW;
#if CL_NCHW
        base[j] = img * CIN * H * W;
#else
        base[j] = img * H * W;
#endif
        ih0[j] = oh * stride_h - pad_top;
        iw0[j] = ow * stride_w - pad_left;
    }
    floatV acc[CL_RP][CL_NV];
    #pragma unroll
    for (int j = 0; j < CL_RP; j++)
        #pragma unroll
        for (int v = 0; v < CL_NV; v++) acc[j][v] = (floatV)(0.0f);

    for (int r = 0; r < R; r++) {
        for (int s = 0; s < S; s++) {
            // Each pixel's channel run for this tap, or the zeros with a step of 0.
            __global const float* xp[CL_RP];
            int step[CL_RP];
            #pragma unroll
            for (int j = 0; j < CL_RP; j++) {
                const int ih = ih0[j] + r * dil_h, iw = iw0[j] + s * dil_w;
                const bool inside = ih >= 0 && ih < H && iw >= 0 && iw < W;
#if CL_NCHW
                xp[j] = inside ? xh + (size_t)base[j] + ih * W + iw : zero;
                step[j] = inside ? H * W : 0;
#else
                xp[j] = inside ? xh + (size_t)(base[j] + ih * W + iw) * CIN : zero;
                step[j] = inside ? 1 : 0;
#endif
            }
#if PANELS
            __global const float* a = wt + ((size_t)kb * R * S + r * S + s) * CIN * CO_TILE;
            const int a_step = CO_TILE;
#else
            __global const float* a = wt + (size_t)(r * S + s) * CIN * Kp + kb * CO_TILE;
            const int a_step = Kp;
#endif
            for (int c = 0; c < CIN; c++) {
                floatV av[CL_NV];
                #pragma unroll
                for (int v = 0; v < CL_NV; v++) av[v] = VLOAD(a + v * CL_VW);
                a += a_step;
                #pragma unroll
                for (int j = 0; j < CL_RP; j++) {
                    const floatV b = (floatV)(*xp[j]);
                    xp[j] += step[j];
                    #pragma unroll
                    for (int v = 0; v < CL_NV; v++) acc[j][v] = fma(b, av[v], acc[j][v]);
                }
            }
        }
    }

    // The register tile goes out pixel by pixel, each vector's lanes to COUT planes; the bias is
    // a vector of the tile's channels (zero past COUT).
    floatV bv[CL_NV];
    #pragma unroll
    for (int v = 0; v < CL_NV; v++) {
        float e[CL_VW];
        for (int l = 0; l < CL_VW; l++) {
            const int k = kb * CO_TILE + v * CL_VW + l;
            e[l] = has_bias && k < COUT ? bias[k] : 0.0f;
        }
        bv[v] = VLOAD(e);
    }
    const int plane = YH * YW;
#if CL_SO
    // The tile's pixels consecutive in one output plane: channel by channel, each channel's
    // CL_RP pixels stored one after another.
    const int n0 = pb * CL_RP;
    if (y_sh == 1 && y_sw == 1 && YW == OW && YH == OH && n0 + CL_RP <= NN && n0 / OHW == (n0 + CL_RP - 1) / OHW) {
        const int img = n0 / OHW;
        __global float* out = y + (size_t)img * COUT * plane + (n0 - img * OHW);
        #pragma unroll
        for (int v = 0; v < CL_NV; v++) {
            float e[CL_RP][CL_VW];
            #pragma unroll
            for (int j = 0; j < CL_RP; j++) VSTORE(acc[j][v] + bv[v], e[j]);
            for (int l = 0; l < CL_VW; l++) {
                const int k = kb * CO_TILE + v * CL_VW + l;
                if (k < COUT) {
                    #pragma unroll
                    for (int j = 0; j < CL_RP; j++) out[(size_t)k * plane + j] = activate(act, alpha, e[j][l]);
                }
            }
        }
        return;
    }
#endif
    #pragma unroll
    for (int j = 0; j < CL_RP; j++) {
        const int n = pb * CL_RP + j;
        if (n >= NN) break;
        const int img = n / OHW, p = n - img * OHW, oh = p / OW, ow = p - oh * OW;
        __global float* out = y + (size_t)img * COUT * plane + (y_h0 + y_sh * oh) * YW + y_w0 + y_sw * ow;
        #pragma unroll
        for (int v = 0; v < CL_NV; v++) {
            float e[CL_VW];
            VSTORE(acc[j][v] + bv[v], e);
            for (int l = 0; l < CL_VW; l++) {
                const int k = kb * CO_TILE + v * CL_VW + l;
                if (k < COUT) out[(size_t)k * plane] = activate(act, alpha, e[l]);
            }
        }
    }
}

// Partial filter gradients part[split][rs][ci][co] (ci < CINP, co < KP) at ws + part_offset, from
// xh [CINP / 8, N·H·W, 8] and dyh [KP / CO_TILE, N·OH·OW, CO_TILE] (channels-last panels, zero
// past CIN and COUT: a work-item's loads step through contiguous memory, where runs of CINP and
// KP floats put them 2–4 KB apart on 512-channel layers, beyond the prefetchers; PoCL, Zen 4:
// 1.0–1.3×, Benchmarks/NOTES-opencl-solvers.md, seventeenth session). Range
// [KP / CO_TILE rounded up to CL_WG, CINP / CL_RP · R·S, splits], work-group [CL_WG, 1, 1]: the
// work-items of one slice run one after another and share its runs in cache. A work-item walks
// its slice's output rows (rows_per_slice of them), and in each row only the columns whose tap
// lands inside x: rows and columns in the padding add nothing, so the loop has no bounds check.
__kernel __attribute__((reqd_work_group_size(CL_WG, 1, 1)))
void conv_channels_last_filter(const int batch, const int CIN, const int H, const int W, const int COUT, const int KP,
                               const int CINP, const int R, const int S, const int stride_h, const int stride_w,
                               const int pad_top, const int pad_left, const int dil_h, const int dil_w, const int OH,
                               const int OW, const int rows_per_slice, __global float* ws, const int xh_offset,
                               const int dyh_offset, const int part_offset) {
    const int kb = get_global_id(0), cirs = get_global_id(1), split = get_global_id(2);
    if (kb * CO_TILE >= KP) return;
    const int blocks = CINP / CL_RP, rs = cirs / blocks, cb = cirs - rs * blocks;
    const int r = rs / S, s = rs - r * S;
    const int co0 = kb * CO_TILE, ci0 = cb * CL_RP;
    __global const float* xh = ws + xh_offset;
    __global const float* dyh = ws + dyh_offset;
    // The columns whose tap is inside x: ow·stride_w − pad_left + s·dil_w in [0, W).
    const int shift = s * dil_w - pad_left;
    const int ow_lo = shift >= 0 ? 0 : (-shift + stride_w - 1) / stride_w;
    const int ow_hi = min(OW, W - shift <= 0 ? 0 : (W - shift - 1) / stride_w + 1);
    floatV acc[CL_RP][CL_NV];
    #pragma unroll
    for (int j = 0; j < CL_RP; j++)
        #pragma unroll
        for (int v = 0; v < CL_NV; v++) acc[j][v] = (floatV)(0.0f);
    // Each of the tile's input channels' panel and dy's panel, set once; a row only sets an
    // offset, and a step moves one offset, not a pointer per channel (on 7² layers a row is 7
    // steps; measured within the noise of the per-row arithmetic it replaces, 0.9–1.2×).
    const size_t NHW = (size_t)batch * H * W;
    __global const float* xc[CL_RP];
    #pragma unroll
    for (int j = 0; j < CL_RP; j++) xc[j] = xh + panel_offset(ci0 + j, X_PANEL, 0, NHW);
    __global const float* dyk = dyh + panel_offset(co0, DY_PANEL, 0, (size_t)batch * OH * OW);
    const int row_end = min(batch * OH, (split + 1) * rows_per_slice);
    for (int row = split * rows_per_slice; row < row_end; row++) {
        const int img = row / OH, oh = row - img * OH;
        const int ih = oh * stride_h - pad_top + r * dil_h;
        if (ih < 0 || ih >= H) continue;
        __global const float* a = dyk + ((size_t)row * OW + ow_lo) * DY_PANEL;
        size_t o = ((size_t)img * H * W + (size_t)ih * W + ow_lo * stride_w + shift) * X_PANEL;
        for (int ow = ow_lo; ow < ow_hi; ow++) {
            floatV av[CL_NV];
            #pragma unroll
            for (int v = 0; v < CL_NV; v++) av[v] = VLOAD(a + v * CL_VW);
            #pragma unroll
            for (int j = 0; j < CL_RP; j++) {
                const floatV bj = (floatV)(xc[j][o]);
                #pragma unroll
                for (int v = 0; v < CL_NV; v++) acc[j][v] = fma(bj, av[v], acc[j][v]);
            }
            a += DY_PANEL;
            o += stride_w * X_PANEL;
        }
    }
    __global float* part = ws + part_offset + (((size_t)split * R * S + rs) * CINP + ci0) * KP + co0;
    #pragma unroll
    for (int j = 0; j < CL_RP; j++)
        #pragma unroll
        for (int v = 0; v < CL_NV; v++) VSTORE(acc[j][v], part + (size_t)j * KP + v * CL_VW);
}

// The filter gradient of a 1×1, stride-1, unpadded layer read in place (CL_NCHW = 1): dw[k][c] =
// Σ over images and pixels of dy[n][k][p] · x[n][c][p], both rows contiguous along the pixels,
// so it needs no copy (the copies cost as much as the arithmetic on ResNet's 1×1 layers). A
// work-item accumulates CL_RP input channels × CL_KT tiles of CL_NV output channels, each a
// vector of CL_VW pixels, over its share of one slice (images [img0, img1), pixels [p0, p1) of
// each), in runs of CL_FRUN vectors: the tiles take a run in turn, each tile's CL_RP·CL_NV
// accumulators in registers for the run and in memory between runs, so the run's x rows are read
// from L1 by every tile after the first. With one tile each work-item streamed its CL_RP + CL_NV
// rows from L2, 8 vector loads for 12 FMAs (Benchmarks/NOTES-opencl-solvers.md, nineteenth
// session). The CL_WG work-items of a group take consecutive CL_VW-pixel chunks of the same rows
// (consecutive addresses across work-items, so a GPU's loads coalesce) and add their sums
// through local memory. Channels past CIN and COUT read the last row (their sums land in the
// padding of part, which the reduction skips). Partial sums part[split][ci][co] (ci < CINP, co <
// KP; R·S = 1), added in order by conv_channels_last_filter_reduce. Range [CL_WG · KP / (CL_KT ·
// CL_NV), CINP / CL_RP, splits], work-group [CL_WG, 1, 1]: groups that run one after another
// share a slice's x rows.
__kernel __attribute__((reqd_work_group_size(CL_WG, 1, 1)))
void conv_channels_last_filter_in_place(const int batch, const int CIN, const int COUT, const int P, const int KP,
                                        const int CINP, const int images_per_slice, const int chunk, const int chunks,
                                        __global const float* x, __global const float* dy, __global float* ws,
                                        const int part_offset) {
    const int lane = get_local_id(0), kb = get_group_id(0), cb = get_global_id(1), split = get_global_id(2);
    const int k0 = kb * CL_NV * CL_KT, c0 = cb * CL_RP;
    const int image_slice = split / chunks;
    const int img0 = image_slice * images_per_slice, img1 = min(batch, img0 + images_per_slice);
    const int p0 = (split - image_slice * chunks) * chunk, p1 = min(P, p0 + chunk);
    floatV accs[CL_KT][CL_RP][CL_NV];
    for (int t = 0; t < CL_KT; t++)
        #pragma unroll
        for (int j = 0; j < CL_RP; j++)
            #pragma unroll
            for (int v = 0; v < CL_NV; v++) accs[t][j][v] = (floatV)(0.0f);
    for (int img = img0; img < img1; img++) {
        __global const float* b[CL_RP];
        #pragma unroll
        for (int j = 0; j < CL_RP; j++) b[j] = x + ((size_t)img * CIN + min(c0 + j, CIN - 1)) * P;
        // The slice in runs of CL_FRUN vectors a work-item: each run's x rows are read from
        // cache by the CL_KT output-channel tiles in turn.
        for (int q0 = p0; q0 < p1; q0 += CL_FRUN * CL_WG * CL_VW) {
            const int q1 = min(p1, q0 + CL_FRUN * CL_WG * CL_VW);
            for (int t = 0; t < CL_KT; t++) {
                __global const float* a[CL_NV];
                #pragma unroll
                for (int v = 0; v < CL_NV; v++)
                    a[v] = dy + ((size_t)img * COUT + min(k0 + t * CL_NV + v, COUT - 1)) * P;
                floatV acc[CL_RP][CL_NV];
                #pragma unroll
                for (int j = 0; j < CL_RP; j++)
                    #pragma unroll
                    for (int v = 0; v < CL_NV; v++) acc[j][v] = accs[t][j][v];
                int p = q0 + lane * CL_VW;
                for (; p + CL_VW <= q1; p += CL_WG * CL_VW) {
                    floatV av[CL_NV];
                    #pragma unroll
                    for (int v = 0; v < CL_NV; v++) av[v] = VLOAD(a[v] + p);
                    #pragma unroll
                    for (int j = 0; j < CL_RP; j++) {
                        const floatV bj = VLOAD(b[j] + p);
                        #pragma unroll
                        for (int v = 0; v < CL_NV; v++) acc[j][v] = fma(bj, av[v], acc[j][v]);
                    }
                }
                if (p < q1) {
                    // The slice's last vector is partial: zeros past p1.
                    float e[CL_VW];
                    floatV av[CL_NV];
                    #pragma unroll
                    for (int v = 0; v < CL_NV; v++) {
                        for (int l = 0; l < CL_VW; l++) e[l] = p + l < q1 ? a[v][p + l] : 0.0f;
                        av[v] = VLOAD(e);
                    }
                    #pragma unroll
                    for (int j = 0; j < CL_RP; j++) {
                        for (int l = 0; l < CL_VW; l++) e[l] = p + l < q1 ? b[j][p + l] : 0.0f;
                        const floatV bj = VLOAD(e);
                        #pragma unroll
                        for (int v = 0; v < CL_NV; v++) acc[j][v] = fma(bj, av[v], acc[j][v]);
                    }
                }
                #pragma unroll
                for (int j = 0; j < CL_RP; j++)
                    #pragma unroll
                    for (int v = 0; v < CL_NV; v++) accs[t][j][v] = acc[j][v];
            }
        }
    }
    // Each accumulator's lanes summed, then the group's work-items' sums (CL_WG > 1).
    float sum[CL_KT][CL_RP][CL_NV];
    for (int t = 0; t < CL_KT; t++)
        #pragma unroll
        for (int j = 0; j < CL_RP; j++)
            #pragma unroll
            for (int v = 0; v < CL_NV; v++) {
                float e[CL_VW];
                VSTORE(accs[t][j][v], e);
                float u = 0.0f;
                for (int l = 0; l < CL_VW; l++) u += e[l];
                sum[t][j][v] = u;
            }
#define IN_PLACE_SUMS (CL_KT * CL_RP * CL_NV)
#if CL_WG > 1
    __local float red[IN_PLACE_SUMS * CL_WG];
    for (int t = 0; t < CL_KT; t++)
        #pragma unroll
        for (int j = 0; j < CL_RP; j++)
            #pragma unroll
            for (int v = 0; v < CL_NV; v++) red[((t * CL_RP + j) * CL_NV + v) * CL_WG + lane] = sum[t][j][v];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int span = CL_WG / 2; span > 0; span >>= 1) {
        if (lane < span)
            for (int u = 0; u < IN_PLACE_SUMS; u++) red[u * CL_WG + lane] += red[u * CL_WG + lane + span];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lane != 0) return;
    for (int t = 0; t < CL_KT; t++)
        #pragma unroll
        for (int j = 0; j < CL_RP; j++)
            #pragma unroll
            for (int v = 0; v < CL_NV; v++) sum[t][j][v] = red[((t * CL_RP + j) * CL_NV + v) * CL_WG];
#endif
    __global float* part = ws + part_offset + ((size_t)split * CINP + c0) * KP + k0;
    for (int t = 0; t < CL_KT; t++)
        #pragma unroll
        for (int j = 0; j < CL_RP; j++)
            #pragma unroll
            for (int v = 0; v < CL_NV; v++) part[(size_t)j * KP + t * CL_NV + v] = sum[t][j][v];
}

// dw [COUT, CIN, R·S] (OIHW) = Σ over splits, in order, of part. Range [ceil(COUT·CIN·RS / 64)·64]:
// one dw element per work-item, consecutive work-items writing consecutive addresses.
__kernel void conv_channels_last_filter_reduce(const int COUT, const int CIN, const int RS, const int KP, const int CINP,
                                               const int splits, __global const float* ws, const int part_offset,
                                               __global float* dw) {
    const int i = get_global_id(0);
    if (i >= COUT * CIN * RS) return;
    const int co = i / (CIN * RS), rest = i - co * (CIN * RS), ci = rest / RS, rs = rest - ci * RS;
    __global const float* part = ws + part_offset + ((size_t)rs * CINP + ci) * KP + co;
    const size_t step = (size_t)RS * CINP * KP;
    float sum = 0.0f;
    for (int k = 0; k < splits; k++) sum += part[k * step];
    dw[i] = sum;
}
