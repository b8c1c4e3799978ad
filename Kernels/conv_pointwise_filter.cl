// conv_pointwise_filter.cl: the filter gradient of a 1×1 convolution (stride 1, no padding, one
// group) as a GEMM straight on the NCHW tensors, with the pixels as the vector lanes: the
// backward-filter pass of the pointwise solver (conv_pointwise.cl has the other two). Launched
// by Backends/OpenCL/Solvers/PointwiseSolver.swift; tunables and launch sizes come from its
// table (KernelTunables.pointwiseFilter).
//
// dw[k][c] = Σ_n Σ_p dy[n][k][p] · x[n][c][p]: both operands are rows of pixels, contiguous in
// NCHW, so the reduction runs along them. The pixels of every image are cut into chunks of
// PWF_CHUNK vectors of PWF_VW pixels; a work-group takes one tile of PWF_KT output × PWF_CT
// input channels over one chunk and writes the tile's partial sums to part[chunk][k][c];
// conv_pointwise_filter_reduce then adds the chunks' partials in a fixed order (split-K with a
// deterministic second pass, no atomics). With one chunk in all, the first pass writes dw.
//
// Inside a tile, each of the PWF_WG work-items takes every PWF_WG-th vector of the chunk
// (consecutive work-items read consecutive vectors: coalesced on a GPU) and keeps PWF_KT·PWF_CT
// vector accumulators: per vector step PWF_KT + PWF_CT loads feed PWF_KT·PWF_CT multiply-adds.
// The accumulators' lanes are summed at the end, and the work-items' sums in local memory by a
// tree. On a CPU device (PWF_WG 1) a work-group is one work-item; the work-groups of one chunk
// run one after another along launch dimension 0 (c tiles), so the chunk's rows of x and dy
// stay in the core's caches while every tile reads them.
//
// Why (Benchmarks/NOTES-opencl-solvers.md, twenty-first session): the channels-last solver's
// in-place filter gradient ran ResNet-50's 1×1 layers at 56² and 28² at 190–220 GFLOP/s on
// PoCL (Zen 5); its lanes are output channels, so dy's values are gathered a plane apart.
//
// Tunables (-D; the Swift table keeps them consistent with the launch):
//   PWF_VW    pixels per vector (1, 4, 8 or 16); P must be a multiple of it (the host checks)
//   PWF_KT    output channels per tile (1–8)
//   PWF_CT    input channels per tile (1–8): PWF_KT·PWF_CT accumulators
//   PWF_CHUNK vectors per chunk (the host sizes the partial sums by it)
//   PWF_WG    work-items per work-group (a power of two), each taking every PWF_WG-th vector

#ifndef PWF_VW
#define PWF_VW 16
#endif
#ifndef PWF_KT
#define PWF_KT 4
#endif
#ifndef PWF_CT
#define PWF_CT 4
#endif
#ifndef PWF_CHUNK
#define PWF_CHUNK 32
#endif
#ifndef PWF_WG
#define PWF_WG 1
#endif
#if PWF_VW != 1 && PWF_VW != 4 && PWF_VW != 8 && PWF_VW != 16
#error "PWF_VW must be 1, 4, 8 or 16"
#endif
#if (PWF_WG & (PWF_WG - 1)) != 0
#error "PWF_WG must be a power of two (the group's sums are added by halving)"
#endif

#define VEC PWF_VW
#include "vector_io.cl"

typedef floatV floatV_unaligned __attribute__((aligned(4)));
#define PWF_LOAD(p) (*(__global const floatV_unaligned*)(p))

