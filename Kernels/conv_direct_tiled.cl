// conv_direct_tiled.cl: direct convolution of narrow, stride-1, ungrouped layers (LeNet's
// 1→6 and 6→16 5×5), where a GEMM's 32–64-row tiles would be mostly padding and im2col would
// copy the input kh·kw times. Three passes:
// - conv_direct_tiled_forward: y = activation(conv(x, w) + bias);
// - the same kernel built with ADJOINT=1 is backward-data: a stride-1 convolution's input
//   gradient is the forward pass over dy, padded by k-1-pad, with the weights flipped and
//   their two channel axes swapped (the swap and flip happen while staging the weights);
// - conv_direct_tiled_backward_filter: each work-group sums the weight gradient of a block of
//   VW output channels over DT_IMAGES images (a split of the batch) into its own slice, and
//   conv_direct_tiled_reduce_splits adds the slices in split order (deterministic).
//
// Layout: NCHW tensors, OIHW weights. A work-group stages what it reads in local memory once:
// TILE_ROWS output rows' worth of input rows, zero-padded so the inner loops have no bounds
// checks, and its weights. Forward: work-item l owns the tile's pixel vector l (DT_VP
// consecutive pixels: consecutive work-items read and write consecutive addresses) for OB
// output channels, each weight a broadcast multiply-add. Backward filter: a work-item owns
// taps (c, kh, kw) and a vector of VW output channels, and walks the staged pixels of its images.
//
// Geometry, set by the host with -D (built once per problem, so every loop has a constant trip
// count and the local arrays a constant size; DirectTiledSolver.swift):
//   CIN, COUT          channels read and written (ADJOINT: the forward's output and input channels)
//   IN_H, IN_W         the read tensor's plane; OUT_H, OUT_W the written one's
//   KH, KW             kernel; PAD_T, PAD_L padding before the first row and column
//   VW                 output channels per work-item: 1, 2, 4, 8 or 16
//   TILE_ROWS          output rows per work-group (the launch's dimension 1 covers the rest)
//   ADJOINT            1 for backward-data
//   OB                 forward: output channels per work-item
// Tunable parameters (one Swift table, `KernelTunables.directTiled`, gives these and the launch):
//   DT_VP              forward: pixels per vector (4, 8 or 16)
//   DT_VECTORS         forward: at most this many vectors (work-items) per work-group; the host
//                      picks TILE_ROWS so a tile's vectors fit and passes their count as FWD_ITEMS
//   DT_WG              backward-filter: work-items per work-group
//   DT_IMAGES          backward-filter: images per work-group

// Remainders are written as i - (i / d)·d: where a division and a remainder of the same
// operands meet, LLVM pairs them through a `freeze`, an instruction oclgrind's
// uninitialized-value checker cannot run (scripts/check-kernels.sh).

#include "activation_function.cl"

#ifndef DT_WG
#define DT_WG 32
#endif
#ifndef DT_IMAGES
#define DT_IMAGES 4
#endif
#ifndef DT_VP
#define DT_VP 16
#endif
#ifndef ADJOINT
#define ADJOINT 0
#endif
// Defaults only so that the file also builds alone (the host builds every file of Kernels/ to
// list their kernels); every launch sets all of them.
#ifndef CIN
#define CIN 1
#define COUT 1
#define IN_H 4
#define IN_W 4
#define OUT_H 4
#define OUT_W 4
#define KH 1
#define KW 1
#define PAD_T 0
#define PAD_L 0
#define VW 1
#define OB 1
#define TILE_ROWS 4
#endif
#ifndef FWD_ITEMS
#define FWD_ITEMS 1
#endif

#define TAPS (CIN * KH * KW)
#define TILE_IN_ROWS (TILE_ROWS + KH - 1)
#define TILE_W (OUT_W + KW - 1)
#define TILE_PIXELS (TILE_ROWS * OUT_W)
#define TPX ((TAPS + DT_WG - 1) / DT_WG)

#if VW == 1
typedef float vec_t;
#define VLOAD(i, p) ((p)[i])
#define VSPILL(v, a) ((a)[0] = (v))
#elif VW == 2
typedef float2 vec_t;
#define VLOAD(i, p) vload2(i, p)
#define VSPILL(v, a) vstore2(v, 0, a)
#elif VW == 4
typedef float4 vec_t;
#define VLOAD(i, p) vload4(i, p)
#define VSPILL(v, a) vstore4(v, 0, a)
#elif VW == 8
typedef float8 vec_t;
#define VLOAD(i, p) vload8(i, p)
#define VSPILL(v, a) vstore8(v, 0, a)
#elif VW == 16
typedef float16 vec_t;
#define VLOAD(i, p) vload16(i, p)
#define VSPILL(v, a) vstore16(v, 0, a)
#else
#error "VW must be 1, 2, 4, 8 or 16"
#endif

