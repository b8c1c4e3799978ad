// vector_io.cl: vector loads and stores with a tail, the tile walk of the streaming kernels
// (elementwise.cl, activation.cl, optimizer.cl, batchnorm.cl) and the streaming family's
// tunables, and activate_v, the
// vector form of activation_function.cl's activate where that file is included first. No kernels: the host
// pastes this file in place of `#include "vector_io.cl"`, after the including file has defined
// STREAMING (below), or else VEC (1, 2, 4, 8 or 16 floats per vector), TILE_WG (work-items per
// group) and TILE_ITEMS (vectors per work-item) from its own tunables (batchnorm.cl).
//
// floatV is a vector of VEC floats (plain float when VEC is 1). A work-group covers a tile of
// TILE_WG·VEC·TILE_ITEMS consecutive floats; at step k, work-item l handles the vector
// k·TILE_WG + l of the tile, so at every step consecutive work-items touch consecutive
// addresses (coalesced on a GPU, one contiguous sweep per step on a CPU). vloadN needs only
// float alignment, so views at any offset work; the last vector of an array whose length is
// not a multiple of VEC is read and written element by element.

#ifndef VECTOR_IO_CL
#define VECTOR_IO_CL

// The streaming kernels (elementwise.cl, activation.cl, optimizer.cl) define STREAMING before
// including this file: their tunables (streaming family of MemoryBoundTunables.swift, set by
// -D) are STREAM_WG work-items per group, STREAM_VEC floats per vector and STREAM_ITEMS
// vectors per work-item, and they are the tile shape below. Their defaults live here once.
#ifdef STREAMING
#ifndef STREAM_WG
#define STREAM_WG 64
#endif
#ifndef STREAM_VEC
#define STREAM_VEC 4
#endif
#ifndef STREAM_ITEMS
#define STREAM_ITEMS 4
#endif
#define VEC STREAM_VEC
#define TILE_WG STREAM_WG
#define TILE_ITEMS STREAM_ITEMS
#endif

// Defaults only so that the file also builds alone (the host builds every file of Kernels/).
#ifndef VEC
#define VEC 4
#endif
#ifndef TILE_WG
#define TILE_WG 64
#endif
#ifndef TILE_ITEMS
#define TILE_ITEMS 1
#endif

#if VEC == 1
typedef float floatV;
#define VLOAD(p) (*(p))
#define VSTORE(v, p) (*(p) = (v))
#elif VEC == 2
typedef float2 floatV;
#define VLOAD(p) vload2(0, p)
#define VSTORE(v, p) vstore2(v, 0, p)
#elif VEC == 4
typedef float4 floatV;
#define VLOAD(p) vload4(0, p)
#define VSTORE(v, p) vstore4(v, 0, p)
#elif VEC == 8
typedef float8 floatV;
#define VLOAD(p) vload8(0, p)
#define VSTORE(v, p) vstore8(v, 0, p)
#elif VEC == 16
typedef float16 floatV;
#define VLOAD(p) vload16(0, p)
#define VSTORE(v, p) vstore16(v, 0, p)
#else
#error "VEC must be 1, 2, 4, 8 or 16"
#endif

// Lane k of the vector at p[e …] when it lies before n, else 0 (the tail of an array).
#define TAIL_LANE(p, e, n, k) ((e) + (k) < (n) ? (p)[(e) + (k)] : 0.0f)
// Stores lane `lane` of v at p[e + k] when that lies before n.
#define TAIL_STORE(v, lane, p, e, n, k) if ((e) + (k) < (n)) (p)[(e) + (k)] = (v).lane

// The VEC floats at p[e …], of which those at n and beyond read as 0. Lanes are named, not
// reached through a float pointer into the vector, which oclgrind's checker cannot follow.
inline floatV load_v(__global const float* p, const size_t e, const size_t n) {
    if (e + VEC <= n) return VLOAD(p + e);
#if VEC == 1
    return 0.0f;
#elif VEC == 2
    return (float2)(TAIL_LANE(p, e, n, 0), 0.0f);
#elif VEC == 4
    return (float4)(TAIL_LANE(p, e, n, 0), TAIL_LANE(p, e, n, 1), TAIL_LANE(p, e, n, 2), 0.0f);
#elif VEC == 8
    return (float8)(TAIL_LANE(p, e, n, 0), TAIL_LANE(p, e, n, 1), TAIL_LANE(p, e, n, 2), TAIL_LANE(p, e, n, 3),
                    TAIL_LANE(p, e, n, 4), TAIL_LANE(p, e, n, 5), TAIL_LANE(p, e, n, 6), 0.0f);
#else
    return (float16)(TAIL_LANE(p, e, n, 0), TAIL_LANE(p, e, n, 1), TAIL_LANE(p, e, n, 2), TAIL_LANE(p, e, n, 3),
                     TAIL_LANE(p, e, n, 4), TAIL_LANE(p, e, n, 5), TAIL_LANE(p, e, n, 6), TAIL_LANE(p, e, n, 7),
                     TAIL_LANE(p, e, n, 8), TAIL_LANE(p, e, n, 9), TAIL_LANE(p, e, n, 10), TAIL_LANE(p, e, n, 11),
                     TAIL_LANE(p, e, n, 12), TAIL_LANE(p, e, n, 13), TAIL_LANE(p, e, n, 14), 0.0f);
#endif
}

