// conv_few_channels.cl: convolutions that read very few input channels (an image's 3), such as
// VGG-16's 3×3 3→64 and ResNet-50's 7×7/2 3→64 stem. As a GEMM their reduction is tiny
// (CIN·KH·KW = 27 or 147 taps) and their pixel dimension huge, so a GEMM tile spends its time
// staging operands and writing its output rather than multiplying. Here a work-group stages the
// few input rows its output rows read once in local memory and every work-item reuses them for
// all output channels. Three kernels:
// - conv_few_channels_forward: y = activation(conv(x, w) + bias);
// - conv_few_channels_backward_filter: each work-group sums the weight gradient of a block of
//   output channels over its tile of FC_FROWS output rows of one image into its own partial;
// - conv_few_channels_reduce: dw = the partials added in tile order (deterministic, no atomics);
// - conv_few_channels_backward_data: dx = the input gradient, for the few input channels, from
//   many output channels (a non-leaf image stem's): the reduction runs over the output
//   channels, staged a block at a time in local memory, and the taps (see there).
//
// Layout: NCHW tensors, OIHW weights; any stride, padding and dilation, one group.
//
// Strided columns: the staged input rows are stored by column phase. Staged column lc (input
// column lc - PAD_L) lives at (lc mod SW)·PHASE_W + lc / SW, so the input columns that FC_VP
// consecutive output columns read at tap kw, ow·SW + kw·DW for ow = ow0…, are contiguous:
// phase (kw·DW) mod SW, from ow0 + (kw·DW) / SW. Every inner-loop read is one vector load from
// local memory, at any stride.
//
// Geometry, set by the host with -D (built once per problem, so every loop has a constant trip
// count and the local arrays a constant size; FewChannelsSolver.swift):
//   CIN, COUT             input and output channels
//   IN_H, IN_W, OUT_H, OUT_W
//   KH, KW; SH, SW (stride); DH, DW (dilation); PAD_T, PAD_L (padding before row and column 0)
//   ROWS                  forward: output rows per work-group (≤ FC_ROWS, fits local memory)
//   FROWS                 backward filter: output rows per work-group (≤ FC_FROWS, likewise)
//   FCB                   backward filter: output channels per work-group (≤ FC_FCB)
// Tunable parameters (one Swift table, `KernelTunables.fewChannels`, gives these and the launch):
//   FC_VP     pixels per vector along an output row (4, 8 or 16): a work-item's register tile
//             is FC_OB (forward) or FC_FOB × KW (backward filter) such vectors
//   FC_OB     forward: output channels per register tile; a work-item walks all COUT in blocks
//   FC_ROWS   forward: output rows per work-group (upper bound; see ROWS)
//   FC_FROWS  backward filter: output rows per work-group (upper bound; see FROWS)
//   FC_FOB    backward filter: output channels per work-item
//   FC_FCB    backward filter: output channels per work-group (upper bound; see FCB)
//   FC_DYL    backward filter: 1 stages the group's dy rows in local memory (each is read by
//             CIN·KH work-items), 0 reads them from global memory where the work-items use them:
//             on a CPU device local memory is ordinary memory, so staging is an extra copy of dy
//   FC_DROWS  backward data: dx rows per work-group (upper bound; see DROWS)
//   FC_DOB    backward data: output channels staged per block (upper bound; see DOB)
//   FC_DBV    backward data: FC_VP-pixel vectors per column phase in a work-item's tile
// Backward-data geometry, set per launch: DROWS dx rows per work-group, DOB output channels
// per staged block (COUT split into equal blocks of at most FC_DOB).

