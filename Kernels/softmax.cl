// softmax.cl: softmax and log-softmax along one axis, forward and backward.
//
// Layout: a tensor seen as [outer, axis, inner] (AxisShape); element (o, a, i) is at
// (o·axis + a)·inner + i. One work-item per row (o, i) on a 2-D range [inner, outer], each
// walking its `axis` elements with stride `inner`, so neighbouring work-items read
// neighbouring addresses when inner > 1. For that case the host asks for work-groups of up
// to 64 along inner (1.7× faster than PoCL's own choice on [64, 16, 16384]).
// This suits classifier heads and channel softmax on CPU-like devices (PoCL), where rows
// outnumber cores.
//
// The *_workgroup kernels are for long contiguous rows (inner = 1): one work-group of
// SOFTMAX_WG work-items per row, each taking its share of the row's vectors of SOFTMAX_VEC
// floats, with tree reductions in local memory for the max and the sum. Which vectors a
// work-item takes is SOFTMAX_CONTIGUOUS: 0 (GPUs), vectors l, l + SOFTMAX_WG, … (consecutive
// work-items read consecutive vectors: coalesced); 1 (CPU devices), a contiguous run of
// ⌈vectors / SOFTMAX_WG⌉ vectors per work-item. PoCL runs a group's work-items one after
// another on one core, so there the coalesced order made every work-item jump
// SOFTMAX_WG·SOFTMAX_VEC floats between its loads; the runs took 0.75–0.8× the time backward
// (Benchmarks/NOTES-memory-bound.md). On PoCL the row-wise kernel, one work-item per row, ran
// at 0.01 of copy bandwidth at 512×1000 (across work-items its loads are gathers a row
// apart); small groups with float16 vectors run the loads and exponentials 16 wide, one
// AVX-512 register each (PoCL's compiler keeps its own vectors to 256 bits, so float8 ran the
// exponentials 8 wide: 1.2× the forward's time at 512×1000). On a GPU the
// group spreads a row over its threads.
//
// Forward (numerically stable): m = max x; s = Σ e^(x − m);
//   softmax y = e^(x − m) / s;  log-softmax y = x − m − log s.
// Backward, from the forward output y:
//   softmax     dx = y·(dy − Σ dy·y)
//   log-softmax dx = dy − e^y · Σ dy
// Each work-item reads and writes only its own row, or its own vectors of a row, so x may
// alias y and dy may alias dx.
//
// Tunables (softmax family of MemoryBoundTunables.swift, set by -D): SOFTMAX_WG (a power of
// two), the work-group size of the *_workgroup kernels, SOFTMAX_VEC (1, 2, 4, 8 or 16) floats
// per vector load, SOFTMAX_CONTIGUOUS (0 or 1), the order above, and SOFTMAX_POLY_EXP (0 or 1):
// whether the forward's e^(x − m) is exp_nonpositive below (CPU devices) or the built-in exp
// (GPUs, whose exp is a hardware instruction or close to one).

#ifndef SOFTMAX_WG
#define SOFTMAX_WG 128
#endif
#ifndef SOFTMAX_VEC
#define SOFTMAX_VEC 4
#endif
#ifndef SOFTMAX_CONTIGUOUS
#define SOFTMAX_CONTIGUOUS 0
#endif
#ifndef SOFTMAX_POLY_EXP
#define SOFTMAX_POLY_EXP 0
#endif
#if (SOFTMAX_WG & (SOFTMAX_WG - 1)) != 0
#error "SOFTMAX_WG must be a power of two (the reductions' trees halve it)"
#endif
#define VEC SOFTMAX_VEC

#include "vector_io.cl"

