// activation_function.cl: the activation functions, as one inline function that any program
// applies where it stores its output (activation.cl, and the fused epilogues of
// convolution.cl and elementwise.cl). No kernels: the host's ProgramCache pastes this file in
// place of the line `#include "activation_function.cl"` (the sources are embedded, so the
// device compiler has no include path).
//
// Codes, matching `Activation.kernelCode` in OpenCLBackend+Activation.swift:
//   -1 none        y = x
//    0 relu        y = x < 0 ? 0 : x          (NaN stays NaN, as in PyTorch)
//    1 leaky relu  y = x > 0 ? x : alpha·x
//    2 elu         y = x > 0 ? x : alpha·(e^x − 1)
//    3 sigmoid     y = 1 / (1 + e^−x)
//    4 tanh        y = tanh(x)
//
// No tunable parameters.

#ifndef ACTIVATION_FUNCTION_CL
#define ACTIVATION_FUNCTION_CL

#define ACT_NONE -1
#define ACT_RELU 0
#define ACT_LEAKY_RELU 1
#define ACT_ELU 2
#define ACT_SIGMOID 3
#define ACT_TANH 4

inline float activate(const int code, const float alpha, const float v) {
    switch (code) {
    case ACT_NONE: return v;
    case ACT_RELU: return v < 0.0f ? 0.0f : v;
    case ACT_LEAKY_RELU: return v > 0.0f ? v : alpha * v;
    case ACT_ELU: return v > 0.0f ? v : alpha * expm1(v);
    case ACT_SIGMOID: return 1.0f / (1.0f + exp(-v));
    default: return tanh(v);
    }
}

#endif
