// softmax.cl: softmax and log-softmax along one axis, forward and backward.
//
// Layout: a tensor seen as [outer, axis, inner] (AxisShape); element (o, a, i) is at
// (o·axis + a)·inner + i. One work-item per row (o, i) on a 2-D range [inner, outer], each
// walking its `axis` elements with stride `inner`, so neighbouring work-items read
// neighbouring addresses when inner > 1. For that case the host asks for work-groups of up
// to 64 along inner (1.7× faster than PoCL's own choice on [64, 16, 16384]).
// This suits classifier heads and channel softmax on CPU-like devices (PoCL), where rows
// outnumber cores. A work-group reduction per row would only pay off for very long axes with
// few rows (e.g. on a GPU); it is not written yet.
//
// Forward (numerically stable): m = max x; s = Σ e^(x − m);
//   softmax y = e^(x − m) / s;  log-softmax y = x − m − log s.
// Backward, from the forward output y:
//   softmax     dx = y·(dy − Σ dy·y)
//   log-softmax dx = dy − e^y · Σ dy
// Each work-item reads and writes only its own row, so x may alias y and dy may alias dx.
//
// No tunable parameters.

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