// The outer loop that carries a register tile starts at `z` = lid >> 20, always 0 (no
// work-group has 2^20 work-items) but dependent on the work-item: PoCL puts an implicit barrier
// inside a loop it sees as uniform (to vectorize across work-items), which moves the tile to
// memory at every iteration (the filter gradient ran 2.5× slower that way). Only the outer one:
// the loops inside keep constant trip counts, so they unroll into straight multiply-adds with
// constant offsets (starting them at z too made the forward pass 2–5× slower). The loops over
// a register tile's entries are unrolled explicitly: left to the compiler, PoCL 3.1 kept the
// filter gradient's FC_FOB × KW accumulators in memory behind one multiply-add in a loop.
// GPUs compile it unchanged.
//
// Remainders are written as i - (i / d)·d: where a division and a remainder of the same
// operands meet, LLVM pairs them through a `freeze`, an instruction oclgrind's
// uninitialized-value checker cannot run (scripts/check-kernels.sh).

#include "activation_function.cl"

#ifndef FC_VP
#define FC_VP 16
#endif
#ifndef FC_OB
#define FC_OB 16
#endif
#ifndef FC_ROWS
#define FC_ROWS 4
#endif
#ifndef FC_FROWS
#define FC_FROWS 2
#endif
#ifndef FC_FOB
#define FC_FOB 4
#endif
#ifndef FC_FCB
#define FC_FCB 64
#endif
#ifndef FC_DYL
#define FC_DYL 1
#endif
#ifndef FC_DROWS
#define FC_DROWS 4
#endif
#ifndef FC_DOB
#define FC_DOB 16
#endif
#ifndef FC_DBV
#define FC_DBV 1
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
#define SH 1
#define SW 1
#define DH 1
#define DW 1
#define PAD_T 0
#define PAD_L 0
#endif
// Each launch sets the tile of the kernel it runs; the other kernels' tiles keep these.
#ifndef ROWS
#define ROWS 1
#endif
#ifndef FROWS
#define FROWS 1
#endif
#ifndef FCB
#define FCB FC_FOB
#endif
#ifndef DROWS
#define DROWS 1
#endif
#ifndef DOB
#define DOB 1
#endif

#if FC_VP == 4
typedef float4 pix_t;
#define PLOAD(p) vload4(0, p)
#define PSTORE(v, p) vstore4(v, 0, p)
#elif FC_VP == 8
typedef float8 pix_t;
#define PLOAD(p) vload8(0, p)
#define PSTORE(v, p) vstore8(v, 0, p)
#elif FC_VP == 16
typedef float16 pix_t;
#define PLOAD(p) vload16(0, p)
#define PSTORE(v, p) vstore16(v, 0, p)
#else
#error "FC_VP must be 4, 8 or 16"
#endif

#define TAPS (CIN * KH * KW)
// Output columns rounded up to whole vectors, and the vectors per output row.
#define OWP ((OUT_W + FC_VP - 1) / FC_VP * FC_VP)
#define NV (OWP / FC_VP)
// One phase of a staged row: every column a vector at tap kw may read.
#define PHASE_W (OWP + ((KW - 1) * DW) / SW)
#define XCOLS (SW * PHASE_W)
// Input rows that `rows` consecutive output rows read.
#define XROWS(rows) (((rows) - 1) * SH + (KH - 1) * DH + 1)

// xs[c][r][phase][q] = x[n][c][ih0 + r][lc - PAD_L] with lc = q·SW + phase, 0 outside the
// image. Consecutive work-items read consecutive input columns (coalesced); the phase layout
// scatters them within local memory only.
inline void stage_rows(__global const float* restrict xn, const int ih0, const int xrows, __local float* xs,
                       const int lid, const int items) {
#if SW == 1
    // Unstrided rows are contiguous in both places: copy them a vector at a time, element by
    // element only where a vector crosses the padding or the row's end.
#define XCHUNKS ((XCOLS + FC_VP - 1) / FC_VP)
    for (int i = lid; i < CIN * xrows * XCHUNKS; i += items) {
        const int rc = i / XCHUNKS, lc = (i - rc * XCHUNKS) * FC_VP;
        const int c = rc / xrows, r = rc - c * xrows;
        const int ih = ih0 + r, iw = lc - PAD_L;
        __local float* to = xs + rc * XCOLS + lc;
        __global const float* from = xn + (c * IN_H + ih) * IN_W + iw;
        const bool row = ih >= 0 && ih < IN_H;
        if (row && iw >= 0 && iw + FC_VP <= IN_W && lc + FC_VP <= XCOLS) {
            PSTORE(PLOAD(from), to);
        } else {
            for (int l = 0; l < FC_VP && lc + l < XCOLS; l++) to[l] = row && iw + l >= 0 && iw + l < IN_W ? from[l] : 0.0f;
        }
    }
#else
    for (int i = lid; i < CIN * xrows * XCOLS; i += items) {
        const int rc = i / XCOLS, lc = i - rc * XCOLS;
        const int c = rc / xrows, r = rc - c * xrows;
        const int ih = ih0 + r, iw = lc - PAD_L;
        const int q = lc / SW, phase = lc - q * SW;
        xs[rc * XCOLS + phase * PHASE_W + q] =
            ih >= 0 && ih < IN_H && iw >= 0 && iw < IN_W ? xn[(c * IN_H + ih) * IN_W + iw] : 0.0f;
    }
#endif
}