// part[chunk][k][c] = Σ over chunk's pixels of dy[n][k][p]·x[n][c][p] for one PWF_KT × PWF_CT
// tile: dimension 0 counts c tiles × PWF_WG, dimension 1 k tiles, dimension 2 chunks
// (image-major).
__kernel __attribute__((reqd_work_group_size(PWF_WG, 1, 1)))
void conv_pointwise_filter(const int C, const int K, const int pixels, const int chunks_per_image,
                           __global const float* x, __global const float* dy, __global float* part) {
    const int lid = get_local_id(0);
    const int k0 = get_group_id(1) * PWF_KT, c0 = get_group_id(0) * PWF_CT;
    const int chunk = get_global_id(2);
    const int n = chunk / chunks_per_image;
    const int p0 = (chunk - n * chunks_per_image) * (PWF_CHUNK * PWF_VW);
    const int p1 = min(pixels, p0 + PWF_CHUNK * PWF_VW);
    // Rows past the layer's channels read the last row (their sums are never stored).
    __global const float* dyr[PWF_KT];
    __global const float* xr[PWF_CT];
    #pragma unroll
    for (int i = 0; i < PWF_KT; i++) dyr[i] = dy + ((size_t)n * K + min(k0 + i, K - 1)) * pixels;
    #pragma unroll
    for (int j = 0; j < PWF_CT; j++) xr[j] = x + ((size_t)n * C + min(c0 + j, C - 1)) * pixels;

    floatV acc[PWF_KT][PWF_CT];
    #pragma unroll
    for (int i = 0; i < PWF_KT; i++) {
        #pragma unroll
        for (int j = 0; j < PWF_CT; j++) acc[i][j] = 0.0f;
    }
    for (int p = p0 + lid * PWF_VW; p < p1; p += PWF_WG * PWF_VW) {
        floatV d[PWF_KT];
        #pragma unroll
        for (int i = 0; i < PWF_KT; i++) d[i] = PWF_LOAD(dyr[i] + p);
        #pragma unroll
        for (int j = 0; j < PWF_CT; j++) {
            const floatV xv = PWF_LOAD(xr[j] + p);
            #pragma unroll
            for (int i = 0; i < PWF_KT; i++) acc[i][j] = fma(d[i], xv, acc[i][j]);
        }
    }
    __global float* out = part + (size_t)chunk * K * C;
#if PWF_WG == 1
    #pragma unroll
    for (int i = 0; i < PWF_KT; i++) {
        #pragma unroll
        for (int j = 0; j < PWF_CT; j++) {
            if (k0 + i < K && c0 + j < C) out[(k0 + i) * C + c0 + j] = sum_lanes(acc[i][j]);
        }
    }
#else
    __local float sums[PWF_KT * PWF_CT][PWF_WG];
    #pragma unroll
    for (int i = 0; i < PWF_KT; i++) {
        #pragma unroll
        for (int j = 0; j < PWF_CT; j++) sums[i * PWF_CT + j][lid] = sum_lanes(acc[i][j]);
    }
    group_row_sums(&sums[0][0], PWF_KT * PWF_CT, PWF_WG, lid);
    // The tile's sums, one per work-item in turn (as loops, not a division: LLVM rewrites a
    // division beside its remainder with a `freeze`, which oclgrind's --uninitialized rejects).
    #pragma unroll
    for (int i = 0; i < PWF_KT; i++) {
        #pragma unroll
        for (int j = 0; j < PWF_CT; j++) {
            const int t = i * PWF_CT + j;
            if ((t & (PWF_WG - 1)) == lid && k0 + i < K && c0 + j < C) out[(k0 + i) * C + c0 + j] = sums[t][0];
        }
    }
#endif
}

// dw[e] = Σ_chunk part[chunk][e] for e < count, the chunks in order: consecutive work-items take
// consecutive elements (coalesced), each adds its element's chunks.
__kernel void conv_pointwise_filter_reduce(const int count, const int chunks, __global const float* part,
                                           __global float* dw) {
    const int e = get_global_id(0);
    if (e >= count) return;
    float s = 0.0f;
    for (int q = 0; q < chunks; q++) s += part[(size_t)q * count + e];
    dw[e] = s;
}