// xs[c][r][col] = in[c][oh0 + r - PAD_T][col - PAD_L], 0 outside the plane: the input rows
// that output rows oh0 ..< oh0 + TILE_ROWS read. Consecutive work-items copy consecutive columns.
inline void stage_rows(__global const float* in, const int oh0, __local float* xs) {
    for (int i = get_local_id(0); i < CIN * TILE_IN_ROWS * TILE_W; i += DT_WG) {
        const int rc = i / TILE_W, col = i - rc * TILE_W;
        const int c = rc / TILE_IN_ROWS, r = rc - c * TILE_IN_ROWS;
        const int ih = oh0 + r - PAD_T, iw = col - PAD_L;
        xs[i] = ih >= 0 && ih < IN_H && iw >= 0 && iw < IN_W ? in[(c * IN_H + ih) * IN_W + iw] : 0.0f;
    }
}

// The forward pass runs along pixel vectors: the staged rows form one flat array of row stride
// TILE_W, so output pixel f = r·TILE_W + col reads, at tap (c, kh, kw), input position
// f + kh·TILE_W + kw — for DT_VP consecutive f one contiguous vector load (the KW - 1 columns
// past OUT_W of each row are computed too and never stored). A work-item owns one such vector
// for OB output channels: per tap one load of x and OB multiply-adds with a broadcast weight.
// Work-groups hold FWD_ITEMS work-items (the tile's vectors, at most DT_WG), so no work-item
// of a CPU device's group loop idles.
// Range: [FWD_ITEMS, ⌈OUT_H / TILE_ROWS⌉ · ⌈COUT / OB⌉, batch], work-groups [FWD_ITEMS, 1, 1];
// group (t·⌈COUT / OB⌉ + b, n) writes rows t·TILE_ROWS… of output channels b·OB… of image n.
// `has_bias` 0: no bias (the argument is then any buffer, unread); activation codes are
// activation_function.cl's. Backward-data passes has_bias 0 and ACT_NONE.
#if DT_VP == 4
typedef float4 pix_t;
#define PLOAD(p) vload4(0, p)
#define PSPILL(v, a) vstore4(v, 0, a)
#elif DT_VP == 8
typedef float8 pix_t;
#define PLOAD(p) vload8(0, p)
#define PSPILL(v, a) vstore8(v, 0, a)
#elif DT_VP == 16
typedef float16 pix_t;
#define PLOAD(p) vload16(0, p)
#define PSPILL(v, a) vstore16(v, 0, a)
#else
#error "DT_VP must be 4, 8 or 16"
#endif
#define FWD_BLOCKS ((COUT + OB - 1) / OB)
// The last vector of the last channel reads up to KW - 1 + DT_VP past the rows: zeros.
#define XS_COUNT (CIN * TILE_IN_ROWS * TILE_W + KW + DT_VP)

