// dropout.cl: inverted dropout with a counter-based random generator.
//
// Layout: flat arrays of `n` floats; one work-item per element.
//   mask[i] = u(seed, i) >= p ? scale : 0,  scale = 1/(1 − p) computed once on the host
//   y[i]    = x[i] · mask[i]
// u(seed, i) is `counter_uniform` below: the SplitMix64 finalizer of seed + (i + 1)·γ
// (γ = 0x9E3779B97F4A7C15, the golden-ratio increment), top 24 bits / 2^24, so u is exactly
// representable as a float in [0, 1). It MUST stay bit-identical to `CounterRandom` in
// Sources/CNNGPU/Core/CounterRandom.swift: the CPU backend uses that one, and the same seed
// must give the same mask on every backend. Change both or neither.
// x and y may be the same buffer.
//
// No tunable parameters.

ulong counter_hash(const ulong seed, const ulong index) {
    ulong z = seed + (index + 1UL) * 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    return z ^ (z >> 31);
}

float counter_uniform(const ulong seed, const ulong index) {
    return (float)(uint)(counter_hash(seed, index) >> 40) * (1.0f / 16777216.0f);
}

__kernel void dropout_forward_counter(const int n, const ulong seed, const float p, const float scale,
                                      __global const float* x, __global float* y,
                                      __global float* mask) {
    const int i = get_global_id(0);
    if (i >= n) return;
    const float m = counter_uniform(seed, (ulong)i) >= p ? scale : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
}