#if VEC == 1
#define ROW_LANES 0
#define AS_UINTV(v) as_uint(v)
#define AS_FLOATV(v) as_float(v)
#elif VEC == 2
#define ROW_LANES ((int2)(0, 1))
#define AS_UINTV(v) as_uint2(v)
#define AS_FLOATV(v) as_float2(v)
#elif VEC == 4
#define ROW_LANES ((int4)(0, 1, 2, 3))
#define AS_UINTV(v) as_uint4(v)
#define AS_FLOATV(v) as_float4(v)
#else
#if VEC == 8
#define ROW_LANES ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#define AS_UINTV(v) as_uint8(v)
#define AS_FLOATV(v) as_float8(v)
#else
#define ROW_LANES ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define AS_UINTV(v) as_uint16(v)
#define AS_FLOATV(v) as_float16(v)
#endif
#endif
// Runs the body with e, the first float of each vector of a row of `axis` floats that this
// work-item owns (SOFTMAX_CONTIGUOUS: the header's two orders), and `full`, a constant: 1 for a
// vector wholly inside the row, 0 for the row's partial last vector, which comes last. The
// body uses ROW_LOAD, ROW_STORE and ROW_MASK, so whole vectors go without the tail test and the
// lane masks (0.87–0.91× the CPU time on PoCL at 8×1000 and 512×1000, both directions).
#if SOFTMAX_CONTIGUOUS
#define FOR_EACH_ROW_VECTOR(e, full, axis, ...)                                                   \
    {                                                                                             \
        const int run_ = (((axis) + VEC - 1) / VEC + SOFTMAX_WG - 1) / SOFTMAX_WG * VEC;         \
        const int begin_ = (int)get_local_id(0) * run_;                                           \
        const int end_ = min(begin_ + run_, (axis));                                              \
        const int whole_ = min(end_, (axis) / VEC * VEC);                                         \
        for (int e = begin_; e < whole_; e += VEC) { const int full = 1; __VA_ARGS__ }           \
        if (begin_ <= whole_ && whole_ < end_) { const int e = whole_; const int full = 0; __VA_ARGS__ } \
    }
#else
#define FOR_EACH_ROW_VECTOR(e, full, axis, ...)                                                   \
    {                                                                                             \
        int e_ = (int)get_local_id(0) * VEC;                                                      \
        for (; e_ + VEC <= (axis); e_ += SOFTMAX_WG * VEC) { const int e = e_; const int full = 1; __VA_ARGS__ } \
        if (e_ < (axis)) { const int e = e_; const int full = 0; __VA_ARGS__ }                    \
    }
#endif
// The vector at p[e …] of a row of `axis` floats: a plain vector load or store when `full`,
// else load_v / store_v (lanes past the row read 0 and are not written). The plain access goes
// through floatV declared with a float's alignment (rows start at any float), not vloadN /
// vstoreN: PoCL builds vload16 and vstore16 from 128- and 256-bit pieces (four stores per
// vector on an AVX-512 CPU, which stores two a cycle), where this is one unaligned 512-bit
// load or store; the forward at 512×1000 took 0.87× the time. A GPU compiler makes the same
// code of both. (Tried in vector_io.cl for every streaming kernel: batch norm + ReLU backward
// from x took 1.5–1.9× the time on PoCL, so only softmax has it; NOTES-memory-bound.md.)
typedef floatV floatV_unaligned __attribute__((aligned(4)));
#define ROW_LOAD(p, e, full, axis) ((full) ? *(__global const floatV_unaligned*)((p) + (e)) : load_v(p, e, axis))
#define ROW_STORE(v, p, e, full, axis) { if (full) { *(__global floatV_unaligned*)((p) + (e)) = (v); } else { store_v(v, p, e, axis); } }
// v with the lanes past the row's end set to `pad` (only a partial vector has any).
#define ROW_MASK(v, pad, e, full, axis) ((full) ? (v) : select((floatV)(pad), v, (e) + ROW_LANES < (axis)))

