// Private to CCPUKernels: one loop body compiled three times, for AVX-512, AVX2+FMA and the
// baseline target, and a dispatcher that picks one per call. Swift has no per-function target
// features, which is why these loops are C.
#ifndef CNN_ISA_VARIANTS_H
#define CNN_ISA_VARIANTS_H

#include "cpu_isa.h"
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

#if defined(__x86_64__) || defined(__i386__)
#define TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma")))
#define TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define TARGET_AVX512
#define TARGET_AVX2
#endif

// Vectors are 16 floats whatever the target: one register with AVX-512, two with AVX2, four
// with SSE2. The helpers pass them by value, which clang flags as an ABI change without
// AVX-512; they are always inlined, so no call with that ABI exists.
#pragma clang diagnostic ignored "-Wpsabi"
typedef float vf16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));

INLINE vf16 load16(const float *p) { vf16 v; memcpy(&v, p, sizeof v); return v; }
INLINE void store16(float *p, vf16 v) { memcpy(p, &v, sizeof v); }
INLINE vi16 load16i(const int *p) { vi16 v; memcpy(&v, p, sizeof v); return v; }
INLINE void store16i(int *p, vi16 v) { memcpy(p, &v, sizeof v); }
INLINE vf16 splat16(float s) { return (vf16){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }
INLINE vi16 splat16i(int s) { return (vi16){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s}; }
/// `mask ? a : b` per lane, for masks from vector comparisons (all bits set or clear).
INLINE vf16 select16(vi16 mask, vf16 a, vf16 b) { return (vf16)(((vi16)a & mask) | ((vi16)b & ~mask)); }
INLINE vi16 select16i(vi16 mask, vi16 a, vi16 b) { return (a & mask) | (b & ~mask); }
INLINE float sum16(vf16 v) {
    float s = 0;
    for (int k = 0; k < 16; k++) s += v[k];
    return s;
}

/// Defines `static void name_avx512(params)`, `name_avx2` and `name_baseline`, each running
/// `body` (an always-inline function) as `body args`, and `name_dispatch(params)` calling the
/// one `cnn_cpu_isa_active` picks.
#define ISA_VARIANTS(name, body, params, args)                                                  \
    TARGET_AVX512 static void name##_avx512 params { body args; }                             \
    TARGET_AVX2 static void name##_avx2 params { body args; }                                 \
    static void name##_baseline params { body args; }                                         \
    static void name##_dispatch params {                                                       \
        switch (cnn_cpu_isa_active()) {                                                        \
        case CNN_ISA_AVX512: name##_avx512 args; break;                                        \
        case CNN_ISA_AVX2: name##_avx2 args; break;                                            \
        default: name##_baseline args; break;                                                  \
        }                                                                                      \
    }

#endif
