// batchnorm.cl: batch normalization, training and inference forward, and backward.
//
// Layout: a tensor seen as [outer, channels, inner] (NCHW: outer = N, inner = H·W; dense
// layers: inner = 1); statistics are per channel c over its M = outer·inner elements. A "row"
// is the inner-long run of one (n, c), row index r = n·channels + c.
//
// Every kernel but the two combines runs on a 2-D range of work-groups (tile, row): the group
// walks one tile of consecutive floats of its row in streaming order (vector_io.cl), so its
// channel is one per group and its accesses are contiguous.
//
// Training forward, one of two forms (BN_FUSED_FORWARD):
//   1 (CPU devices): batchnorm_forward_channel, one work-group per channel, computes the
//     channel's statistics and then normalizes it in the same launch. A channel of ResNet-50 at
//     batch 8 is at most 8·112² floats (400 KB), so its slice is still in the core's L2 cache
//     when the group normalizes it: x is read from memory once, where the split form below
//     reads it twice (statistics, then normalize), and one launch replaces three.
//   0 (GPUs): the split form, batchnorm_partial_statistics + batchnorm_combine_statistics +
//     batchnorm_normalize: tiles of rows as work-groups, so that a GPU has thousands of
//     groups even with few channels (one group per channel would leave most of its compute
//     units idle), at the cost of the second read of x.
//
// Statistics are split reductions with a deterministic second pass:
//   batchnorm_partial_statistics  per work-item, no barrier: the mean and M2 = Σ(x − mean)² of
//                                 its chunk of BN_REDUCE_ITEMS vectors (two passes over the
//                                 chunk in registers rather than E[x²] − E[x]², which cancels).
//   batchnorm_combine_statistics  per channel (one group): the partials merged in a fixed
//                                 order by Chan et al.'s pairwise formula (strided share per
//                                 work-item, then a tree), so results do not depend on timing;
//                                 saves mean and 1/sqrt(var + eps), updates the running
//                                 statistics with the unbiased variance (PyTorch). The host
//                                 guarantees M > 1.
//   batchnorm_backward_partial / _combine: the same shape for dBeta = Σ dy and
//                                 dGamma = invStd·Σ dy·(x − mean).
//
// Batch norm + ReLU: with `relu` 1 the forward kernels store max(0, y) (NaN stays NaN), and
// the backward kernels read dy masked by y > 0, leaving dy itself unmodified. The backward's
// `relu` says where the mask comes from: 0 none (y and beta unread); 1 y > 0, y being the fused
// forward's output; 2 the forward's pre-activation recomputed from x, bn_affine(x) > 0 with the
// saved statistics, gamma and beta, which is y > 0 to the bit (bn_affine is one fma, the same
// in both directions) and spares reading y: 5 floats per element move instead of 7.
//
// Tunables (batchNorm family of MemoryBoundTunables.swift, set by -D): BN_VEC floats per
// vector; BN_WG work-items per group and BN_ITEMS vectors per work-item of the element-wise
// kernels (normalize, inference, backward data); BN_REDUCE_WG (a power of two: the merges'
// trees halve it) and BN_REDUCE_ITEMS, the work-group size and vectors per work-item of the
// first passes of the reductions, whose work-items each write one partial: more vectors per
// work-item write fewer partials for the merge to read; BN_REDUCE_WG is also the group of
// batchnorm_forward_channel. BN_FUSED_FORWARD picks the training forward's form (above); the
// host reads it, the source only documents it. BN_STREAM_STORES 1 (CPU devices, where the
// compiler is clang: PoCL) makes batchnorm_forward_channel write y with non-temporal stores
// where a piece's vectors are aligned: y goes to memory without its lines being read into the
// cache first, and without evicting the channel's x before the group reads it again (on PoCL
// 0.55–0.75× the CPU time of plain stores). 0 elsewhere: a GPU's caches differ, and the
// builtin is clang's.