inline pix_t activate_pix(const int code, const float alpha, const pix_t v) {
    switch (code) {
    case ACT_NONE: return v;
    case ACT_RELU: return select(v, (pix_t)(0.0f), v < 0.0f);
    case ACT_LEAKY_RELU: return select(alpha * v, v, v > 0.0f);
    case ACT_ELU: return select(alpha * expm1(v), v, v > 0.0f);
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-v));
    default: return tanh(v);
    }
}

// Work-item l of a group owns output row oh0 + l / NV, columns (l mod NV)·FC_VP…: consecutive
// work-items write consecutive addresses of a row. It accumulates FC_OB output channels at a
// time (FC_OB pixel vectors, one broadcast weight per multiply-add) and walks all COUT in such
// blocks, so the staged rows serve every channel. The weights (COUT·TAPS floats, ≤ 16 K) are
// read as broadcasts from constant memory: every work-item reads the same one at once.
// Range [⌈OUT_H / ROWS⌉ · ROWS · NV, batch], work-groups [ROWS · NV, 1].
// `has_bias` 0: no bias (the argument is then any buffer, unread).
// Past COUT (a partial last block) any weight will do: those sums are not stored. The clamp
// only where COUT is not a multiple of FC_OB, so the weight offsets stay constants.
#if COUT % FC_OB == 0
#define WROW(o0, k) ((o0) + (k))
#else
#define WROW(o0, k) min((o0) + (k), COUT - 1)
#endif
__kernel __attribute__((reqd_work_group_size(ROWS * NV, 1, 1)))
void conv_few_channels_forward(__global const float* restrict x, __constant float* weight,
                               __global float* restrict y, const int has_bias, __global const float* bias,
                               const int code, const float alpha) {
    __local float xs[CIN * XROWS(ROWS) * XCOLS];
    const int lid = get_local_id(0), oh0 = get_group_id(0) * ROWS, n = get_group_id(1);
    stage_rows(x + (size_t)n * CIN * IN_H * IN_W, oh0 * SH - PAD_T, XROWS(ROWS), xs, lid, ROWS * NV);
    barrier(CLK_LOCAL_MEM_FENCE);

    const int r = lid / NV, ow0 = (lid - r * NV) * FC_VP, oh = oh0 + r, z = (int)(lid >> 20);
    if (oh >= OUT_H) return;   // the last tile's rows past the plane (no barrier follows)
    __local const float* xr = xs + r * SH * XCOLS + ow0;
    for (int o0 = z; o0 < COUT; o0 += FC_OB) {
        pix_t acc[FC_OB];
        _Pragma("unroll")
        for (int k = 0; k < FC_OB; k++) acc[k] = (pix_t)(0.0f);
        for (int c = 0; c < CIN; c++) {
            for (int kh = 0; kh < KH; kh++) {
                _Pragma("unroll")
                for (int kw = 0; kw < KW; kw++) {
                    const pix_t v = PLOAD(xr + (c * XROWS(ROWS) + kh * DH) * XCOLS
                                          + ((kw * DW) % SW) * PHASE_W + (kw * DW) / SW);
                    const int tap = (c * KH + kh) * KW + kw;
                    _Pragma("unroll")
                    for (int k = 0; k < FC_OB; k++) acc[k] += v * weight[WROW(o0, k) * TAPS + tap];
                }
            }
        }
        for (int k = 0; k < FC_OB && o0 + k < COUT; k++) {
            const int o = o0 + k;
            const pix_t out = activate_pix(code, alpha, acc[k] + (has_bias ? bias[o] : 0.0f));
            __global float* row = y + (((size_t)n * COUT + o) * OUT_H + oh) * OUT_W + ow0;
            if (ow0 + FC_VP <= OUT_W) {
                PSTORE(out, row);
            } else {
                float lanes[FC_VP];
                PSTORE(out, lanes);
                for (int l = 0; ow0 + l < OUT_W; l++) row[l] = lanes[l];
            }
        }
    }
}

