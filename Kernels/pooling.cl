// pooling.cl: 2-D max and average pooling, forward and backward, adaptive average pooling, and
// global average pooling.
//
// Layout: NCHW Float32. Every (n, c) pair is an independent "plane" of inH×inW input pixels
// and outH×outW outputs; kernels index planes as p = n·C + c. Output (oh, ow) covers input rows
// oh·strideH − padTop … + windowH − 1 and columns ow·strideW − padLeft … + windowW − 1; padded
// positions never take part in a maximum and count as zeros in an average.
//
// Max pooling saves, per output, the flat index ih·inW + iw (within its plane) of the first
// maximum in row-major window order; NaN wins, as in PyTorch. The backward passes are gathers:
// one work-item per input pixel sums the gradients of the outputs whose window covers it, in
// ascending output order, so results are deterministic and need no atomics.
//
// The 2-D max and average kernels run on a 2-D range of work-groups (pixel tile, plane): the
// POOL_WG work-items of a group take POOL_ITEMS turns over the flattened pixels (oh·outW + ow
// forward, ih·inW + iw backward) of one plane, so at every turn consecutive work-items touch
// consecutive outputs and neighbouring windows, which overlap, are read while in cache. Adaptive
// pooling runs on a 3-D range (width, height, planes); global average pooling on (planes)
// forward and (pixel, plane) backward.
//
// Tunables (pooling family of MemoryBoundTunables.swift, set by -D): POOL_WG work-items per
// group, POOL_ITEMS pixels per work-item.

#ifndef POOL_WG
#define POOL_WG 64
#endif
#ifndef POOL_ITEMS
#define POOL_ITEMS 1
#endif

// Runs the body (the variadic tail, so that its commas need no parentheses) with (row, col, plane) for each of this work-item's pixels of a rows×cols plane.
#define FOR_EACH_PIXEL(row, col, p, rows, cols, ...)                                        \
    for (int k_ = 0; k_ < POOL_ITEMS; ++k_) {                                                \
        const int i_ = ((int)get_group_id(0) * POOL_ITEMS + k_) * POOL_WG + (int)get_local_id(0); \
        const int p = get_group_id(1);                                                       \
        if (i_ < (rows) * (cols)) { const int row = i_ / (cols), col = i_ - row * (cols); __VA_ARGS__ } \
    }

// The window geometry shared by every pooling kernel, in argument order.
#define POOL_GEOMETRY_ARGS \
    const int planes, const int inH, const int inW, const int outH, const int outW, \
    const int windowH, const int windowW, const int strideH, const int strideW, \
    const int padTop, const int padLeft, const int padBottom, const int padRight

// The backward gathers visit, along each axis, the `span` = ceil(window / stride) outputs
// last − span + 1 … last, where last = (i + pad) / stride is the last output whose window
// starts at or before i; those outside the output or whose window ends before i are skipped.
// The trip count is the same for every work-item (no divergence, no division per output).
inline int covering_span(int window, int stride) { return (window - 1) / stride + 1; }

inline bool covers(int o, int i, int pad, int window, int stride, int outSize) {
    return o >= 0 && o < outSize && o * stride - pad + window > i;
}

// Maximum of one window; returns the flat index of the winner within the plane.
inline int window_argmax(__global const float* plane, int oh, int ow, int inH, int inW,
                         int windowH, int windowW, int strideH, int strideW, int padTop,
                         int padLeft, float* best) {
    const int h0 = max(oh * strideH - padTop, 0), h1 = min(oh * strideH - padTop + windowH, inH);
    const int w0 = max(ow * strideW - padLeft, 0), w1 = min(ow * strideW - padLeft + windowW, inW);
    int index = h0 * inW + w0;
    float m = -INFINITY;
    for (int ih = h0; ih < h1; ++ih) {
        for (int iw = w0; iw < w1; ++iw) {
            const float v = plane[ih * inW + iw];
            if (v > m || isnan(v)) { m = v; index = ih * inW + iw; }
        }
    }
    *best = m;
    return index;
}