#ifndef BN_WG
#define BN_WG 256
#endif
#ifndef BN_VEC
#define BN_VEC 4
#endif
#ifndef BN_ITEMS
#define BN_ITEMS 1
#endif
#ifndef BN_REDUCE_WG
#define BN_REDUCE_WG 64
#endif
#ifndef BN_REDUCE_ITEMS
#define BN_REDUCE_ITEMS 4
#endif
#ifndef BN_REDUCE_CONTIGUOUS
#define BN_REDUCE_CONTIGUOUS 0
#endif
#ifndef BN_FUSED_FORWARD
#define BN_FUSED_FORWARD 0
#endif
#ifndef BN_STREAM_STORES
#define BN_STREAM_STORES 0
#endif
// The streaming stores are clang's builtin: a compiler without it (or without __has_builtin)
// keeps the plain stores, so a set that asks for them still builds everywhere.
#define BN_NONTEMPORAL 0
#if BN_STREAM_STORES && defined(__has_builtin)
#if __has_builtin(__builtin_nontemporal_store)
#undef BN_NONTEMPORAL
#define BN_NONTEMPORAL 1
#endif
#endif
#if (BN_REDUCE_WG & (BN_REDUCE_WG - 1)) != 0
#error "BN_REDUCE_WG must be a power of two"
#endif
#define VEC BN_VEC
// FOR_EACH_VECTOR's tile: the element-wise kernels'.
#define TILE_WG BN_WG
#define TILE_ITEMS BN_ITEMS

#include "vector_io.cl"

