// loss.cl: losses and classification metrics for LossOps (launched by OpenCLBackend+Loss.swift).
//
// Layout: scores/logits are row-major [rows, cols] Float32 (one row per sample), labels are
// Int32 [rows]. Sizes are passed as int (the host refuses larger problems).
//
// Kernels (one work-group per row, or one work-item per element; no atomics, deterministic):
//   cross_entropy_rows      per row (a work-group): numerically stable log-sum-exp (the row
//                           maximum is subtracted before exp), writes the row's loss to stats[r]
//                           and its log-sum-exp to stats[rows + r]. A label outside [0, cols)
//                           makes the row's loss NaN: the device cannot throw, and NaN reaches
//                           the trainer's NaN check. Label smoothing eps (PyTorch's): the target
//                           is (1 - eps)*onehot + eps/cols, so loss = lse - (1-eps)*x[label] -
//                           eps*mean(x).
//   cross_entropy_gradient  per element, 2-D range [cols, rows]: (softmax - (1-eps)*onehot -
//                           eps/cols) / rows from the saved log-sum-exp; NaN for every element of
//                           a row with a bad label.
//   squared_error_partial_sums  per element, work-groups of a power-of-two size: gradient[i] =
//                           gradientScale * (p - t), and each group's tree sum of (p - t)^2,
//                           times sumScale, into partials[group].
//   topk_correct_rows       per row (a work-group): 1 when fewer than k scores are strictly
//                           greater than the label's score (ties count as correct), else 0; a
//                           bad label or a NaN label score is not correct.
//   argmax_rows             per row (a work-group): the index of the largest score, the first
//                           one on ties; a NaN counts as larger than any number (as in PyTorch),
//                           the first NaN wins.
//   sum_tree_reduce         per element, work-groups of a power-of-two size: out[group] = scale *
//                           (tree sum of the group's values). The host repeats it on the partial
//                           sums until one value is left: a fixed pairwise order (the same bits on
//                           every run, and accurate), no loops, no atomics.
//
// The per-row kernels run one work-group of a power-of-two size per row (range [size, rows]):
// work-item l takes columns l, l + size, … in order, then the group merges the work-items'
// results by a tree in local memory, in a fixed order, so no work-item walks a whole row and
// every run gives the same bits. The tree kernels must not return before their barriers, not
// even where the whole group would (PoCL hung on such a return in topk_correct_rows): every
// work-item reaches them, and those past the end contribute their identity. Local memory (one
// value per work-item and quantity) is a host argument, as is the group size: no compile-time
// tunables in this file.

