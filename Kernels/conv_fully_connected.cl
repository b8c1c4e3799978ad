// conv_fully_connected.cl: a 1×1 convolution on 1×1 images (a fully connected layer: the m×n
// input as NCHW with H = W = 1, the K×C weight as OIHW), its three passes streaming the weight
// once for the whole batch. Launched by Backends/OpenCL/Solvers/FullyConnectedSolver.swift;
// tunables and launch sizes come from its three tables (KernelTunables.fullyConnected*), which
// share FC_VW, the floats per vector.
//
// x is N × C, w is K × C (each row contiguous), y and dy are N × K:
//   forward          y[n][k]  = act(Σ_c x[n][c]·w[k][c] + bias[k])
//   backward data    dx[n][c] = Σ_k dy[n][k]·w[k][c]
//   backward filter  dw[k][c] = Σ_n dy[n][k]·x[n][c]
// At the batch sizes these layers train at (8–64), every pass reads or writes the whole weight
// for a few multiply-adds per element: they are bound by the weight's traffic, and the
// convolution solvers, which treat each image as a GEMM of one pixel, read it once per image
// (VGG-16's 25088→4096 at batch 8: 411 MB eight times). Here each pass walks the weight once,
// consecutive work-items on consecutive addresses of a row, with the batch in registers.
//
// Forward: a work-group takes FCF_KT rows of w × FCF_NB images over one chunk of FCF_CHUNK
// vectors of c; its FCF_WG work-items take every FCF_WG-th vector (coalesced), each keeping
// FCF_KT × FCF_NB vector accumulators, whose lanes are summed at the end, then the work-items'
// sums by a tree in local memory. With more than one chunk the sums are partial
// (part[chunk][n][k]) and fc_reduce adds them in order and applies the epilogue (split-K with
// a deterministic second pass). Launch dimension 0 runs along row tiles, so on a CPU device the
// work-groups that run one after another on a core read the same chunk of x from its caches.
//
// Backward data: a work-item takes FCD_CT vectors of c × FCD_NB images over one chunk of
// FCD_CHUNK rows of w (the reduction); in a work-group of FCD_WG, vector t of work-item l is
// t·FCD_WG + l of the group's run, so consecutive work-items read consecutive addresses of each
// row. More than one chunk: partial sums, added by fc_reduce.
//
// Backward filter: a work-item takes FCW_KT rows × FCW_CT vectors of dw (laid out as backward
// data's) and adds the batch's N products into registers, then stores them: dw is written once,
// in runs along its rows. No workspace.
//
// Tunables (-D; the Swift tables keep them consistent with the launch):
//   FC_VW      floats per vector (4, 8 or 16); a row of another length ends in a partial vector
//   FCF_KT, FCF_NB, FCF_CHUNK, FCF_WG   forward: rows, images, vectors per chunk, work-items
//   FCD_CT, FCD_NB, FCD_CHUNK, FCD_WG   backward data: vectors, images, rows per chunk, work-items
//   FCW_KT, FCW_CT, FCW_WG              backward filter: rows, vectors, work-items

#ifndef FC_VW
#define FC_VW 16
#endif
#ifndef FCF_KT
#define FCF_KT 3
#endif
#ifndef FCF_NB
#define FCF_NB 8
#endif
#ifndef FCF_CHUNK
#define FCF_CHUNK 4096
#endif
#ifndef FCF_WG
#define FCF_WG 1
#endif
#ifndef FCD_CT
#define FCD_CT 3
#endif
#ifndef FCD_NB
#define FCD_NB 8
#endif
#ifndef FCD_CHUNK
#define FCD_CHUNK 16384
#endif
#ifndef FCD_WG
#define FCD_WG 1
#endif
#ifndef FCW_KT
#define FCW_KT 8
#endif
#ifndef FCW_CT
#define FCW_CT 2
#endif
#ifndef FCW_WG
#define FCW_WG 1
#endif
#if FC_VW != 4 && FC_VW != 8 && FC_VW != 16
#error "FC_VW must be 4, 8 or 16"
#endif
#if (FCF_WG & (FCF_WG - 1)) != 0
#error "FCF_WG must be a power of two (the group's sums are added by halving)"
#endif

#define VEC FC_VW
#include "activation_function.cl"
#include "vector_io.cl"

typedef floatV floatV_unaligned __attribute__((aligned(4)));
// The FC_VW floats of a row at c: a whole vector, one unaligned load; or any, the lanes past
// the row's C as 0 (its partial last vector). The hot loops take the first, with no test per load.
#define FC_WHOLE_AT(row, c) (*(__global const floatV_unaligned*)((row) + (c)))
#define FC_ANY_AT(row, c) load_v(row, c, C)

inline void fc_store(const floatV v, __global float* row, const int c, const int n) {
    if (c + FC_VW <= n) *(__global floatV_unaligned*)(row + c) = v;
    else store_v(v, row, c, n);
}

