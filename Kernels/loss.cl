// loss.cl: losses and classification metrics for LossOps (launched by OpenCLBackend+Loss.swift).
//
// Layout: scores/logits are row-major [rows, cols] Float32 (one row per sample), labels are
// Int32 [rows]. Sizes are passed as int (the host refuses larger problems).
//
// Kernels (one work-item per row or per element, no atomics, deterministic):
//   cross_entropy_rows      per row: numerically stable log-sum-exp (the row maximum is
//                           subtracted before exp), writes the row's loss to stats[r] and its
//                           log-sum-exp to stats[rows + r]. A label outside [0, cols) makes the
//                           row's loss NaN: the device cannot throw, and NaN reaches the
//                           trainer's NaN check.
//   cross_entropy_gradient  per element, 2-D range [cols, rows]: (softmax - onehot) / rows from
//                           the saved log-sum-exp; NaN for every element of a row with a bad label.
//   squared_error_gradient  per element: squared[i] = (p - t)^2, gradient[i] = scale * (p - t).
//   topk_correct_rows       per row: 1 when fewer than k scores are strictly greater than the
//                           label's score (ties count as correct), else 0; a bad label or a NaN
//                           label score is not correct.
//   argmax_rows             per row: the index of the largest score, the first one on ties; a NaN
//                           counts as larger than any number (as in PyTorch), the first NaN wins.
//   sum_tree_reduce         ONE work-group (local size a power of two, chosen by the host, local
//                           memory passed as an argument): out[0] = scale * sum(values[0..n)).
//                           Each work-item sums a strided slice (coalesced on GPUs) with Kahan
//                           compensation, then a barrier-separated tree combines the slices, so
//                           the result is the same on every run.
//
// Tunable parameters: none at compile time; the reduction's work-group size is a host choice.

__kernel void cross_entropy_rows(const int rows, const int cols,
                                 __global const float* logits, __global const int* labels,
                                 __global float* stats) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    __global const float* x = logits + (size_t)r * cols;
    float m = x[0];
    for (int j = 1; j < cols; ++j) m = fmax(m, x[j]);
    float s = 0.0f;
    for (int j = 0; j < cols; ++j) s += exp(x[j] - m);
    const float logSum = log(s);
    const int label = labels[r];
    // log(s) + (m - x[label]) keeps the large terms apart: exact for logits of ±1000.
    stats[r] = (label >= 0 && label < cols) ? logSum + (m - x[label]) : NAN;
    stats[rows + r] = m + logSum;
}

__kernel void cross_entropy_gradient(const int rows, const int cols, const float invRows,
                                     __global const float* logits, __global const int* labels,
                                     __global const float* stats, __global float* gradient) {
    const int j = get_global_id(0), r = get_global_id(1);
    if (j >= cols || r >= rows) return;
    const size_t i = (size_t)r * cols + j;
    const int label = labels[r];
    if (label < 0 || label >= cols) {
        gradient[i] = NAN;
        return;
    }
    const float p = exp(logits[i] - stats[rows + r]);
    gradient[i] = (j == label ? p - 1.0f : p) * invRows;
}

__kernel void squared_error_gradient(const int count, const float gradientScale,
                                     __global const float* prediction, __global const float* target,
                                     __global float* squared, __global float* gradient) {
    const int i = get_global_id(0);
    if (i >= count) return;
    const float d = prediction[i] - target[i];
    squared[i] = d * d;
    gradient[i] = gradientScale * d;
}

__kernel void topk_correct_rows(const int rows, const int cols, const int k,
                                __global const float* scores, __global const int* labels,
                                __global float* correct) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    const int label = labels[r];
    if (label < 0 || label >= cols) {
        correct[r] = 0.0f;
        return;
    }
    __global const float* x = scores + (size_t)r * cols;
    const float target = x[label];
    int greater = 0;
    for (int j = 0; j < cols; ++j) greater += x[j] > target ? 1 : 0;
    correct[r] = (greater < k && !isnan(target)) ? 1.0f : 0.0f;
}

__kernel void argmax_rows(const int rows, const int cols, __global const float* x,
                          __global int* out) {
    const int r = get_global_id(0);
    if (r >= rows) return;
    __global const float* row = x + (size_t)r * cols;
    int best = 0;
    float bestValue = row[0];
    for (int j = 1; j < cols; ++j) {
        const float v = row[j];
        if (v > bestValue || (isnan(v) && !isnan(bestValue))) {
            best = j;
            bestValue = v;
        }
    }
    out[r] = best;
}

__kernel void sum_tree_reduce(const int n, const float scale, __global const float* values,
                              __global float* out, __local float* partial) {
    const int lid = get_local_id(0), size = get_local_size(0);
    float sum = 0.0f, compensation = 0.0f;
    for (int i = lid; i < n; i += size) {
        const float y = values[i] - compensation;
        const float t = sum + y;
        compensation = (t - sum) - y;
        sum = t;
    }
    partial[lid] = sum;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[0] = partial[0] * scale;
}
