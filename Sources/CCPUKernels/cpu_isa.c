#include "cpu_isa.h"

// The cap starts above every level: no cap.
static int isaCap = CNN_ISA_AVX512;

int cnn_cpu_isa_supported(void) {
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the wide registers (XGETBV).
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return CNN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CNN_ISA_AVX2;
#endif
    return CNN_ISA_BASELINE;
}

int cnn_cpu_isa_active(void) {
    int supported = cnn_cpu_isa_supported(), cap = __atomic_load_n(&isaCap, __ATOMIC_RELAXED);
    return supported < cap ? supported : cap;
}

int cnn_cpu_isa_limit(int level) {
    return __atomic_exchange_n(&isaCap, level, __ATOMIC_RELAXED);
}
