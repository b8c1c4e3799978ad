// batchnorm.cl: batch normalization, training and inference forward, and backward.
//
// Layout: a tensor seen as [outer, channels, inner] (NCHW: outer = N, inner = H·W; dense
// layers: inner = 1); statistics are per channel over its M = outer·inner elements.
//
// The per-channel reductions (batchnorm_statistics, batchnorm_backward_reduce) run one
// work-group of BN_GROUP_SIZE work-items per channel: each work-item sums a strided share of
// the channel in float, then a tree in local memory adds the shares in a fixed order, so
// results are deterministic. The variance takes two passes (mean, then Σ(x − mean)²), which
// stays accurate where E[x²] − E[x]² would cancel. The element-wise kernels run one work-item
// per element on a 2-D range (i, n·C + c), so the channel is one modulo per row.
//
// Batch norm + ReLU: with `relu` 1 the forward kernels store max(0, y) (NaN stays NaN), and
// the backward kernels read dy masked by y > 0 (y being the fused forward's output), leaving
// dy itself unmodified; with `relu` 0 the y argument is unread.
//
// Tunable: BN_GROUP_SIZE (default 256, a power of two). The host launches the reductions with
// this local size (`OpenCLBackend.batchNormGroupSize`): change both together.

#ifndef BN_GROUP_SIZE
#define BN_GROUP_SIZE 256
#endif

// Element `i` (0 ≤ i < outer·inner) of channel `c`.
inline int channel_element(int i, int c, int channels, int inner) {
    const int n = i / inner;
    return (n * channels + c) * inner + (i - n * inner);
}

// Visits this work-item's share of channel c's elements as `e`: row by row when rows are
// long (no division per element), element by element over the flattened channel when they
// are shorter than the work-group (dense layers, inner = 1). `m` is outer·inner.
#define FOR_CHANNEL_SHARE(e, body)                                                      \
    if (inner >= BN_GROUP_SIZE) {                                                       \
        for (int n = 0; n < outer; ++n) {                                               \
            const int row = (n * channels + c) * inner;                                 \
            for (int j = lid; j < inner; j += BN_GROUP_SIZE) { const int e = row + j; body } \
        }                                                                               \
    } else {                                                                            \
        for (int i = lid; i < m; i += BN_GROUP_SIZE) {                                  \
            const int e = channel_element(i, c, channels, inner); body                  \
        }                                                                               \
    }

