// lrn.cl: local response normalization across channels (AlexNet, PyTorch's LocalResponseNorm).
//
// Layout: [N, C, S] Float32 (S = H·W). For element (n, c, s):
//   scale = k + alpha/size · Σ x[n, j, s]²  over j ∈ [c − size/2, c + (size−1)/2] ∩ [0, C),
//   y = x · scale^−beta.
// The backward pass is a gather over the channels j whose window contains c:
//   dx = dy · scale^−beta − (2·alpha·beta/size) · x · Σ_j dy_j · y_j / scale_j,
//   j ∈ [c − (size−1)/2, c + size/2] ∩ [0, C).
// One work-item per element on a 2-D range (s, n·C + c), so the channel comes from one
// modulo per row rather than a division per element. No tunable parameters.

// scale^−beta for scale > 0. Transcendentals dominate this kernel on PoCL (pow() made it 30×
// slower than the loads): AlexNet's beta = 0.75 takes two square roots, other betas
// exp2(−beta·log2(scale)), still 3× faster than pow().
inline float power_of_scale(float scale, float beta) {
    if (beta == 0.75f) {
        const float root = sqrt(scale);
        return 1.0f / (root * sqrt(root));
    }
    return exp2(-beta * log2(scale));
}

__kernel void lrn_forward(const int rows, const int channels, const int spatial, const int size,
                          const float alpha, const float beta, const float k,
                          __global const float* x, __global float* y, __global float* scale) {
    const int s = get_global_id(0), row = get_global_id(1);
    if (s >= spatial || row >= rows) return;
    const int c = row % channels;
    const int i = row * spatial + s;
    const int base = i - c * spatial;  // element (n, 0, s)
    const int lo = max(c - size / 2, 0), hi = min(c + (size - 1) / 2, channels - 1);
    float squares = 0.0f;
    for (int j = lo; j <= hi; ++j) {
        const float v = x[base + j * spatial];
        squares += v * v;
    }
    const float sc = k + alpha / (float)size * squares;
    scale[i] = sc;
    y[i] = x[i] * power_of_scale(sc, beta);
}

__kernel void lrn_backward_gather(const int rows, const int channels, const int spatial,
                                  const int size, const float alpha, const float beta,
                                  __global const float* x, __global const float* y,
                                  __global const float* scale, __global const float* dy,
                                  __global float* dx) {
    const int s = get_global_id(0), row = get_global_id(1);
    if (s >= spatial || row >= rows) return;
    const int c = row % channels;
    const int i = row * spatial + s;
    const int base = i - c * spatial;
    const int lo = max(c - (size - 1) / 2, 0), hi = min(c + size / 2, channels - 1);
    float acc = 0.0f;
    for (int j = lo; j <= hi; ++j) {
        const int e = base + j * spatial;
        acc += dy[e] * y[e] / scale[e];
    }
    dx[i] = dy[i] * power_of_scale(scale[i], beta) - 2.0f * alpha * beta / (float)size * x[i] * acc;
}