// partial[tile][o][tap] = Σ over the FROWS output rows of tile (one image's rows t·FROWS…, tile
// = n·⌈OUT_H / FROWS⌉ + t) of dy[n][o][oh][ow] · x at tap (c, kh, kw) of (oh, ow), for the
// FCB output channels of the group. The group stages its x rows and dy rows once; work-item l
// owns one (c, kh) row of taps, all KW of them, for FC_FOB output channels: FC_FOB × KW vector
// accumulators along the pixels, each dy vector used KW times and each x vector FC_FOB times,
// summed across lanes at the end. dy is staged zero-padded to whole vectors (OWP), so the
// columns past OUT_W add nothing. Range [⌈OUT_H / FROWS⌉ · items, ⌈COUT / FCB⌉, batch],
// work-groups [items, 1, 1], items = FCB / FC_FOB · CIN · KH.
#define FB_ITEMS (FCB / FC_FOB * CIN * KH)
__kernel __attribute__((reqd_work_group_size(FB_ITEMS, 1, 1)))
void conv_few_channels_backward_filter(__global const float* restrict x, __global const float* restrict dy,
                                       __global float* restrict partial) {
    __local float xs[CIN * XROWS(FROWS) * XCOLS];
#if FC_DYL
    __local float ds[FCB * FROWS * OWP];
#endif
    const int lid = get_local_id(0), t = get_group_id(0), o0 = get_group_id(1) * FCB, n = get_group_id(2);
    const int oh0 = t * FROWS;
    stage_rows(x + (size_t)n * CIN * IN_H * IN_W, oh0 * SH - PAD_T, XROWS(FROWS), xs, lid, FB_ITEMS);
#if FC_DYL
    // ds[k][r][ow] = dy[n][o0 + k][oh0 + r][ow], 0 past COUT, OUT_H or OUT_W. dy is as large
    // as all the partial sums' inputs together, so it is copied a vector at a time (per
    // element, with its index arithmetic, the copy took longer than the multiply-adds).
    for (int i = lid; i < FCB * FROWS * NV; i += FB_ITEMS) {
        const int kr = i / NV, ow = (i - kr * NV) * FC_VP, k = kr / FROWS, r = kr - k * FROWS;
        __local float* to = ds + kr * OWP + ow;
        if (o0 + k < COUT && oh0 + r < OUT_H) {
            __global const float* from = dy + (((size_t)n * COUT + o0 + k) * OUT_H + oh0 + r) * OUT_W + ow;
            if (ow + FC_VP <= OUT_W) {
                PSTORE(PLOAD(from), to);
            } else {
                for (int l = 0; l < FC_VP; l++) to[l] = ow + l < OUT_W ? from[l] : 0.0f;
            }
        } else {
            PSTORE((pix_t)(0.0f), to);
        }
    }
#endif
    barrier(CLK_LOCAL_MEM_FENCE);

    const int sb = lid / (CIN * KH), ckh = lid - sb * (CIN * KH);
    const int c = ckh / KH, kh = ckh - c * KH, z = (int)(lid >> 20);
    pix_t acc[FC_FOB][KW];
    _Pragma("unroll")
    for (int j = 0; j < FC_FOB; j++)
        _Pragma("unroll")
        for (int kw = 0; kw < KW; kw++) acc[j][kw] = (pix_t)(0.0f);
    for (int r = z; r < FROWS; r++) {
        __local const float* xr = xs + (c * XROWS(FROWS) + r * SH + kh * DH) * XCOLS;
#if FC_DYL
        __local const float* dr = ds + (sb * FC_FOB * FROWS + r) * OWP;
#else
        // Straight from dy: rows past OUT_H add nothing; channels past COUT read the last
        // one (their sums are not stored).
        if (oh0 + r >= OUT_H) break;
        __global const float* dr = dy + (((size_t)n * COUT + o0 + sb * FC_FOB) * OUT_H + oh0 + r) * OUT_W;
#endif
        for (int v = 0; v < NV; v++) {
            pix_t g[FC_FOB];
#if FC_DYL
            _Pragma("unroll")
            for (int j = 0; j < FC_FOB; j++) g[j] = PLOAD(dr + j * FROWS * OWP + v * FC_VP);
#else
            _Pragma("unroll")
            for (int j = 0; j < FC_FOB; j++) {
                const int clamp = min(o0 + sb * FC_FOB + j, COUT - 1) - (o0 + sb * FC_FOB);
                __global const float* from = dr + (size_t)clamp * OUT_H * OUT_W + v * FC_VP;
                if (OUT_W % FC_VP == 0 || v < NV - 1) {
                    g[j] = PLOAD(from);
                } else {
                    float lanes[FC_VP];
                    for (int l = 0; l < FC_VP; l++) lanes[l] = v * FC_VP + l < OUT_W ? from[l] : 0.0f;
                    g[j] = PLOAD(lanes);
                }
            }
#endif
            _Pragma("unroll")
            for (int kw = 0; kw < KW; kw++) {
                const pix_t xv = PLOAD(xr + ((kw * DW) % SW) * PHASE_W + (kw * DW) / SW + v * FC_VP);
                _Pragma("unroll")
                for (int j = 0; j < FC_FOB; j++) acc[j][kw] += g[j] * xv;
            }
        }
    }

    const size_t tile = (size_t)n * ((OUT_H + FROWS - 1) / FROWS) + t;
    _Pragma("unroll")
    for (int j = 0; j < FC_FOB; j++) {
        const int o = o0 + sb * FC_FOB + j;
        if (o >= COUT) break;
        _Pragma("unroll")
        for (int kw = 0; kw < KW; kw++) {
            float lanes[FC_VP];
            PSTORE(acc[j][kw], lanes);
            float sum = 0.0f;
            for (int l = 0; l < FC_VP; l++) sum += lanes[l];
            partial[(tile * COUT + o) * TAPS + (c * KH + kh) * KW + kw] = sum;
        }
    }
}