// out[n][k] (or part[chunk][n][k]) for one FCF_KT × FCF_NB tile over one chunk of c.
// Dimension 0: row tiles × FCF_WG; 1: chunks; 2: image tiles.
__kernel __attribute__((reqd_work_group_size(FCF_WG, 1, 1)))
void fc_forward(const int C, const int K, const int N, const int chunks, __global const float* x,
                __global const float* w, __global float* out, const int has_bias, __global const float* bias,
                const int act, const float alpha) {
    const int lid = get_local_id(0);
    const int k0 = get_group_id(0) * FCF_KT, chunk = get_group_id(1), n0 = get_group_id(2) * FCF_NB;
    const int c0 = chunk * (FCF_CHUNK * FC_VW), c1 = min(C, c0 + FCF_CHUNK * FC_VW);
    // Rows and images past the layer's read the last one (their sums are never stored).
    __global const float* wr[FCF_KT];
    __global const float* xr[FCF_NB];
    #pragma unroll
    for (int i = 0; i < FCF_KT; i++) wr[i] = w + (size_t)min(k0 + i, K - 1) * C;
    #pragma unroll
    for (int j = 0; j < FCF_NB; j++) xr[j] = x + (size_t)min(n0 + j, N - 1) * C;

    floatV acc[FCF_KT][FCF_NB];
    #pragma unroll
    for (int i = 0; i < FCF_KT; i++) {
        #pragma unroll
        for (int j = 0; j < FCF_NB; j++) acc[i][j] = 0.0f;
    }
    // Whole vectors in the loop; a partial last vector of the row after it.
#define FCF_STEP(LOAD)                                                                \
    {                                                                                 \
        floatV wv[FCF_KT];                                                            \
        _Pragma("unroll") for (int i = 0; i < FCF_KT; i++) wv[i] = LOAD(wr[i], c);       \
        _Pragma("unroll") for (int j = 0; j < FCF_NB; j++) {                          \
            const floatV xv = LOAD(xr[j], c);                                            \
            _Pragma("unroll") for (int i = 0; i < FCF_KT; i++) acc[i][j] = fma(wv[i], xv, acc[i][j]); \
        }                                                                             \
    }
    const int whole = min(c1, C / FC_VW * FC_VW);
    int c = c0 + lid * FC_VW;
    for (; c < whole; c += FCF_WG * FC_VW) FCF_STEP(FC_WHOLE_AT)
    if (c < c1) FCF_STEP(FC_ANY_AT)
    // With one chunk the sums are final: the epilogue here, straight into y.
    const bool final = chunks == 1;
    __global float* o = out + (size_t)chunk * N * K;
#if FCF_WG == 1
    #pragma unroll
    for (int i = 0; i < FCF_KT; i++) {
        const int k = k0 + i;
        #pragma unroll
        for (int j = 0; j < FCF_NB; j++) {
            const int n = n0 + j;
            if (k < K && n < N) {
                const float s = sum_lanes(acc[i][j]);
                o[n * K + k] = final ? activate(act, alpha, s + (has_bias ? bias[k] : 0.0f)) : s;
            }
        }
    }
#else
    __local float sums[FCF_KT * FCF_NB][FCF_WG];
    #pragma unroll
    for (int i = 0; i < FCF_KT; i++) {
        #pragma unroll
        for (int j = 0; j < FCF_NB; j++) sums[i * FCF_NB + j][lid] = sum_lanes(acc[i][j]);
    }
    group_row_sums(&sums[0][0], FCF_KT * FCF_NB, FCF_WG, lid);
    // The tile's sums, one per work-item in turn (as loops, not a division: LLVM rewrites a
    // division beside its remainder with a `freeze`, which oclgrind's --uninitialized rejects).
    #pragma unroll
    for (int i = 0; i < FCF_KT; i++) {
        #pragma unroll
        for (int j = 0; j < FCF_NB; j++) {
            const int k = k0 + i, n = n0 + j;
            if (((i * FCF_NB + j) & (FCF_WG - 1)) == lid && k < K && n < N) {
                const float s = sums[i * FCF_NB + j][0];
                o[n * K + k] = final ? activate(act, alpha, s + (has_bias ? bias[k] : 0.0f)) : s;
            }
        }
    }
#endif
}

