#ifndef CNN_CPU_ISA_H
#define CNN_CPU_ISA_H

/// The instruction sets the memory-bound kernels (pooling, batch norm, optimizers, softmax) are
/// compiled for; each call runs the widest one this processor has, as CPUID reports it. AMD
/// Zen 2 machines have AVX2 only, Zen 4 and Zen 5 have AVX-512.
enum {
    CNN_ISA_BASELINE = 0,  ///< x86-64 SSE2, or the generic build off x86
    CNN_ISA_AVX2 = 1,      ///< AVX2 + FMA
    CNN_ISA_AVX512 = 2,    ///< AVX-512 F, BW, DQ, VL
};

/// The widest instruction set this processor supports.
int cnn_cpu_isa_supported(void);

/// The instruction set the kernels use now: the supported one, capped by `cnn_cpu_isa_limit`.
int cnn_cpu_isa_active(void);

/// Caps the instruction set the kernels use (a level above the supported one means no cap)
/// and returns the previous cap. For tests that run every variant on one machine; not meant
/// to change while kernels run on other threads.
int cnn_cpu_isa_limit(int level);

#endif