// e^x for x ≤ 0 (and NaN, which stays NaN), within 1.2 units of the last place of float (largest
// relative error 1.0·10⁻⁷ over every float in [−87.33, −0], checked against double): x = k·ln 2
// + r with k = round(x·log2 e), found by adding 1.5·2²³ (the sum's low bits are k), r = x − k·ln 2
// by two multiply-adds (ln 2 split in a high part with few bits and a low part), e^r by a
// degree-6 polynomial fitted here on |r| ≤ ln 2/2 (relative error 2.6·10⁻⁹), times 2^k built
// from k's bits in the exponent field. Below −87.33 (where 2^k would leave the normal floats)
// the result is 0, as the CPU backend's softmax gives; −∞ gives 0. On PoCL (LLVM's AVX2 code)
// 15 vector instructions against the built-in exp's 25 or so and its register spills: the
// forward at 8×1000 took 0.75× the time (Benchmarks/NOTES-memory-bound.md).
floatV exp_nonpositive(const floatV x) {
    const floatV t = fma(x, (floatV)1.44269504f, (floatV)12582912.0f);
    const floatV k = t - 12582912.0f;
    floatV r = fma(k, (floatV)-0.693359375f, x);
    r = fma(k, (floatV)2.12194440e-4f, r);
    floatV p = fma(r, (floatV)1.406124095e-3f, (floatV)8.379011415e-3f);
    p = fma(p, r, (floatV)4.166477546e-2f);
    p = fma(p, r, (floatV)1.666636616e-1f);
    p = fma(p, r, (floatV)5.000000596e-1f);
    p = fma(p, r, (floatV)1.0f);
    p = fma(p, r, (floatV)1.0f);
    // t's low 9 bits shifted into the exponent field are k's; + the bits of 1.0f make 2^k. A
    // multiply, not an add into p's bits, so that a NaN stays NaN whatever its payload.
    const floatV scale = AS_FLOATV((AS_UINTV(t) << 23) + 0x3f800000u);
    return select(p * scale, (floatV)0.0f, x < -87.33f);
}

#if SOFTMAX_POLY_EXP
#define EXP_NONPOSITIVE(v) exp_nonpositive(v)
#else
#define EXP_NONPOSITIVE(v) exp(v)
#endif

__kernel void softmax_forward_rowwise(const int outer, const int axis, const int inner, const int logMode,
                                      __global const float* x, __global float* y) {
    const int i = get_global_id(0), o = get_global_id(1);
    if (i >= inner || o >= outer) return;
    const int base = o * axis * inner + i;
    float m = x[base];
    for (int a = 1; a < axis; ++a) m = fmax(m, x[base + a * inner]);
    float s = 0.0f;
    for (int a = 0; a < axis; ++a) s += exp(x[base + a * inner] - m);
    if (logMode) {
        const float shift = m + log(s);
        for (int a = 0; a < axis; ++a) y[base + a * inner] = x[base + a * inner] - shift;
    } else {
        const float inv = 1.0f / s;
        for (int a = 0; a < axis; ++a) y[base + a * inner] = exp(x[base + a * inner] - m) * inv;
    }
}

__kernel void softmax_backward_rowwise(const int outer, const int axis, const int inner, const int logMode,
                                       __global const float* y, __global const float* dy,
                                       __global float* dx) {
    const int i = get_global_id(0), o = get_global_id(1);
    if (i >= inner || o >= outer) return;
    const int base = o * axis * inner + i;
    float s = 0.0f;
    if (logMode) {
        for (int a = 0; a < axis; ++a) s += dy[base + a * inner];
        for (int a = 0; a < axis; ++a) {
            const int k = base + a * inner;
            dx[k] = dy[k] - exp(y[k]) * s;
        }
    } else {
        for (int a = 0; a < axis; ++a) s += dy[base + a * inner] * y[base + a * inner];
        for (int a = 0; a < axis; ++a) {
            const int k = base + a * inner;
            dx[k] = y[k] * (dy[k] - s);
        }
    }
}

