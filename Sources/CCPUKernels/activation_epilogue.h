// Private to CCPUKernels: the fused activation of the convolution kernels, applied to values
// just stored (still in L1). The same formulas as the CPU backend's activationForward, so a
// fused and an unfused pass agree. Codes: those of Kernels/activation_function.cl.
#ifndef CNN_ACTIVATION_EPILOGUE_H
#define CNN_ACTIVATION_EPILOGUE_H

#include <math.h>

static inline __attribute__((always_inline)) void activate_lanes(float *p, long lanes, int code, float alpha) {
    for (long l = 0; l < lanes; l++) {
        float v = p[l];
        switch (code) {
        case 0: p[l] = v < 0 ? 0 : v; break;
        case 1: p[l] = v > 0 ? v : alpha * v; break;
        case 2: p[l] = v > 0 ? v : alpha * expm1f(v); break;
        case 3: p[l] = 1 / (1 + expf(-v)); break;
        default: p[l] = tanhf(v); break;
        }
    }
}

#endif