// The sum of `value` over the work-group, returned to every work-item. Called in uniform
// control flow; `scratch` is free again when it returns.
inline float group_sum(float value, __local float* scratch) {
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = BN_REDUCE_WG / 2; width > 0; width >>= 1) {
        if (lid < width) scratch[lid] += scratch[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

#if VEC == 1
#define LANE_IDS 0
#elif VEC == 2
#define LANE_IDS ((int2)(0, 1))
#elif VEC == 4
#define LANE_IDS ((int4)(0, 1, 2, 3))
#else
#define LANE_IDS ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#endif

// Chan et al.: moments (count, mean, M2) of the union of two disjoint sets, from theirs.
inline float3 merge_moments(const float3 a, const float3 b) {
    if (b.x == 0.0f) return a;
    const float total = a.x + b.x, delta = b.y - a.y;
    return (float3)(total, a.y + delta * (b.x / total), a.z + b.z + delta * delta * (a.x * b.x / total));
}

// The moments of the work-group's work-items merged by a tree in local memory (a fixed order:
// deterministic), returned to every work-item. Called in uniform control flow. Inlined by
// force: PoCL left a called helper as a call inside the work-item loop once (the Winograd
// input patch) and that loop stopped vectorizing.
__attribute__((always_inline)) inline float3 group_moments(const float3 moments, __local float* counts,
                                                           __local float* means, __local float* m2s) {
    const int l = get_local_id(0);
    counts[l] = moments.x; means[l] = moments.y; m2s[l] = moments.z;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = BN_REDUCE_WG / 2; width > 0; width >>= 1) {
        if (l < width) {
            const float3 merged = merge_moments((float3)(counts[l], means[l], m2s[l]),
                                                (float3)(counts[l + width], means[l + width], m2s[l + width]));
            counts[l] = merged.x; means[l] = merged.y; m2s[l] = merged.z;
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return (float3)(counts[0], means[0], m2s[0]);
}

// Saves channel c's mean and 1/sqrt(var + eps) and moves its running statistics towards the
// batch's (the unbiased variance), from the moments (count, mean, M2).
inline void save_statistics(const int c, const float3 moments, const float momentum, const float epsilon,
                            __global float* savedMean, __global float* savedInvStd, __global float* runningMean,
                            __global float* runningVar) {
    const float m = moments.x, mu = moments.y, m2 = moments.z;
    savedMean[c] = mu;
    savedInvStd[c] = 1.0f / sqrt(m2 / m + epsilon);
    runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * mu;
    runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * (m2 / (m - 1.0f));
}

// The first passes of the statistics are per work-item, with no barrier and no local memory:
// PoCL vectorizes such a kernel across work-items, while the trees of a group reduction split
// it into barrier regions that it ran scalar (0.07–0.13 of copy bandwidth). Work-item l of
// tile t owns the chunk of vectors FOR_EACH_VECTOR gives it, k = 0 … BN_REDUCE_ITEMS − 1:
// consecutive work-items read consecutive vectors at every step. Its partial goes to slot
// (row·tiles + t)·BN_REDUCE_WG + l, and the per-channel merges read the slots in a fixed order.

// The index of the first float of vector k of work-item l's chunk of tile t. Both orders
// split the tile into the same WG·ITEMS vectors; BN_REDUCE_CONTIGUOUS picks who owns which.
// 0 (GPUs): vector k·WG + l, so at every step k consecutive work-items read consecutive
// vectors (coalesced). 1 (CPU devices such as PoCL, which run a group's work-items one after
// another on one core): vectors l·ITEMS + k, a contiguous run per work-item; the strided order
// read at 0.1–0.2 of copy bandwidth there, the contiguous one at 0.8–0.9.
inline size_t chunk_element(const int t, const int l, const int k) {
#if BN_REDUCE_CONTIGUOUS
    return (((size_t)t * BN_REDUCE_WG + l) * BN_REDUCE_ITEMS + k) * VEC;
#else
    return (((size_t)t * BN_REDUCE_ITEMS + k) * BN_REDUCE_WG + l) * VEC;
#endif
}

// How many floats of vector k of that chunk lie inside a row of `inner` (0 … VEC).
inline int chunk_left(const int t, const int l, const int k, const int inner) {
    const size_t e = chunk_element(t, l, k);
    return e < (size_t)inner ? (int)min((size_t)VEC, (size_t)inner - e) : 0;
}

// The number of floats of work-item l's chunk of tile t inside the row: recomputed by the merge
// rather than stored.
inline int chunk_count(const int t, const int l, const int inner) {
    int count = 0;
    for (int k = 0; k < BN_REDUCE_ITEMS; ++k) count += chunk_left(t, l, k, inner);
    return count;
}

// Whether the whole chunk of work-item l of tile t lies inside a row of `inner`: true for all
// but the last tile's, which then read without a tail check per vector.
inline bool chunk_is_full(const int t, const int l, const int inner) {
    return chunk_element(t, l, BN_REDUCE_ITEMS - 1) + VEC <= (size_t)inner;
}

// Per work-item: the mean and M2 = Σ(x − chunk mean)² of its chunk of row `row`, in two passes
// rather than E[x²] − E[x]², which cancels around a large mean. The second pass reloads the
// chunk (in cache by then) instead of keeping it in a private array: PoCL keeps such an array
// for every work-item of the group on the stack. A chunk past the row's end writes (0, 0).
__kernel __attribute__((reqd_work_group_size(BN_REDUCE_WG, 1, 1)))
void batchnorm_partial_statistics(const int inner, __global const float* x,
                                  __global float* partialMean, __global float* partialM2) {
    const int t = get_group_id(0), row = get_group_id(1), tiles = get_num_groups(0), l = get_local_id(0);
    __global const float* r = x + (size_t)row * inner;
    const size_t slot = ((size_t)row * tiles + t) * BN_REDUCE_WG + l;
    if (chunk_is_full(t, l, inner)) {
        floatV sum = 0.0f, squares = 0.0f;
        for (int k = 0; k < BN_REDUCE_ITEMS; ++k) sum += VLOAD(r + chunk_element(t, l, k));
        const float mean = sum_lanes(sum) / (float)(BN_REDUCE_ITEMS * VEC);
        for (int k = 0; k < BN_REDUCE_ITEMS; ++k) {
            const floatV d = VLOAD(r + chunk_element(t, l, k)) - mean;
            squares += d * d;
        }
        partialMean[slot] = mean;
        partialM2[slot] = sum_lanes(squares);
        return;
    }
    // The last tile of a row: vectors past its end are skipped, a partial one reads 0 in its
    // padded lanes, which add nothing to the sum and are masked out of the squares.
    floatV sum = 0.0f, squares = 0.0f;
    int count = 0;
    for (int k = 0; k < BN_REDUCE_ITEMS; ++k) {
        const int left = chunk_left(t, l, k, inner);
        if (left > 0) sum += load_v(r, chunk_element(t, l, k), inner);
        count += left;
    }
    const float mean = count > 0 ? sum_lanes(sum) / (float)count : 0.0f;
    for (int k = 0; k < BN_REDUCE_ITEMS; ++k) {
        const int left = chunk_left(t, l, k, inner);
        if (left > 0) {
            const floatV d = select((floatV)(0.0f), load_v(r, chunk_element(t, l, k), inner) - mean, LANE_IDS < left);
            squares += d * d;
        }
    }
    partialMean[slot] = mean;
    partialM2[slot] = sum_lanes(squares);
}

// Per channel (one group of BN_REDUCE_WG): merges the outer·tiles·BN_REDUCE_WG partials of
// channel c (strided share per work-item, then a tree, both in a fixed order).
__kernel __attribute__((reqd_work_group_size(BN_REDUCE_WG, 1, 1)))
void batchnorm_combine_statistics(const int outer, const int channels, const int inner, const int tiles,
                                  const float momentum, const float epsilon,
                                  __global const float* partialMean, __global const float* partialM2,
                                  __global float* savedMean, __global float* savedInvStd,
                                  __global float* runningMean, __global float* runningVar) {
    __local float counts[BN_REDUCE_WG], means[BN_REDUCE_WG], m2s[BN_REDUCE_WG];
    const int c = get_group_id(0), lid = get_local_id(0), slots = tiles * BN_REDUCE_WG, parts = outer * slots;
    float3 moments = (float3)(0.0f);
    for (int i = lid; i < parts; i += BN_REDUCE_WG) {
        const int n = i / slots, s = i - n * slots, t = s / BN_REDUCE_WG;
        const size_t p = (size_t)(n * channels + c) * slots + s;
        const int count = chunk_count(t, s - t * BN_REDUCE_WG, inner);
        moments = merge_moments(moments, (float3)((float)count, partialMean[p], partialM2[p]));
    }
    moments = group_moments(moments, counts, means, m2s);
    if (lid == 0) save_statistics(c, moments, momentum, epsilon, savedMean, savedInvStd, runningMean, runningVar);
}

// The fused ReLU of batch norm + ReLU.
inline floatV bn_relu(const int relu, const floatV v) { return relu ? select(v, (floatV)(0.0f), v < 0.0f) : v; }

// (x − mean)·scale + shift as one fma: an explicit fma rounds once wherever it is compiled,
// whereas a * b + c may or may not be contracted, differently in two kernels; the backward's
// recomputed ReLU mask (relu 2) relies on getting the forward's bits.
inline floatV bn_affine(const floatV x, const float mu, const float scale, const float shift) {
    return fma(x - mu, (floatV)(scale), (floatV)(shift));
}

// The gradient g of the vector at e, masked for the fused ReLU (relu: the header's backward
// modes): by the forward output y > 0 (1), or by the recomputed pre-activation of xv, the same
// vector of x (2). Padded lanes of a tail vector stay as given.
inline floatV bn_masked(const int relu, const floatV g, const floatV xv, __global const float* y, const size_t e,
                        const size_t n, const float mu, const float scale, const float shift) {
    if (relu == 1) return select((floatV)(0.0f), g, load_v(y, e, n) > 0.0f);
    if (relu == 2) return select((floatV)(0.0f), g, bn_affine(xv, mu, scale, shift) > 0.0f);
    return g;
}

// Per work-item: Σ dy and Σ dy·(x − mean[c]) over its chunk of row `row` (as
// batchnorm_partial_statistics: no barrier, one slot per work-item), dy masked as `relu` says.
__kernel __attribute__((reqd_work_group_size(BN_REDUCE_WG, 1, 1)))
void batchnorm_backward_partial(const int channels, const int inner,
                                __global const float* x, __global const float* dy,
                                __global const float* savedMean, __global const float* savedInvStd,
                                __global const float* gamma, __global const float* beta,
                                const int relu, __global const float* y,
                                __global float* partialDy, __global float* partialDyCentered) {
    const int t = get_group_id(0), row = get_group_id(1), tiles = get_num_groups(0), l = get_local_id(0);
    const int c = row % channels;
    // The forward's scale and shift, multiplied in the same order (batchnorm_normalize).
    const float mu = savedMean[c], scale = savedInvStd[c] * gamma[c], shift = relu == 2 ? beta[c] : 0.0f;
    const size_t base = (size_t)row * inner;
    __global const float* xr = x + base;
    __global const float* dyr = dy + base;
    __global const float* yr = y + base;
    floatV sumDy = 0.0f, sumDyCentered = 0.0f;
    if (chunk_is_full(t, l, inner)) {
        for (int k = 0; k < BN_REDUCE_ITEMS; ++k) {
            const size_t e = chunk_element(t, l, k);
            const floatV xv = VLOAD(xr + e);
            const floatV g = bn_masked(relu, VLOAD(dyr + e), xv, yr, e, inner, mu, scale, shift);
            sumDy += g;
            sumDyCentered += g * (xv - mu);
        }
    } else {
        // Padded lanes of dy read 0, so they add nothing to either sum.
        for (int k = 0; k < BN_REDUCE_ITEMS; ++k) {
            const size_t e = chunk_element(t, l, k);
            if (e < (size_t)inner) {
                const floatV xv = load_v(xr, e, inner);
                const floatV g = bn_masked(relu, load_v(dyr, e, inner), xv, yr, e, inner, mu, scale, shift);
                sumDy += g;
                sumDyCentered += g * (xv - mu);
            }
        }
    }
    const size_t slot = ((size_t)row * tiles + t) * BN_REDUCE_WG + l;
    partialDy[slot] = sum_lanes(sumDy);
    partialDyCentered[slot] = sum_lanes(sumDyCentered);
}

// Per channel (one group): dBeta = Σ partialDy, dGamma = invStd·Σ partialDyCentered over the
// outer·tiles·BN_REDUCE_WG slots of channel c, summed in a fixed order.
__kernel __attribute__((reqd_work_group_size(BN_REDUCE_WG, 1, 1)))
void batchnorm_backward_combine(const int outer, const int channels, const int tiles,
                                __global const float* partialDy, __global const float* partialDyCentered,
                                __global const float* savedInvStd, __global float* dGamma,
                                __global float* dBeta) {
    __local float scratch[BN_REDUCE_WG];
    const int c = get_group_id(0), lid = get_local_id(0), slots = tiles * BN_REDUCE_WG, parts = outer * slots;
    float sumDy = 0.0f, sumDyCentered = 0.0f;
    for (int i = lid; i < parts; i += BN_REDUCE_WG) {
        const int n = i / slots, s = i - n * slots;
        const size_t p = (size_t)(n * channels + c) * slots + s;
        sumDy += partialDy[p];
        sumDyCentered += partialDyCentered[p];
    }
    const float totalDy = group_sum(sumDy, scratch);
    const float totalDyCentered = group_sum(sumDyCentered, scratch);
    if (lid == 0) {
        dBeta[c] = totalDy;
        dGamma[c] = totalDyCentered * savedInvStd[c];
    }
}

// y = (x − mean[c])·scale + beta[c] on a tile of one row, scale = invStd[c]·gamma[c].
__kernel __attribute__((reqd_work_group_size(BN_WG, 1, 1)))
void batchnorm_normalize(const int channels, const int inner,
                         __global const float* x, __global const float* mean,
                         __global const float* invStd, __global const float* gamma,
                         __global const float* beta, __global float* y, const int relu) {
    const int row = get_group_id(1), c = row % channels;
    const float mu = mean[c], scale = invStd[c] * gamma[c], shift = beta[c];
    __global const float* xr = x + (size_t)row * inner;
    __global float* yr = y + (size_t)row * inner;
    FOR_EACH_VECTOR(e, get_group_id(0), inner, {
        store_v(bn_relu(relu, bn_affine(load_v(xr, e, inner), mu, scale, shift)), yr, e, inner);
    })
}

// batchnorm_forward_channel splits its channel, `outer` rows of `vectors` vectors each, into
// pieces: runs of `count` vectors of one row r, vectors first, first + stride, … Work-item l
// owns, in the order BN_REDUCE_CONTIGUOUS picks (as chunk_element does for the split form):
//   1 (CPU devices): a contiguous run of ⌈outer·vectors / BN_REDUCE_WG⌉ vectors of the channel,
//     cut into pieces at the row ends (stride 1): long sequential reads, which the per-row
//     shares of a GPU order made into runs of 800 bytes at 56² (1.3× the time).
//   0 (GPUs): in every row, vectors l, l + BN_REDUCE_WG, …: consecutive work-items read
//     consecutive vectors (coalesced).
// Only the last vector of a row can be partial, and it is always the last of its piece.
#define FOR_EACH_PIECE(outer, vectors, l, ...)                                                  \
    if (BN_REDUCE_CONTIGUOUS) {                                                                \
        const int run_ = ((outer) * (vectors) + BN_REDUCE_WG - 1) / BN_REDUCE_WG;              \
        const int end_ = min((l) * run_ + run_, (outer) * (vectors));                          \
        for (int q_ = (l) * run_; q_ < end_;) {                                                \
            const int row = q_ / (vectors), first = q_ - row * (vectors);                      \
            const int count = min((vectors) - first, end_ - q_), stride = 1;                   \
            __VA_ARGS__                                                                        \
            q_ += count;                                                                       \
        }                                                                                      \
    } else if ((l) < (vectors)) {                                                              \
        for (int row = 0; row < (outer); ++row) {                                              \
            const int first = (l), count = ((vectors) - (l) + BN_REDUCE_WG - 1) / BN_REDUCE_WG; \
            const int stride = BN_REDUCE_WG;                                                   \
            __VA_ARGS__                                                                        \
        }                                                                                      \
    }

// Vectors of a piece wholly inside its row of `inner`: all but a partial last one.
inline int piece_full(const int first, const int count, const int stride, const int inner) {
    return (first + count * stride - stride + 1) * VEC <= inner ? count : count - 1;
}

// (count, mean, M2) of a piece of the row at r, two passes over it (in L1 by the second), as
// batchnorm_partial_statistics does per chunk. Four accumulators: with one, each vector's add
// waits for the previous one's (with the contiguous runs, 0.65–0.8× the CPU time on PoCL).
inline float3 piece_moments(__global const float* r, const int inner, const int first, const int count,
                            const int stride) {
    const int full = piece_full(first, count, stride, inner), last = (first + (count - 1) * stride) * VEC;
    floatV s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int j = 0;
    for (; j + 4 <= full; j += 4) {
        __global const float* p = r + (first + j * stride) * VEC;
        s0 += VLOAD(p); s1 += VLOAD(p + stride * VEC); s2 += VLOAD(p + 2 * stride * VEC); s3 += VLOAD(p + 3 * stride * VEC);
    }
    for (; j < full; ++j) s0 += VLOAD(r + (first + j * stride) * VEC);
    // A partial last vector reads 0 in its padded lanes: nothing added to the sum.
    if (full < count) s1 += load_v(r, last, inner);
    const int n = full * VEC + (full < count ? inner - last : 0);
    const float mean = sum_lanes((s0 + s1) + (s2 + s3)) / (float)n;
    floatV q0 = 0.0f, q1 = 0.0f, q2 = 0.0f, q3 = 0.0f;
    for (j = 0; j + 4 <= full; j += 4) {
        __global const float* p = r + (first + j * stride) * VEC;
        const floatV d0 = VLOAD(p) - mean, d1 = VLOAD(p + stride * VEC) - mean;
        const floatV d2 = VLOAD(p + 2 * stride * VEC) - mean, d3 = VLOAD(p + 3 * stride * VEC) - mean;
        q0 += d0 * d0; q1 += d1 * d1; q2 += d2 * d2; q3 += d3 * d3;
    }
    for (; j < full; ++j) {
        const floatV d = VLOAD(r + (first + j * stride) * VEC) - mean;
        q0 += d * d;
    }
    if (full < count) {
        const floatV d = select((floatV)(0.0f), load_v(r, last, inner) - mean, LANE_IDS < inner - last);
        q1 += d * d;
    }
    return (float3)((float)n, mean, sum_lanes((q0 + q1) + (q2 + q3)));
}

// Training forward of one channel per work-group (BN_FUSED_FORWARD 1): each work-item merges
// the moments of its pieces (Chan, in order), the group merges the work-items' moments by a
// tree in local memory (fixed order: deterministic), then every work-item normalizes the
// pieces it read, which are still in this core's cache. Saves the statistics as
// batchnorm_combine_statistics does (save_statistics). Each work-item writes only what it
// read, after the barrier: x may alias y. The host guarantees outer·inner > 1.
__kernel __attribute__((reqd_work_group_size(BN_REDUCE_WG, 1, 1)))
void batchnorm_forward_channel(const int outer, const int channels, const int inner,
                               const float momentum, const float epsilon, __global const float* x,
                               __global const float* gamma, __global const float* beta, __global float* y,
                               __global float* savedMean, __global float* savedInvStd,
                               __global float* runningMean, __global float* runningVar, const int relu) {
    __local float counts[BN_REDUCE_WG], means[BN_REDUCE_WG], m2s[BN_REDUCE_WG];
    const int c = get_group_id(0), l = get_local_id(0), vectors = (inner + VEC - 1) / VEC;
    float3 moments = (float3)(0.0f);
    FOR_EACH_PIECE(outer, vectors, l, {
        moments = merge_moments(moments, piece_moments(x + ((size_t)row * channels + c) * inner, inner,
                                                       first, count, stride));
    })
    moments = group_moments(moments, counts, means, m2s);
    const float mu = moments.y, invStd = 1.0f / sqrt(moments.z / moments.x + epsilon);
    const float scale = invStd * gamma[c], shift = beta[c];
    FOR_EACH_PIECE(outer, vectors, l, {
        const size_t base = ((size_t)row * channels + c) * inner;
        __global const float* xr = x + base;
        __global float* yr = y + base;
        const int full = piece_full(first, count, stride, inner);
#if BN_NONTEMPORAL
        // A non-temporal vector store needs the vector's own alignment: rows whose length is
        // not a multiple of VEC, or views at odd offsets, take the plain stores below.
        if (stride == 1 && (size_t)(yr + first * VEC) % sizeof(floatV) == 0) {
            for (int j = 0; j < full; ++j) {
                const int e = (first + j) * VEC;
                __builtin_nontemporal_store(bn_relu(relu, bn_affine(VLOAD(xr + e), mu, scale, shift)),
                                            (__global floatV*)(yr + e));
            }
        } else
#endif
        for (int j = 0; j < full; ++j) {
            const int e = (first + j * stride) * VEC;
            VSTORE(bn_relu(relu, bn_affine(VLOAD(xr + e), mu, scale, shift)), yr + e);
        }
        if (full < count) {
            const int e = (first + full * stride) * VEC;
            store_v(bn_relu(relu, bn_affine(load_v(xr, e, inner), mu, scale, shift)), yr, e, inner);
        }
    })
    if (l == 0) save_statistics(c, moments, momentum, epsilon, savedMean, savedInvStd, runningMean, runningVar);
}

// y = (x − runningMean[c]) / sqrt(runningVar[c] + epsilon)·gamma[c] + beta[c].
__kernel __attribute__((reqd_work_group_size(BN_WG, 1, 1)))
void batchnorm_inference(const int channels, const int inner, const float epsilon, __global const float* x,
                         __global const float* runningMean, __global const float* runningVar,
                         __global const float* gamma, __global const float* beta,
                         __global float* y, const int relu) {
    const int row = get_group_id(1), c = row % channels;
    const float mu = runningMean[c], scale = 1.0f / sqrt(runningVar[c] + epsilon) * gamma[c], shift = beta[c];
    __global const float* xr = x + (size_t)row * inner;
    __global float* yr = y + (size_t)row * inner;
    FOR_EACH_VECTOR(e, get_group_id(0), inner, {
        store_v(bn_relu(relu, bn_affine(load_v(xr, e, inner), mu, scale, shift)), yr, e, inner);
    })
}

// dx = gamma·invStd/M · (M·dy − dBeta − xhat·dGamma): the gradient through the batch
// statistics, with dGamma and dBeta from batchnorm_backward_combine; dy masked as `relu` says.
__kernel __attribute__((reqd_work_group_size(BN_WG, 1, 1)))
void batchnorm_backward_data(const int channels, const int inner, const int m,
                             __global const float* x, __global const float* dy,
                             __global const float* savedMean, __global const float* savedInvStd,
                             __global const float* gamma, __global const float* beta,
                             __global const float* dGamma, __global const float* dBeta, __global float* dx,
                             const int relu, __global const float* y) {
    const int row = get_group_id(1), c = row % channels;
    const float invStd = savedInvStd[c], mu = savedMean[c], fm = (float)m;
    const float k = gamma[c] * invStd / fm, db = dBeta[c], dg = dGamma[c];
    const float scale = invStd * gamma[c], shift = relu == 2 ? beta[c] : 0.0f;
    const size_t base = (size_t)row * inner;
    __global const float* xr = x + base;
    __global const float* dyr = dy + base;
    __global const float* yr = y + base;
    __global float* dxr = dx + base;
    FOR_EACH_VECTOR(e, get_group_id(0), inner, {
        const floatV xv = load_v(xr, e, inner);
        const floatV g = bn_masked(relu, load_v(dyr, e, inner), xv, yr, e, inner, mu, scale, shift);
        const floatV xhat = (xv - mu) * invStd;
        store_v(k * (fm * g - db - xhat * dg), dxr, e, inner);
    })
}