// The divisor of one average window: the window clipped to the padded input (as PyTorch
// does), or only its real pixels when padding is excluded.
inline float window_divisor(int oh, int ow, int inH, int inW, int windowH, int windowW,
                            int strideH, int strideW, int padTop, int padLeft, int padBottom,
                            int padRight, int includePadding) {
    int h0 = oh * strideH - padTop, h1 = min(h0 + windowH, inH + padBottom);
    int w0 = ow * strideW - padLeft, w1 = min(w0 + windowW, inW + padRight);
    if (includePadding) return (float)((h1 - h0) * (w1 - w0));
    h0 = max(h0, 0); w0 = max(w0, 0); h1 = min(h1, inH); w1 = min(w1, inW);
    return (float)((h1 - h0) * (w1 - w0));
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_forward(POOL_GEOMETRY_ARGS, __global const float* x, __global float* y) {
    FOR_EACH_PIXEL(oh, ow, p, outH, outW, {
        float best;
        window_argmax(x + (size_t)p * inH * inW, oh, ow, inH, inW, windowH, windowW, strideH, strideW,
                      padTop, padLeft, &best);
        y[((size_t)p * outH + oh) * outW + ow] = best;
    })
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_forward_indexed(POOL_GEOMETRY_ARGS, __global const float* x, __global float* y,
                              __global int* indices) {
    FOR_EACH_PIXEL(oh, ow, p, outH, outW, {
        float best;
        const int index = window_argmax(x + (size_t)p * inH * inW, oh, ow, inH, inW, windowH, windowW,
                                        strideH, strideW, padTop, padLeft, &best);
        const size_t o = ((size_t)p * outH + oh) * outW + ow;
        y[o] = best;
        indices[o] = index;
    })
}

// dx[p, ih, iw] = Σ dy[p, oh, ow] over covering outputs whose saved index is (ih, iw).
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void max_pool_backward_gather(POOL_GEOMETRY_ARGS, __global const float* dy, __global const int* indices,
                              __global float* dx) {
    FOR_EACH_PIXEL(ih, iw, p, inH, inW, {
        const int self = ih * inW + iw;
        const int ohLast = (ih + padTop) / strideH, owLast = (iw + padLeft) / strideW;
        const int spanH = covering_span(windowH, strideH), spanW = covering_span(windowW, strideW);
        const size_t base = (size_t)p * outH * outW;
        float sum = 0.0f;
        for (int a = spanH - 1; a >= 0; --a) {
            const int oh = ohLast - a;
            if (!covers(oh, ih, padTop, windowH, strideH, outH)) continue;
            for (int b = spanW - 1; b >= 0; --b) {
                const int ow = owLast - b;
                if (!covers(ow, iw, padLeft, windowW, strideW, outW)) continue;
                const size_t o = base + oh * outW + ow;
                if (indices[o] == self) sum += dy[o];
            }
        }
        dx[(size_t)p * inH * inW + self] = sum;
    })
}

__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void avg_pool_forward(POOL_GEOMETRY_ARGS, const int includePadding, __global const float* x, __global float* y) {
    FOR_EACH_PIXEL(oh, ow, p, outH, outW, {
        __global const float* plane = x + (size_t)p * inH * inW;
        const int h0 = max(oh * strideH - padTop, 0), h1 = min(oh * strideH - padTop + windowH, inH);
        const int w0 = max(ow * strideW - padLeft, 0), w1 = min(ow * strideW - padLeft + windowW, inW);
        float sum = 0.0f;
        for (int ih = h0; ih < h1; ++ih)
            for (int iw = w0; iw < w1; ++iw) sum += plane[ih * inW + iw];
        y[((size_t)p * outH + oh) * outW + ow] =
            sum / window_divisor(oh, ow, inH, inW, windowH, windowW, strideH, strideW, padTop, padLeft,
                                 padBottom, padRight, includePadding);
    })
}

// dx[p, ih, iw] = Σ dy[p, oh, ow] / divisor(oh, ow) over the outputs whose window covers it.
__kernel __attribute__((reqd_work_group_size(POOL_WG, 1, 1)))
void avg_pool_backward_gather(POOL_GEOMETRY_ARGS, const int includePadding, __global const float* dy,
                              __global float* dx) {
    FOR_EACH_PIXEL(ih, iw, p, inH, inW, {
        const int ohLast = (ih + padTop) / strideH, owLast = (iw + padLeft) / strideW;
        const int spanH = covering_span(windowH, strideH), spanW = covering_span(windowW, strideW);
        const size_t base = (size_t)p * outH * outW;
        float sum = 0.0f;
        for (int a = spanH - 1; a >= 0; --a) {
            const int oh = ohLast - a;
            if (!covers(oh, ih, padTop, windowH, strideH, outH)) continue;
            for (int b = spanW - 1; b >= 0; --b) {
                const int ow = owLast - b;
                if (!covers(ow, iw, padLeft, windowW, strideW, outW)) continue;
                sum += dy[base + oh * outW + ow]
                     / window_divisor(oh, ow, inH, inW, windowH, windowW, strideH, strideW, padTop,
                                      padLeft, padBottom, padRight, includePadding);
            }
        }
        dx[(size_t)p * inH * inW + ih * inW + iw] = sum;
    })
}

// Adaptive average pooling, as PyTorch's AdaptiveAvgPool2d: along an axis of inSize pixels
// pooled to outSize cells, cell o averages pixels adaptive_start(o, inSize, outSize) …
// adaptive_end(o, inSize, outSize) − 1, that is ⌊o·inSize/outSize⌋ … ⌈(o+1)·inSize/outSize⌉ − 1.
// Windows overlap and differ in size where outSize does not divide inSize, and outSize > inSize
// is allowed. Pixel i lies in the windows of cells ⌊i·outSize/inSize⌋ … ⌈(i+1)·outSize/inSize⌉ − 1
// (the same bounds with the sizes swapped), which the backward gather walks. The products are
// 64-bit: o·inSize can pass INT_MAX where every tensor is indexable with int.
inline int adaptive_start(int o, int inSize, int outSize) { return (int)((long)o * inSize / outSize); }
inline int adaptive_end(int o, int inSize, int outSize) {
    return (int)(((long)(o + 1) * inSize + outSize - 1) / outSize);
}

__kernel void adaptive_avg_pool_forward(const int planes, const int inH, const int inW,
                                        const int outH, const int outW,
                                        __global const float* x, __global float* y) {
    const int ow = get_global_id(0), oh = get_global_id(1), p = get_global_id(2);
    if (ow >= outW || oh >= outH || p >= planes) return;
    __global const float* plane = x + (size_t)p * inH * inW;
    const int h0 = adaptive_start(oh, inH, outH), h1 = adaptive_end(oh, inH, outH);
    const int w0 = adaptive_start(ow, inW, outW), w1 = adaptive_end(ow, inW, outW);
    float sum = 0.0f;
    for (int ih = h0; ih < h1; ++ih)
        for (int iw = w0; iw < w1; ++iw) sum += plane[ih * inW + iw];
    y[((size_t)p * outH + oh) * outW + ow] = sum / (float)((h1 - h0) * (w1 - w0));
}

// dx[p, ih, iw] = Σ dy[p, oh, ow] / (size of (oh, ow)'s window) over the cells whose window
// holds (ih, iw), in ascending order.
__kernel void adaptive_avg_pool_backward_gather(const int planes, const int inH, const int inW,
                                                const int outH, const int outW,
                                                __global const float* dy, __global float* dx) {
    const int iw = get_global_id(0), ih = get_global_id(1), p = get_global_id(2);
    if (iw >= inW || ih >= inH || p >= planes) return;
    const int oh0 = adaptive_start(ih, outH, inH), oh1 = adaptive_end(ih, outH, inH);
    const int ow0 = adaptive_start(iw, outW, inW), ow1 = adaptive_end(iw, outW, inW);
    __global const float* grad = dy + (size_t)p * outH * outW;
    float sum = 0.0f;
    for (int oh = oh0; oh < oh1; ++oh) {
        const int rows = adaptive_end(oh, inH, outH) - adaptive_start(oh, inH, outH);
        for (int ow = ow0; ow < ow1; ++ow) {
            const int columns = adaptive_end(ow, inW, outW) - adaptive_start(ow, inW, outW);
            sum += grad[oh * outW + ow] / (float)(rows * columns);
        }
    }
    dx[((size_t)p * inH + ih) * inW + iw] = sum;
}

// y[p] = mean of the `spatial` pixels of plane p; one work-item per plane.
__kernel void global_avg_pool_forward(const int planes, const int spatial,
                                      __global const float* x, __global float* y) {
    const int p = get_global_id(0);
    if (p >= planes) return;
    __global const float* plane = x + (size_t)p * spatial;
    float sum = 0.0f;
    for (int i = 0; i < spatial; ++i) sum += plane[i];
    y[p] = sum / (float)spatial;
}

// dx[p, i] = dy[p] / spatial; one work-item per input pixel on a 2-D range (i, p).
__kernel void global_avg_pool_backward(const int planes, const int spatial,
                                       __global const float* dy, __global float* dx) {
    const int i = get_global_id(0), p = get_global_id(1);
    if (i >= spatial || p >= planes) return;
    dx[(size_t)p * spatial + i] = dy[p] / (float)spatial;
}