// The sum of `value` over the work-group, returned to every work-item. Called in uniform
// control flow; `scratch` is free again when it returns.
inline float group_sum(float value, __local float* scratch) {
    const int lid = get_local_id(0);
    scratch[lid] = value;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int width = BN_GROUP_SIZE / 2; width > 0; width >>= 1) {
        if (lid < width) scratch[lid] += scratch[lid + width];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    const float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

// Per channel c (one work-group each): batch mean and biased variance; saves mean and
// 1/sqrt(var + epsilon); running = (1 − momentum)·running + momentum·batch with the unbiased
// variance (PyTorch). The host guarantees outer·inner > 1.
__kernel __attribute__((reqd_work_group_size(BN_GROUP_SIZE, 1, 1)))
void batchnorm_statistics(const int outer, const int channels, const int inner,
                          const float momentum, const float epsilon, __global const float* x,
                          __global float* savedMean, __global float* savedInvStd,
                          __global float* runningMean, __global float* runningVar) {
    __local float scratch[BN_GROUP_SIZE];
    const int c = get_group_id(0), lid = get_local_id(0), m = outer * inner;
    float sum = 0.0f;
    FOR_CHANNEL_SHARE(e, { sum += x[e]; })
    const float mean = group_sum(sum, scratch) / (float)m;
    float squares = 0.0f;
    FOR_CHANNEL_SHARE(e, { const float d = x[e] - mean; squares += d * d; })
    const float var = group_sum(squares, scratch) / (float)m;
    if (lid == 0) {
        savedMean[c] = mean;
        savedInvStd[c] = 1.0f / sqrt(var + epsilon);
        const float unbiased = var * ((float)m / (float)(m - 1));
        runningMean[c] = (1.0f - momentum) * runningMean[c] + momentum * mean;
        runningVar[c] = (1.0f - momentum) * runningVar[c] + momentum * unbiased;
    }
}

// The fused ReLU of batch norm + ReLU.
inline float bn_relu(const int relu, const float v) { return relu && v < 0.0f ? 0.0f : v; }

// dy, masked by y > 0 in the backward pass of batch norm + ReLU.
inline float bn_gradient(const int relu, __global const float* dy, __global const float* y, const int e) {
    const float g = dy[e];
    return relu && !(y[e] > 0.0f) ? 0.0f : g;
}

// y = (x − mean[c])·invStd[c]·gamma[c] + beta[c] with the statistics just saved.
__kernel void batchnorm_normalize(const int rows, const int channels, const int inner,
                                  __global const float* x, __global const float* mean,
                                  __global const float* invStd, __global const float* gamma,
                                  __global const float* beta, __global float* y, const int relu) {
    const int j = get_global_id(0), row = get_global_id(1);
    if (j >= inner || row >= rows) return;
    const int c = row % channels, i = row * inner + j;
    y[i] = bn_relu(relu, (x[i] - mean[c]) * invStd[c] * gamma[c] + beta[c]);
}

// y = (x − runningMean[c]) / sqrt(runningVar[c] + epsilon)·gamma[c] + beta[c].
__kernel void batchnorm_inference(const int rows, const int channels, const int inner,
                                  const float epsilon, __global const float* x,
                                  __global const float* runningMean, __global const float* runningVar,
                                  __global const float* gamma, __global const float* beta,
                                  __global float* y, const int relu) {
    const int j = get_global_id(0), row = get_global_id(1);
    if (j >= inner || row >= rows) return;
    const int c = row % channels, i = row * inner + j;
    const float invStd = 1.0f / sqrt(runningVar[c] + epsilon);
    y[i] = bn_relu(relu, (x[i] - runningMean[c]) * invStd * gamma[c] + beta[c]);
}

// Per channel c (one work-group each): dBeta = Σ dy, dGamma = Σ dy·xhat with
// xhat = (x − mean)·invStd.
__kernel __attribute__((reqd_work_group_size(BN_GROUP_SIZE, 1, 1)))
void batchnorm_backward_reduce(const int outer, const int channels, const int inner,
                               __global const float* x, __global const float* dy,
                               __global const float* savedMean, __global const float* savedInvStd,
                               __global float* dGamma, __global float* dBeta, const int relu,
                               __global const float* y) {
    __local float scratch[BN_GROUP_SIZE];
    const int c = get_group_id(0), lid = get_local_id(0), m = outer * inner;
    const float mean = savedMean[c];
    float sumDy = 0.0f, sumDyCentered = 0.0f;
    FOR_CHANNEL_SHARE(e, {
        const float g = bn_gradient(relu, dy, y, e);
        sumDy += g;
        sumDyCentered += g * (x[e] - mean);
    })
    const float totalDy = group_sum(sumDy, scratch);
    const float totalDyCentered = group_sum(sumDyCentered, scratch);
    if (lid == 0) {
        dBeta[c] = totalDy;
        dGamma[c] = totalDyCentered * savedInvStd[c];
    }
}

// dx = gamma·invStd/M · (M·dy − dBeta − xhat·dGamma): the gradient through the batch
// statistics, with dGamma and dBeta from batchnorm_backward_reduce.
__kernel void batchnorm_backward_data(const int rows, const int channels, const int inner,
                                      const int m, __global const float* x, __global const float* dy,
                                      __global const float* savedMean,
                                      __global const float* savedInvStd, __global const float* gamma,
                                      __global const float* dGamma, __global const float* dBeta,
                                      __global float* dx, const int relu, __global const float* y) {
    const int j = get_global_id(0), row = get_global_id(1);
    if (j >= inner || row >= rows) return;
    const int c = row % channels, i = row * inner + j;
    const float invStd = savedInvStd[c];
    const float xhat = (x[i] - savedMean[c]) * invStd;
    dx[i] = gamma[c] * invStd / (float)m * ((float)m * bn_gradient(relu, dy, y, i) - dBeta[c] - xhat * dGamma[c]);
}