// Stores v at p[e …], leaving p[n …] untouched.
inline void store_v(const floatV v, __global float* p, const size_t e, const size_t n) {
    if (e + VEC <= n) { VSTORE(v, p + e); return; }
#if VEC == 2
    TAIL_STORE(v, s0, p, e, n, 0);
#elif VEC == 4
    TAIL_STORE(v, s0, p, e, n, 0); TAIL_STORE(v, s1, p, e, n, 1); TAIL_STORE(v, s2, p, e, n, 2);
#elif VEC == 8
    TAIL_STORE(v, s0, p, e, n, 0); TAIL_STORE(v, s1, p, e, n, 1); TAIL_STORE(v, s2, p, e, n, 2);
    TAIL_STORE(v, s3, p, e, n, 3); TAIL_STORE(v, s4, p, e, n, 4); TAIL_STORE(v, s5, p, e, n, 5);
    TAIL_STORE(v, s6, p, e, n, 6);
#elif VEC == 16
    TAIL_STORE(v, s0, p, e, n, 0); TAIL_STORE(v, s1, p, e, n, 1); TAIL_STORE(v, s2, p, e, n, 2);
    TAIL_STORE(v, s3, p, e, n, 3); TAIL_STORE(v, s4, p, e, n, 4); TAIL_STORE(v, s5, p, e, n, 5);
    TAIL_STORE(v, s6, p, e, n, 6); TAIL_STORE(v, s7, p, e, n, 7); TAIL_STORE(v, s8, p, e, n, 8);
    TAIL_STORE(v, s9, p, e, n, 9); TAIL_STORE(v, sa, p, e, n, 10); TAIL_STORE(v, sb, p, e, n, 11);
    TAIL_STORE(v, sc, p, e, n, 12); TAIL_STORE(v, sd, p, e, n, 13); TAIL_STORE(v, se, p, e, n, 14);
#endif
}

// The sum of v's lanes, added pairwise (the same order on every device). The lanes are read
// back from a private copy, not named one by one: oclgrind's --uninitialized checker crashes
// inside the simulator on a wide vector's lanes taken apart (scripts/check-kernels.sh). Written
// out rather than looped: PoCL ran the looped form of the pointwise filter gradient 1.2–2.5×
// slower (Benchmarks/NOTES-opencl-solvers.md, twenty-fourth session).
inline float sum_lanes(const floatV v) {
#if VEC == 1
    return v;
#else
    float l[VEC];
    VSTORE(v, l);
#if VEC == 2
    return l[0] + l[1];
#elif VEC == 4
    return (l[0] + l[1]) + (l[2] + l[3]);
#elif VEC == 8
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
#else
    return (((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])))
        + (((l[8] + l[9]) + (l[10] + l[11])) + ((l[12] + l[13]) + (l[14] + l[15])));
#endif
#endif
}

// The largest of v's lanes by fmax (a NaN lane loses to a number), read back as sum_lanes does.
inline float max_lanes(const floatV v) {
#if VEC == 1
    return v;
#else
    float l[VEC];
    VSTORE(v, l);
#if VEC == 2
    return fmax(l[0], l[1]);
#elif VEC == 4
    return fmax(fmax(l[0], l[1]), fmax(l[2], l[3]));
#elif VEC == 8
    return fmax(fmax(fmax(l[0], l[1]), fmax(l[2], l[3])), fmax(fmax(l[4], l[5]), fmax(l[6], l[7])));
#else
    return fmax(fmax(fmax(fmax(l[0], l[1]), fmax(l[2], l[3])), fmax(fmax(l[4], l[5]), fmax(l[6], l[7]))),
                fmax(fmax(fmax(l[8], l[9]), fmax(l[10], l[11])), fmax(fmax(l[12], l[13]), fmax(l[14], l[15]))));
#endif
#endif
}

// Adds each of `count` rows of `wg` floats in local memory (row t at sums[t·wg …], one float per
// work-item of the group) into its first float, by halving (wg a power of two): a fixed order,
// no atomics. Called by every work-item of the group, in uniform control flow; the sums are
// there for all of them on return.
inline void group_row_sums(__local float* sums, const int count, const int wg, const int lid) {
    for (int step = wg / 2; step > 0; step /= 2) {
        barrier(CLK_LOCAL_MEM_FENCE);
        if (lid < step) {
            for (int t = 0; t < count; t++) sums[t * wg + lid] += sums[t * wg + lid + step];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
}

#ifdef ACT_RELU
// activate (activation_function.cl) on a vector: the same functions, lane by lane.
inline floatV activate_v(const int code, const float alpha, const floatV v) {
    switch (code) {
    case ACT_NONE: return v;
    case ACT_RELU: return select(v, (floatV)(0.0f), v < 0.0f);
    case ACT_LEAKY_RELU: return select(alpha * v, v, v > 0.0f);
    case ACT_ELU: return select(alpha * expm1(v), v, v > 0.0f);
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-v));
    default: return tanh(v);
    }
}
#endif

// Runs the body (the variadic tail, so that its commas need no parentheses) for each vector this work-item owns in tile `tile` of an array of `n` floats,
// with `e` the index of the vector's first float (always < n).
#define FOR_EACH_VECTOR(e, tile, n, ...)                                                    \
    for (int k_ = 0; k_ < TILE_ITEMS; ++k_) {                                                \
        const size_t e = (((size_t)(tile) * TILE_ITEMS + k_) * TILE_WG + get_local_id(0)) * VEC; \
        if (e < (size_t)(n)) { __VA_ARGS__ }                                                        \
    }

#endif