// dx[n][c] (or part[chunk][n][c]) for FCD_CT vectors × FCD_NB images over one chunk of rows.
// Dimension 0: vector runs of FCD_WG·FCD_CT vectors, FCD_WG work-items each; 1: chunks of rows;
// 2: image tiles.
__kernel __attribute__((reqd_work_group_size(FCD_WG, 1, 1)))
void fc_backward_data(const int C, const int K, const int N, __global const float* dy, __global const float* w,
                      __global float* out) {
    const int lid = get_local_id(0);
    const int v0 = get_group_id(0) * (FCD_WG * FCD_CT) + lid;
    const int chunk = get_group_id(1), n0 = get_group_id(2) * FCD_NB;
    const int k0 = chunk * FCD_CHUNK, k1 = min(K, k0 + FCD_CHUNK);
    if (v0 * FC_VW >= C) return;
    __global const float* dyr[FCD_NB];
    #pragma unroll
    for (int j = 0; j < FCD_NB; j++) dyr[j] = dy + (size_t)min(n0 + j, N - 1) * K;

    floatV acc[FCD_CT][FCD_NB];
    #pragma unroll
    for (int t = 0; t < FCD_CT; t++) {
        #pragma unroll
        for (int j = 0; j < FCD_NB; j++) acc[t][j] = 0.0f;
    }
    // Where the run's vectors lie in a row: a vector past the row (the group's last run) reads
    // the row's last one, never stored. Runs of whole vectors (all but at most one) load with no
    // test per load.
    int cs[FCD_CT];
    #pragma unroll
    for (int t = 0; t < FCD_CT; t++) cs[t] = min((v0 + t * FCD_WG) * FC_VW, (C - 1) / FC_VW * FC_VW);
#define FCD_LOOP(LOAD)                                                                \
    for (int k = k0; k < k1; k++) {                                                   \
        __global const float* row = w + (size_t)k * C;                                \
        floatV wv[FCD_CT];                                                            \
        _Pragma("unroll") for (int t = 0; t < FCD_CT; t++) wv[t] = LOAD(row, cs[t]);  \
        _Pragma("unroll") for (int j = 0; j < FCD_NB; j++) {                          \
            const floatV d = dyr[j][k];                                               \
            _Pragma("unroll") for (int t = 0; t < FCD_CT; t++) acc[t][j] = fma(d, wv[t], acc[t][j]); \
        }                                                                             \
    }
    if (cs[FCD_CT - 1] + FC_VW <= C) FCD_LOOP(FC_WHOLE_AT)
    else FCD_LOOP(FC_ANY_AT)
    __global float* o = out + (size_t)chunk * N * C;
    #pragma unroll
    for (int j = 0; j < FCD_NB; j++) {
        const int n = n0 + j;
        if (n < N) {
            #pragma unroll
            for (int t = 0; t < FCD_CT; t++) {
                const int c = (v0 + t * FCD_WG) * FC_VW;
                if (c < C) fc_store(acc[t][j], o + (size_t)n * C, c, C);
            }
        }
    }
}

// dw[k][c] for FCW_KT rows × FCW_CT vectors, the whole batch added in registers.
// Dimension 0: vector runs of FCW_WG·FCW_CT vectors, FCW_WG work-items each; 1: row tiles.
__kernel __attribute__((reqd_work_group_size(FCW_WG, 1, 1)))
void fc_backward_filter(const int C, const int K, const int N, __global const float* x, __global const float* dy,
                        __global float* dw) {
    const int v0 = get_group_id(0) * (FCW_WG * FCW_CT) + get_local_id(0);
    const int k0 = get_group_id(1) * FCW_KT;
    if (v0 * FC_VW >= C) return;
    floatV acc[FCW_KT][FCW_CT];
    #pragma unroll
    for (int i = 0; i < FCW_KT; i++) {
        #pragma unroll
        for (int t = 0; t < FCW_CT; t++) acc[i][t] = 0.0f;
    }
    int cs[FCW_CT];
    #pragma unroll
    for (int t = 0; t < FCW_CT; t++) cs[t] = min((v0 + t * FCW_WG) * FC_VW, (C - 1) / FC_VW * FC_VW);
#define FCW_LOOP(LOAD)                                                                \
    for (int n = 0; n < N; n++) {                                                     \
        __global const float* xr = x + (size_t)n * C;                                 \
        __global const float* dyr = dy + (size_t)n * K;                               \
        floatV xv[FCW_CT];                                                            \
        _Pragma("unroll") for (int t = 0; t < FCW_CT; t++) xv[t] = LOAD(xr, cs[t]);   \
        _Pragma("unroll") for (int i = 0; i < FCW_KT; i++) {                          \
            const floatV d = dyr[min(k0 + i, K - 1)];                                 \
            _Pragma("unroll") for (int t = 0; t < FCW_CT; t++) acc[i][t] = fma(d, xv[t], acc[i][t]); \
        }                                                                             \
    }
    if (cs[FCW_CT - 1] + FC_VW <= C) FCW_LOOP(FC_WHOLE_AT)
    else FCW_LOOP(FC_ANY_AT)
    #pragma unroll
    for (int i = 0; i < FCW_KT; i++) {
        const int k = k0 + i;
        if (k < K) {
            #pragma unroll
            for (int t = 0; t < FCW_CT; t++) {
                const int c = (v0 + t * FCW_WG) * FC_VW;
                if (c < C) fc_store(acc[i][t], dw + (size_t)k * C, c, C);
            }
        }
    }
}

// y[e] = act(Σ_chunk part[chunk][e] + bias[e % cols]) for e < count, the chunks in order:
// consecutive work-items take consecutive elements (coalesced). The forward's epilogue, and
// with no bias and no activation the plain sum of backward data's chunks.
__kernel void fc_reduce(const int count, const int cols, const int chunks, __global const float* part,
                        __global float* y, const int has_bias, __global const float* bias, const int act,
                        const float alpha) {
    const int e = get_global_id(0);
    if (e >= count) return;
    float s = 0.0f;
    for (int q = 0; q < chunks; q++) s += part[(size_t)q * count + e];
    y[e] = activate(act, alpha, s + (has_bias ? bias[e % cols] : 0.0f));
}
