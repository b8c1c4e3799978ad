// conv_pointwise.cl: 1×1 convolution (stride 1, no padding, one group) as a GEMM straight on
// the NCHW tensors, with the pixels as the vector lanes. Launched by
// Backends/OpenCL/Solvers/PointwiseSolver.swift; tunables and launch sizes come from its table
// (KernelTunables.pointwise).
//
// Image n's input is a C × P matrix (P = H·W pixels, each channel's plane contiguous) and its
// output a K × P one, so y[n] = W · x[n]: each work-item accumulates PW_KT output channels ×
// PW_NP vectors of PW_VW consecutive pixels in registers. Per input channel it loads PW_NP
// whole vectors from that channel's plane (consecutive addresses) and PW_KT weights, each a
// broadcast: PW_KT·PW_NP multiply-adds for PW_NP + PW_KT loads, and no copy of either tensor.
// The input gradient is the same kernel with the weights read transposed
// (dx[n] = Wᵀ · dy[n]): the weight of output row o and input row i is
// w[o·w_out_step + i·w_in_step], (C, 1) forward and (1, C) backward.
//
// Why (Benchmarks/NOTES-opencl-solvers.md, twentieth session): the channels-last solver's
// in-place 1×1 forward keeps output channels as its lanes, so every input value is a scalar
// load a plane away and a work-item walks as many planes as the layer has input channels at a
// few floats each; on PoCL it ran ResNet-50's 64→64 56² forward at 100–160 GFLOP/s. Here a
// work-item reads a run of PW_NP·PW_VW floats per plane. The loads and stores go through the
// vector type declared with a float's alignment (planes start at any float): PoCL builds
// vloadN / vstoreN from 128-bit pieces, where this is one unaligned vector instruction.
//
// Tunables (-D; the Swift table keeps them consistent with the launch):
//   PW_VW     pixels per vector (4, 8 or 16); a plane of another size ends in a partial vector,
//             read and written lane by lane (load_v / store_v) in its last block only
//   PW_KT     output channels per work-item (1–16)
//   PW_NP     vectors of pixels per work-item (1–4): PW_KT·PW_NP accumulators
//   PW_KFIRST 1: launch dimension 0 runs along output-channel blocks, so the work-items that
//             run one after another on a CPU core read the same PW_NP·PW_VW pixels of every
//             plane (from L1); 0: along pixel blocks (consecutive work-items read consecutive
//             pixels: coalesced on a GPU)
//   PW_WG     work-items per work-group along dimension 0

#ifndef PW_VW
#define PW_VW 16
#endif
#ifndef PW_KT
#define PW_KT 8
#endif
#ifndef PW_NP
#define PW_NP 2
#endif
#ifndef PW_KFIRST
#define PW_KFIRST 1
#endif
#ifndef PW_WG
#define PW_WG 1
#endif
#if PW_VW != 4 && PW_VW != 8 && PW_VW != 16
#error "PW_VW must be 4, 8 or 16"
#endif

#define VEC PW_VW
#include "activation_function.cl"
#include "vector_io.cl"

typedef floatV floatV_unaligned __attribute__((aligned(4)));
#define PW_LOAD(p) (*(__global const floatV_unaligned*)(p))
#define PW_STORE(v, p) (*(__global floatV_unaligned*)(p) = (v))

// y[n][o][p] = act(Σ_i w(o, i)·x[n][i][p] + bias[o]) for o < outs, i < ins, p < pixels
// (forward: ins = C, outs = K; backward data: ins = K, outs = C, no bias, no activation).
__kernel __attribute__((reqd_work_group_size(PW_WG, 1, 1)))
void conv_pointwise(const int ins, const int outs, const int pixels, const int w_out_step,
                    const int w_in_step, __global const float* x, __global const float* w,
                    __global float* y, const int has_bias, __global const float* bias,
                    const int act, const float alpha) {
    const int pb = get_global_id(PW_KFIRST ? 1 : 0), ob = get_global_id(PW_KFIRST ? 0 : 1);
    const int n = get_global_id(2);
    const int p0 = pb * (PW_NP * PW_VW), o0 = ob * PW_KT;
    if (p0 >= pixels || o0 >= outs) return;
    // Whole vectors this work-item owns (PW_NP but in the plane's last block), and with a
    // partial last vector (a plane of a size not a multiple of PW_VW), the vectors it touches.
    const int rest = pixels - p0;
    const int vectors = min(PW_NP, rest / PW_VW), used = min(PW_NP, (rest + PW_VW - 1) / PW_VW);
    __global const float* xp = x + (size_t)n * ins * pixels + p0;
    // Rows past the layer's outputs read the last row (their sums are never stored).
    __global const float* wp[PW_KT];
    #pragma unroll
    for (int i = 0; i < PW_KT; i++) wp[i] = w + (size_t)min(o0 + i, outs - 1) * w_out_step;

    floatV acc[PW_KT][PW_NP];
    #pragma unroll
    for (int i = 0; i < PW_KT; i++) {
        #pragma unroll
        for (int j = 0; j < PW_NP; j++) acc[i][j] = 0.0f;
    }
    if (vectors == PW_NP) {
        for (int c = 0; c < ins; c++) {
            __global const float* row = xp + (size_t)c * pixels;
            floatV xv[PW_NP];
            #pragma unroll
            for (int j = 0; j < PW_NP; j++) xv[j] = PW_LOAD(row + j * PW_VW);
            const int wc = c * w_in_step;
            #pragma unroll
            for (int i = 0; i < PW_KT; i++) {
                const floatV wv = wp[i][wc];
                #pragma unroll
                for (int j = 0; j < PW_NP; j++) acc[i][j] = fma(wv, xv[j], acc[i][j]);
            }
        }
    } else {
        // The plane's last block, with fewer vectors: the same loop, the missing ones skipped,
        // a partial last one read with its lanes past the plane as 0.
        for (int c = 0; c < ins; c++) {
            __global const float* row = xp + (size_t)c * pixels;
            const int wc = c * w_in_step;
            #pragma unroll
            for (int j = 0; j < PW_NP; j++) {
                if (j < used) {
                    const floatV xv = j < vectors ? PW_LOAD(row + j * PW_VW) : load_v(row, j * PW_VW, rest);
                    #pragma unroll
                    for (int i = 0; i < PW_KT; i++) acc[i][j] = fma((floatV)wp[i][wc], xv, acc[i][j]);
                }
            }
        }
    }
    #pragma unroll
    for (int i = 0; i < PW_KT; i++) {
        const int o = o0 + i;
        if (o < outs) {
            const float b = has_bias ? bias[o] : 0.0f;
            __global float* out = y + ((size_t)n * outs + o) * pixels + p0;
            #pragma unroll
            for (int j = 0; j < PW_NP; j++) {
                if (j < vectors) PW_STORE(activate_v(act, alpha, acc[i][j] + b), out + j * PW_VW);
                else if (j < used) store_v(activate_v(act, alpha, acc[i][j] + b), out, j * PW_VW, rest);
            }
        }
    }
}
