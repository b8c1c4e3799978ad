// lrn.cl: local response normalization across channels (AlexNet, PyTorch's LocalResponseNorm).
//
// Layout: [N, C, S] Float32 (S = H·W). For element (n, c, s):
//   scale = k + alpha/size · Σ x[n, j, s]²  over j ∈ [c − size/2, c + (size−1)/2] ∩ [0, C),
//   y = x · scale^−beta.
// The backward pass is a gather over the channels j whose window contains c:
//   dx = dy · scale^−beta − (2·alpha·beta/size) · x · Σ_j dy_j · y_j / scale_j,
//   j ∈ [c − (size−1)/2, c + size/2] ∩ [0, C).
// One work-item per element, 1-D range. No tunable parameters.

__kernel void lrn_forward(const int count, const int channels, const int spatial, const int size,
                          const float alpha, const float beta, const float k,
                          __global const float* x, __global float* y, __global float* scale) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const int c = (i / spatial) % channels;
    const int base = i - c * spatial;  // element (n, 0, s)
    const int lo = max(c - size / 2, 0), hi = min(c + (size - 1) / 2, channels - 1);
    float squares = 0.0f;
    for (int j = lo; j <= hi; ++j) {
        const float v = x[base + j * spatial];
        squares += v * v;
    }
    const float s = k + alpha / (float)size * squares;
    scale[i] = s;
    y[i] = x[i] * pow(s, -beta);
}

__kernel void lrn_backward_gather(const int count, const int channels, const int spatial,
                                  const int size, const float alpha, const float beta,
                                  __global const float* x, __global const float* y,
                                  __global const float* scale, __global const float* dy,
                                  __global float* dx) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const int c = (i / spatial) % channels;
    const int base = i - c * spatial;
    const int lo = max(c - (size - 1) / 2, 0), hi = min(c + size / 2, channels - 1);
    float acc = 0.0f;
    for (int j = lo; j <= hi; ++j) {
        const int e = base + j * spatial;
        acc += dy[e] * y[e] / scale[e];
    }
    dx[i] = dy[i] * pow(scale[i], -beta) - 2.0f * alpha * beta / (float)size * x[i] * acc;
}