// The maximum of `value` over the work-group, returned to every work-item (tree in `partial`,
// one float per work-item; called in uniform control flow). fmax: a NaN loses to a number.
inline float work_group_tree_max(__local float* partial, const float value) {
    const int lid = get_local_id(0);
    partial[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = get_local_size(0) / 2; width > 0; width /= 2) {
        if (lid < width) partial[lid] = fmax(partial[lid], partial[lid + width]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float result = partial[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return result;
}

// The sums of a and b over the work-group, returned to every work-item (trees in `partial`,
// two floats per work-item; called in uniform control flow).
inline float2 work_group_tree_sum2(__local float* partial, const float a, const float b) {
    const int lid = get_local_id(0), size = get_local_size(0);
    partial[lid] = a;
    partial[size + lid] = b;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (lid < width) {
            partial[lid] += partial[lid + width];
            partial[size + lid] += partial[size + lid + width];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return (float2)(partial[0], partial[size]);
}

__kernel void cross_entropy_rows(const int rows, const int cols, const float smoothing,
                                 __global const float* logits, __global const int* labels,
                                 __global float* stats, __local float* partial) {
    const int r = get_group_id(1), lid = get_local_id(0), size = get_local_size(0);
    __global const float* x = logits + (size_t)r * cols;
    float m = -INFINITY;
    for (int j = lid; j < cols; j += size) m = fmax(m, x[j]);
    m = work_group_tree_max(partial, m);
    float s = 0.0f, belowMax = 0.0f;
    for (int j = lid; j < cols; j += size) {
        s += exp(x[j] - m);
        belowMax += m - x[j];
    }
    const float2 sums = work_group_tree_sum2(partial, s, belowMax);
    if (lid != 0) return;
    s = sums.x;
    belowMax = sums.y;
    const float logSum = log(s);
    const int label = labels[r];
    // log(s) + (m - x[label]) keeps the large terms apart, accurate for logits of ±1000; so does
    // the smoothing term, the mean of (m - x[j]): left out without smoothing, where a −∞ logit
    // makes belowMax ∞ and 0 · ∞ would make the loss NaN.
    const float smoothed = smoothing > 0.0f ? smoothing * belowMax / cols : 0.0f;
    stats[r] = (label >= 0 && label < cols) ? logSum + (1.0f - smoothing) * (m - x[label]) + smoothed : NAN;
    stats[rows + r] = m + logSum;
}

__kernel void cross_entropy_gradient(const int rows, const int cols, const float invRows,
                                     const float smoothing,
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
    gradient[i] = (p - smoothing / cols - (j == label ? 1.0f - smoothing : 0.0f)) * invRows;
}

// The sum of `value` over the work-group, by a barrier-separated tree in `partial` (one float
// per work-item, group size a power of two). Every work-item must call it; the result is valid
// in work-item 0.
inline float work_group_tree_sum(__local float* partial, const float value) {
    const int lid = get_local_id(0);
    partial[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = get_local_size(0) / 2; width > 0; width /= 2) {
        if (lid < width) partial[lid] += partial[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    return partial[0];
}

__kernel void squared_error_partial_sums(const int count, const float gradientScale,
                                         const float sumScale, __global const float* prediction,
                                         __global const float* target, __global float* gradient,
                                         __global float* partials, __local float* partial) {
    const int i = get_global_id(0);
    float squared = 0.0f;
    if (i < count) {
        const float d = prediction[i] - target[i];
        gradient[i] = gradientScale * d;
        squared = d * d;
    }
    const float sum = work_group_tree_sum(partial, squared);
    if (get_local_id(0) == 0) partials[get_group_id(0)] = sum * sumScale;
}

__kernel void topk_correct_rows(const int rows, const int cols, const int k,
                                __global const float* scores, __global const int* labels,
                                __global float* correct, __local float* partial) {
    const int r = get_group_id(1), lid = get_local_id(0), size = get_local_size(0);
    const int label = labels[r];
    // No early return for a bad label, though the whole group would take it: PoCL hung on
    // that form (a return before the barriers it could not prove uniform).
    const bool valid = label >= 0 && label < cols;
    __global const float* x = scores + (size_t)r * cols;
    const float target = valid ? x[label] : NAN;
    // Counts below 2^24 are exact in float. Nothing is greater than NaN.
    float greater = 0.0f;
    for (int j = lid; j < cols; j += size) greater += x[j] > target ? 1.0f : 0.0f;
    greater = work_group_tree_sum(partial, greater);
    if (lid == 0) correct[r] = (valid && greater < k && !isnan(target)) ? 1.0f : 0.0f;
}

// Whether (v, i) ranks before (w, k) for argmax: a NaN before any number, then the larger
// value, then, on equal values (or two NaNs), the lower index — the first one in the row.
inline bool argmax_before(const float v, const int i, const float w, const int k) {
    if (isnan(v) != isnan(w)) return isnan(v);
    if (!isnan(v) && v != w) return v > w;
    return i < k;
}

__kernel void argmax_rows(const int rows, const int cols, __global const float* x,
                          __global int* out, __local float* values, __local int* indices) {
    const int r = get_group_id(1), lid = get_local_id(0), size = get_local_size(0);
    __global const float* row = x + (size_t)r * cols;
    // Work-items past the row's end hold an index no column has and rank last.
    float bestValue = -INFINITY;
    int best = cols;
    for (int j = lid; j < cols; j += size) {
        const float v = row[j];
        if (argmax_before(v, j, bestValue, best)) {
            best = j;
            bestValue = v;
        }
    }
    values[lid] = bestValue;
    indices[lid] = best;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = size / 2; width > 0; width /= 2) {
        if (lid < width && argmax_before(values[lid + width], indices[lid + width], values[lid], indices[lid])) {
            values[lid] = values[lid + width];
            indices[lid] = indices[lid + width];
        }
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[r] = indices[0];
}

__kernel void sum_tree_reduce(const int n, const float scale, __global const float* values,
                              __global float* out, __local float* partial) {
    const int i = get_global_id(0);
    const float sum = work_group_tree_sum(partial, i < n ? values[i] : 0.0f);
    if (get_local_id(0) == 0) out[get_group_id(0)] = sum * scale;
}