__kernel __attribute__((reqd_work_group_size(FWD_ITEMS, 1, 1)))
void conv_direct_tiled_forward(__global const float* restrict x, __global const float* restrict weight,
                               __global float* restrict y, const int has_bias, __global const float* bias,
                               const int code, const float alpha) {
    __local float xs[XS_COUNT];
    __local float ws[TAPS * OB];
    const int lid = get_local_id(0);
    const int t = get_group_id(1) / FWD_BLOCKS, b = get_group_id(1) - t * FWD_BLOCKS, oh0 = t * TILE_ROWS;
    const int n = get_group_id(2), o0 = b * OB;
    // Staging with FWD_ITEMS work-items: stage_rows strides by DT_WG, so cover it here.
    for (int i = lid; i < CIN * TILE_IN_ROWS * TILE_W; i += FWD_ITEMS) {
        const int rc = i / TILE_W, col = i - rc * TILE_W;
        const int c = rc / TILE_IN_ROWS, r = rc - c * TILE_IN_ROWS;
        const int ih = oh0 + r - PAD_T, iw = col - PAD_L;
        xs[i] = ih >= 0 && ih < IN_H && iw >= 0 && iw < IN_W ? x[((size_t)n * CIN + c) * IN_H * IN_W + ih * IN_W + iw] : 0.0f;
    }
    for (int i = CIN * TILE_IN_ROWS * TILE_W + lid; i < XS_COUNT; i += FWD_ITEMS) xs[i] = 0.0f;
    // ws[tap][k] = the weight of output channel o0 + k at tap (c, kh, kw), 0 past COUT.
    for (int i = lid; i < OB * TAPS; i += FWD_ITEMS) {
        const int k = i / TAPS, tap = i - k * TAPS, o = o0 + k;
        float w = 0.0f;
        if (o < COUT) {
#if ADJOINT
            // The forward weight of (its output c, its input o) at the flipped tap.
            const int c = tap / (KH * KW), u = tap - c * KH * KW;
            w = weight[(c * COUT + o) * KH * KW + KH * KW - 1 - u];
#else
            w = weight[o * TAPS + tap];
#endif
        }
        ws[tap * OB + k] = w;
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    pix_t acc[OB];
    for (int k = 0; k < OB; k++) acc[k] = (pix_t)(0.0f);
    const int f0 = lid * DT_VP;
    for (int c = 0; c < CIN; c++) {
        for (int kh = 0; kh < KH; kh++) {
            for (int kw = 0; kw < KW; kw++) {
                const pix_t v = PLOAD(xs + (c * TILE_IN_ROWS + kh) * TILE_W + kw + f0);
                __local const float* w = ws + ((c * KH + kh) * KW + kw) * OB;
                for (int k = 0; k < OB; k++) acc[k] += v * w[k];
            }
        }
    }

    for (int k = 0; k < OB && o0 + k < COUT; k++) {
        const int o = o0 + k;
        const float bk = has_bias ? bias[o] : 0.0f;
        float out[DT_VP];
        PSPILL(acc[k], out);
        __global float* plane = y + ((size_t)n * COUT + o) * OUT_H * OUT_W;
        for (int l = 0; l < DT_VP; l++) {
            const int r = (f0 + l) / TILE_W, col = f0 + l - r * TILE_W;
            if (col < OUT_W && r < TILE_ROWS && oh0 + r < OUT_H) plane[(oh0 + r) * OUT_W + col] = activate(code, alpha, out[l] + bk);
        }
    }
}

// out[split][o][tap] = Σ over images split·DT_IMAGES… and every output pixel of
// x[n][c][oh + kh - PAD_T][ow + kw - PAD_L] · dy[n][o][oh][ow], tap = (c·KH + kh)·KW + kw.
// With one split, `out` is dw itself. Range: [DT_WG, OBLOCKS, ⌈batch / DT_IMAGES⌉],
// work-groups [DT_WG, 1, 1].
__kernel __attribute__((reqd_work_group_size(DT_WG, 1, 1)))
void conv_direct_tiled_backward_filter(const int batch, __global const float* restrict x,
                                       __global const float* restrict dy, __global float* restrict out) {
    __local float xs[CIN * TILE_IN_ROWS * TILE_W];
    __local float ds[TILE_PIXELS * VW];
    const int lid = get_local_id(0);
    const int o0 = get_group_id(1) * VW, split = get_group_id(2);

    vec_t acc[TPX];
    int at[TPX];
    for (int j = 0; j < TPX; j++) {
        acc[j] = (vec_t)(0.0f);
        const int tap = min(lid + j * DT_WG, TAPS - 1);   // past the end: a copy, not stored
        const int c = tap / (KH * KW), k = tap - c * KH * KW, kh = k / KW;
        at[j] = (c * TILE_IN_ROWS + kh) * TILE_W + k - kh * KW;
    }
    const int last = min(batch, (split + 1) * DT_IMAGES);
    for (int n = split * DT_IMAGES; n < last; n++) {
        for (int oh0 = 0; oh0 < OUT_H; oh0 += TILE_ROWS) {
            barrier(CLK_LOCAL_MEM_FENCE);   // everyone is done with the previous tile
            stage_rows(x + (size_t)n * CIN * IN_H * IN_W, oh0, xs);
            // ds[q][v] = dy of output channel o0 + v at the tile's pixel q (0 past COUT or OUT_H).
            for (int i = lid; i < VW * TILE_PIXELS; i += DT_WG) {
                const int v = i / TILE_PIXELS, q = i - v * TILE_PIXELS, o = o0 + v;
                ds[q * VW + v] = o < COUT && oh0 + q / OUT_W < OUT_H
                    ? dy[(((size_t)n * COUT + o) * OUT_H + oh0) * OUT_W + q] : 0.0f;
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            for (int r = 0; r < TILE_ROWS; r++) {
                for (int col = 0; col < OUT_W; col++) {
                    const vec_t g = VLOAD(r * OUT_W + col, ds);
                    __local const float* px = xs + r * TILE_W + col;
                    for (int j = 0; j < TPX; j++) acc[j] += px[at[j]] * g;
                }
            }
        }
    }

    for (int j = 0; j < TPX; j++) {
        const int tap = lid + j * DT_WG;
        if (tap >= TAPS) break;
        float v[VW];
        VSPILL(acc[j], v);
        for (int k = 0; k < VW && o0 + k < COUT; k++) out[((size_t)split * COUT + o0 + k) * TAPS + tap] = v[k];
    }
}

// dw[i] = Σ_{split < splits} partial[split][i], added in split order. Range [count].
__kernel void conv_direct_tiled_reduce_splits(const int count, const int splits,
                                              __global const float* restrict partial, __global float* restrict dw) {
    const int i = get_global_id(0);
    if (i >= count) return;
    float sum = 0.0f;
    for (int s = 0; s < splits; s++) sum += partial[(size_t)s * count + i];
    dw[i] = sum;
}