// dx[n][c][iy][ix] = Σ_{o, kh, kw} dy[n][o][oy][ox] · w[o][c][kh][kw] over the taps with
// iy = oy·SH − PAD_T + kh·DH and ix = ox·SW − PAD_L + kw·DW.
//
// Work-item l of a group owns dx row iy0 + l / NVX and the DXT = SW·FC_DBV·FC_VP consecutive
// columns from (l mod NVX)·DXT, for all CIN channels: a register tile of CIN × SW × FC_DBV
// pixel vectors, one per column phase px = column mod SW (the columns ix0 + (b·FC_VP + lane)·SW
// + px). Within a phase the taps that reach a column are fixed and the dy columns they read
// are consecutive: tap kw reaches phase px iff SW divides PAD_L + px − kw·DW, and then reads
// ox = ix0 / SW + b·FC_VP + lane + (PAD_L + px − kw·DW) / SW. Both loops are unrolled, so the
// test and the offset are constants and no multiply-add is spent on a skipped tap. Rows take
// the same test at run time, once per (row, kh). The phases are interleaved back into
// consecutive columns only for the stores, which are vectors along the row.
//
// The reduction over the output channels runs in blocks of DOB: the group stages the block's
// weights (DOB·CIN·KH·KW floats, read as broadcasts) and the dy rows its dx rows read (DYROWS
// rows per channel, zero-padded by DYPAD_L / DYPAD_R columns and outside the plane, so the
// inner loop has no bounds checks), then every work-item accumulates from local memory.
// Consecutive work-items stage and store consecutive addresses.
// Range [⌈IN_H / DROWS⌉ · DROWS · NVX, batch], work-groups [DROWS · NVX, 1].
#define DXT (SW * FC_DBV * FC_VP)
#define NVX ((IN_W + DXT - 1) / DXT)
// dy columns left of 0 and right of the last vector that a phase's taps read.
#define DYPAD_L ((KW - 1) * DW > PAD_L ? ((KW - 1) * DW - PAD_L + SW - 1) / SW : 0)
#define DYPAD_R ((PAD_L + SW - 1) / SW)
#define DYCOLS (DYPAD_L + NVX * FC_DBV * FC_VP + DYPAD_R)
#define DYCHUNKS ((DYCOLS + FC_VP - 1) / FC_VP)
// dy rows that DROWS consecutive dx rows read (at most; the first is oy_lo below).
#define DYROWS ((DROWS - 1 + (KH - 1) * DH) / SH + 1)
#define D_ITEMS (DROWS * NVX)
__kernel __attribute__((reqd_work_group_size(D_ITEMS, 1, 1)))
void conv_few_channels_backward_data(__global const float* restrict dy, __global const float* restrict weight,
                                     __global float* restrict dx) {
    __local float ws[DOB * TAPS];
    __local float ds[DOB * DYROWS * DYCOLS];
    const int lid = get_local_id(0), iy0 = get_group_id(0) * DROWS, n = get_group_id(1);
    const int rl = lid / NVX, v = lid - rl * NVX, iy = iy0 + rl, z = (int)(lid >> 20);
    // The first dy row any of the group's dx rows reads: ⌈(iy0 + PAD_T − (KH−1)·DH) / SH⌉.
    const int top = iy0 + PAD_T - (KH - 1) * DH;
    const int oy_lo = top >= 0 ? (top + SH - 1) / SH : -((-top) / SH);
    __global const float* dyn = dy + (size_t)n * COUT * OUT_H * OUT_W;

    pix_t acc[CIN][SW][FC_DBV];
    _Pragma("unroll")
    for (int c = 0; c < CIN; c++)
        _Pragma("unroll")
        for (int px = 0; px < SW; px++)
            _Pragma("unroll")
            for (int b = 0; b < FC_DBV; b++) acc[c][px][b] = (pix_t)(0.0f);

    for (int o0 = 0; o0 < COUT; o0 += DOB) {
        // ws[k][tap] = w[o0 + k][tap]; ds[k][j][sc] = dy[n][o0 + k][oy_lo + j][sc − DYPAD_L];
        // 0 past COUT and outside the plane.
        for (int i = lid; i < DOB * TAPS; i += D_ITEMS) ws[i] = o0 * TAPS + i < COUT * TAPS ? weight[o0 * TAPS + i] : 0.0f;
        for (int i = lid; i < DOB * DYROWS * DYCHUNKS; i += D_ITEMS) {
            const int kj = i / DYCHUNKS, sc = (i - kj * DYCHUNKS) * FC_VP;
            const int k = kj / DYROWS, oy = oy_lo + kj - k * DYROWS, ox = sc - DYPAD_L;
            __local float* to = ds + kj * DYCOLS + sc;
            const bool row = o0 + k < COUT && oy >= 0 && oy < OUT_H;
            __global const float* from = dyn + ((size_t)(o0 + k) * OUT_H + oy) * OUT_W + ox;
            if (row && ox >= 0 && ox + FC_VP <= OUT_W && sc + FC_VP <= DYCOLS) {
                PSTORE(PLOAD(from), to);
            } else {
                for (int l = 0; l < FC_VP && sc + l < DYCOLS; l++) to[l] = row && ox + l >= 0 && ox + l < OUT_W ? from[l] : 0.0f;
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);

        for (int kh = z; kh < KH; kh++) {
            // The dy row this dx row reads at tap kh, if any (rows past IN_H read none).
            const int t = iy + PAD_T - kh * DH, oy = t / SH;
            if (iy >= IN_H || t < 0 || oy * SH != t || oy >= OUT_H) continue;
            __local const float* dr = ds + (oy - oy_lo) * DYCOLS + DYPAD_L + v * FC_DBV * FC_VP;
            __local const float* wr = ws + kh * KW;
            for (int k = 0; k < DOB; k++) {
                _Pragma("unroll")
                for (int px = 0; px < SW; px++) {
                    _Pragma("unroll")
                    for (int kw = 0; kw < KW; kw++) {
                        // Constants once unrolled: whether kw reaches phase px, and where.
                        const int shift = PAD_L + px - kw * DW;
                        if ((shift / SW) * SW != shift) continue;
                        pix_t g[FC_DBV];
                        _Pragma("unroll")
                        for (int b = 0; b < FC_DBV; b++) g[b] = PLOAD(dr + k * DYROWS * DYCOLS + b * FC_VP + shift / SW);
                        _Pragma("unroll")
                        for (int c = 0; c < CIN; c++) {
                            const float wv = wr[(k * CIN + c) * KH * KW + kw];
                            _Pragma("unroll")
                            for (int b = 0; b < FC_DBV; b++) acc[c][px][b] += g[b] * wv;
                        }
                    }
                }
            }
        }
        barrier(CLK_LOCAL_MEM_FENCE);   // before the next block overwrites ws and ds
    }

    if (iy >= IN_H) return;
    const int ix0 = v * DXT;
    _Pragma("unroll")
    for (int c = 0; c < CIN; c++) {
        __global float* row = dx + (((size_t)n * CIN + c) * IN_H + iy) * IN_W + ix0;
#if SW == 1
        _Pragma("unroll")
        for (int b = 0; b < FC_DBV; b++) {
            if (ix0 + (b + 1) * FC_VP <= IN_W) {
                PSTORE(acc[c][0][b], row + b * FC_VP);
            } else {
                float lanes[FC_VP];
                PSTORE(acc[c][0][b], lanes);
                for (int l = 0; l < FC_VP && ix0 + b * FC_VP + l < IN_W; l++) row[b * FC_VP + l] = lanes[l];
            }
        }
#else
        // Interleave the phases: column (b·FC_VP + lane)·SW + px of the tile.
        float out[DXT];
        _Pragma("unroll")
        for (int px = 0; px < SW; px++)
            _Pragma("unroll")
            for (int b = 0; b < FC_DBV; b++) {
                float lanes[FC_VP];
                PSTORE(acc[c][px][b], lanes);
                _Pragma("unroll")
                for (int l = 0; l < FC_VP; l++) out[(b * FC_VP + l) * SW + px] = lanes[l];
            }
        for (int j = 0; j < SW * FC_DBV; j++) {
            if (ix0 + (j + 1) * FC_VP <= IN_W) {
                PSTORE(PLOAD(out + j * FC_VP), row + j * FC_VP);
            } else {
                for (int l = 0; l < FC_VP && ix0 + j * FC_VP + l < IN_W; l++) row[j * FC_VP + l] = out[j * FC_VP + l];
            }
        }
#endif
    }
}

// dw[i] = Σ_{tile < tiles} partial[tile][i], added in tile order. Range [count]: consecutive
// work-items read consecutive addresses of each partial.
__kernel void conv_few_channels_reduce(const int count, const int tiles, __global const float* restrict partial,
                                       __global float* restrict dw) {
    const int i = get_global_id(0);
    if (i >= count) return;
    float sum = 0.0f;
    for (int t = 0; t < tiles; t++) sum += partial[(size_t)t * count + i];
    dw[i] = sum;
}