// Reductions over one work-group; every work-item gets the result. The last barrier lets the
// caller reuse `scratch` right away.
float workgroup_max(__local float* scratch, const int lid, const float v) {
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = SOFTMAX_WG / 2; step > 0; step >>= 1) {
        if (lid < step) scratch[lid] = fmax(scratch[lid], scratch[lid + step]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

float workgroup_sum(__local float* scratch, const int lid, const float v) {
    scratch[lid] = v;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int step = SOFTMAX_WG / 2; step > 0; step >>= 1) {
        if (lid < step) scratch[lid] += scratch[lid + step];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float r = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return r;
}

// One work-group per contiguous row of `axis` elements (inner = 1); `rows` work-groups. Lanes
// past the row's end are masked out of the max and the sum.
__kernel __attribute__((reqd_work_group_size(SOFTMAX_WG, 1, 1)))
void softmax_forward_workgroup(const int axis, const int logMode, __global const float* x,
                               __global float* y) {
    __local float scratch[SOFTMAX_WG];
    const int lid = get_local_id(0);
    __global const float* xr = x + (size_t)get_group_id(0) * axis;
    __global float* yr = y + (size_t)get_group_id(0) * axis;
    floatV mv = -INFINITY;
    // The larger of mv and v, NaN in v ignored as fmax ignores it (the exponentials then make
    // the row NaN), but as one compare-and-blend that LLVM makes vmaxps: fmax's NaN handling
    // compiled to a compare, an unordered compare, a mask or and a blend, the max pass's
    // dependency chain (the forward at 512×1000 on PoCL took 0.77× the time without it).
    FOR_EACH_ROW_VECTOR(e, full, axis, {
        const floatV v = ROW_MASK(ROW_LOAD(xr, e, full, axis), -INFINITY, e, full, axis);
        mv = select(mv, v, v > mv);
    })
    const float m = workgroup_max(scratch, lid, max_lanes(mv));
    // Softmax keeps e^(x − m) in y for the last pass, which then scales it instead of taking
    // every exponential a second time (the exponentials are most of this kernel's time on
    // PoCL). Each work-item writes only the vectors it read, and reads x no more once it has
    // written them: x may alias y.
    // The mode is tested outside the loops, so that each loop body is straight-line code.
    floatV sv = 0.0f;
    if (logMode) {
        FOR_EACH_ROW_VECTOR(e, full, axis, { sv += ROW_MASK(EXP_NONPOSITIVE(ROW_LOAD(xr, e, full, axis) - m), 0.0f, e, full, axis); })
    } else {
        FOR_EACH_ROW_VECTOR(e, full, axis, {
            const floatV ev = EXP_NONPOSITIVE(ROW_LOAD(xr, e, full, axis) - m);
            sv += ROW_MASK(ev, 0.0f, e, full, axis);
            ROW_STORE(ev, yr, e, full, axis)
        })
    }
    const float s = workgroup_sum(scratch, lid, sum_lanes(sv));
    if (logMode) {
        const float shift = m + log(s);
        FOR_EACH_ROW_VECTOR(e, full, axis, { ROW_STORE(ROW_LOAD(xr, e, full, axis) - shift, yr, e, full, axis) })
    } else {
        const float inv = 1.0f / s;
        FOR_EACH_ROW_VECTOR(e, full, axis, { ROW_STORE(ROW_LOAD(yr, e, full, axis) * inv, yr, e, full, axis) })
    }
}

__kernel __attribute__((reqd_work_group_size(SOFTMAX_WG, 1, 1)))
void softmax_backward_workgroup(const int axis, const int logMode, __global const float* y,
                                __global const float* dy, __global float* dx) {
    __local float scratch[SOFTMAX_WG];
    const int lid = get_local_id(0);
    const size_t base = (size_t)get_group_id(0) * axis;
    __global const float* yr = y + base;
    __global const float* dyr = dy + base;
    __global float* dxr = dx + base;
    // Padded lanes of dy read 0, so they add nothing.
    floatV sv = 0.0f;
    if (logMode) {
        FOR_EACH_ROW_VECTOR(e, full, axis, { sv += ROW_LOAD(dyr, e, full, axis); })
    } else {
        FOR_EACH_ROW_VECTOR(e, full, axis, { sv += ROW_LOAD(dyr, e, full, axis) * ROW_LOAD(yr, e, full, axis); })
    }
    const float s = workgroup_sum(scratch, lid, sum_lanes(sv));
    if (logMode) {
        FOR_EACH_ROW_VECTOR(e, full, axis, {
            ROW_STORE(ROW_LOAD(dyr, e, full, axis) - exp(ROW_LOAD(yr, e, full, axis)) * s, dxr, e, full, axis)
        })
    } else {
        FOR_EACH_ROW_VECTOR(e, full, axis, {
            const floatV yv = ROW_LOAD(yr, e, full, axis);
            ROW_STORE(yv * (ROW_LOAD(dyr, e, full, axis) - s), dxr, e, full, axis)
        })
    }
}
