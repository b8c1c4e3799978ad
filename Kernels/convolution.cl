// convolution.cl: 2-D convolution, two algorithms (OpenCLBackend+Convolution.swift picks one):
// - im2col + GEMM: the data-rearranging halves are here (im2col, col2im_gather, pack_images,
//   unpack_images); the GEMMs run in CLBlast (see Im2ColConvolution.swift);
// - direct (conv_direct_*): one work-item per output row, input-gradient row or weight, with
//   inner loops along contiguous rows (which a CPU device vectorizes).
//
// Layout: x is NCHW; a chunk of `images` images starts at image `first_image`. The column
// matrix of a chunk is [C·kH·kW, images·outH·outW]: row r = (c·kH + kh)·kW + kw, column
// n·P + oh·outW + ow (P = outH·outW), so the images of a chunk sit side by side and each group
// (a contiguous block of rows) is one wide GEMM. pack_images / unpack_images move an NCHW
// tensor (y or dy) to and from the same [C, images·P] layout.
//
// Padding is explicit per side (pad_top, pad_left; the bottom and right padding only show up
// in out_h and out_w), so asymmetric and "same" padding need nothing special here.
//
// The forward passes end in a fused epilogue, y = activation(conv + bias): the direct kernel
// applies it to the row it has just accumulated, and the im2col path applies it in
// unpack_images (or, where nothing is unpacked, in bias_activation right after the GEMM).
// `has_bias` 0 means no bias (the bias argument is then any buffer, unread); activation codes are activation_function.cl's (ACT_NONE for none).
//
// No tunable parameters. Every kernel uses a 3-D range over the natural axes of what it
// writes, so integer division (slow: PoCL runs work-items as vector lanes of a CPU) stays at
// a few per work-item.

// col[r][n·P + oh·outW + ow] = x[n][c][oh·stride_h - pad_top + kh·dil_h][ow·stride_w - pad_left + kw·dil_w],
// or 0 in the padding. Each work-item writes the kH·kW rows of one channel c at one output
// pixel. Range: [out_w, out_h, channels·images], third index c·images + n.
__kernel void im2col(const int images, const int channels, const int height, const int width,
                     const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                     const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                     const int out_h, const int out_w, const int first_image,
                     __global const float* x, __global float* col) {
    const int ow = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
    if (ow >= out_w || oh >= out_h || z >= channels * images) return;
    // Quotient and remainder as q = a / b, r = a - q·b: LLVM turns a / and % pair into a
    // `freeze` that oclgrind's uninitialized-value checker cannot interpret.
    const int c = z / images;
    const int n = z - c * images;
    __global const float* plane = x + ((first_image + n) * channels + c) * height * width;
    const int row_length = images * out_h * out_w;    // one row of the column matrix
    __global float* out = col + c * kernel_h * kernel_w * row_length + (n * out_h + oh) * out_w + ow;
    const int ih0 = oh * stride_h - pad_top, iw0 = ow * stride_w - pad_left;
    for (int kh = 0; kh < kernel_h; ++kh) {
        const int ih = ih0 + kh * dil_h;
        const bool row_inside = ih >= 0 && ih < height;
        for (int kw = 0; kw < kernel_w; ++kw) {
            const int iw = iw0 + kw * dil_w;
            out[(kh * kernel_w + kw) * row_length] =
                row_inside && iw >= 0 && iw < width ? plane[ih * width + iw] : 0.0f;
        }
    }
}

// The adjoint of im2col, as a gather: dx[first_image + n][c][h][w] = the sum of every column
// entry that im2col copied from (h, w). No atomics, so the sum order is fixed and results are
// deterministic. Overwrites dx. Range: [width, height, images·channels], third index n·C + c.
//
// Input row h is read by (kh, oh) with h + pad_top = oh·stride_h + kh·dil_h. Walking kh up,
// oh and the remainder are updated by subtraction, so the loops divide nothing.
__kernel void col2im_gather(const int images, const int channels, const int height, const int width,
                            const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                            const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                            const int out_h, const int out_w, const int first_image,
                            __global const float* col, __global float* dx) {
    const int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    if (w >= width || h >= height || nc >= images * channels) return;
    const int n = nc / channels;
    const int c = nc - n * channels;
    const int row_length = images * out_h * out_w;
    __global const float* image_col = col + c * kernel_h * kernel_w * row_length + n * out_h * out_w;
    const int dq_h = dil_h / stride_h, dr_h = dil_h - dq_h * stride_h;
    const int dq_w = dil_w / stride_w, dr_w = dil_w - dq_w * stride_w;
    const int oh0 = (h + pad_top) / stride_h, rem_h0 = h + pad_top - oh0 * stride_h;
    const int ow0 = (w + pad_left) / stride_w, rem_w0 = w + pad_left - ow0 * stride_w;
    float sum = 0.0f;
    int oh = oh0, rem_h = rem_h0;
    for (int kh = 0; kh < kernel_h && oh >= 0; ++kh) {
        if (rem_h == 0 && oh < out_h) {
            int ow = ow0, rem_w = rem_w0;
            for (int kw = 0; kw < kernel_w && ow >= 0; ++kw) {
                if (rem_w == 0 && ow < out_w) {
                    sum += image_col[(kh * kernel_w + kw) * row_length + oh * out_w + ow];
                }
                ow -= dq_w;
                rem_w -= dr_w;
                if (rem_w < 0) { rem_w += stride_w; ow -= 1; }
            }
        }
        oh -= dq_h;
        rem_h -= dr_h;
        if (rem_h < 0) { rem_h += stride_h; oh -= 1; }
    }
    dx[(((first_image + n) * channels + c) * height + h) * width + w] = sum;
}

// packed[dst_offset + (r·images + n)·length + i] = src[((first_image + n)·rows + r)·length + i].
// Range: [length, rows, images].
__kernel void pack_images(const int rows, const int length, const int images, const int first_image,
                          __global const float* src, __global float* packed, const int dst_offset) {
    const int i = get_global_id(0), r = get_global_id(1), n = get_global_id(2);
    if (i >= length || r >= rows || n >= images) return;
    packed[dst_offset + (r * images + n) * length + i] = src[((first_image + n) * rows + r) * length + i];
}

#include "activation_function.cl"

// The inverse of pack_images, with the forward pass's epilogue on the way (row r is output
// channel r): dst = activation(packed + bias[r]). Range: [length, rows, images].
__kernel void unpack_images(const int rows, const int length, const int images, const int first_image,
                            __global const float* packed, const int src_offset, __global float* dst,
                            const int has_bias, __global const float* bias, const int code, const float alpha) {
    const int i = get_global_id(0), r = get_global_id(1), n = get_global_id(2);
    if (i >= length || r >= rows || n >= images) return;
    const float v = packed[src_offset + (r * images + n) * length + i] + (has_bias ? bias[r] : 0.0f);
    dst[((first_image + n) * rows + r) * length + i] = activate(code, alpha, v);
}

// The im2col path's epilogue where no unpacking runs (a chunk of one image, a pointwise
// convolution), in place on images first_image ..< first_image + images of y
// ([N, channels, length]): y = activation(y + bias[c]). Range: [length, channels, images].
__kernel void bias_activation(const int channels, const int length, const int images, const int first_image,
                              const int has_bias, __global const float* bias, const int code, const float alpha,
                              __global float* y) {
    const int i = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (i >= length || c >= channels || n >= images) return;
    const int e = ((first_image + n) * channels + c) * length + i;
    y[e] = activate(code, alpha, y[e] + (has_bias ? bias[c] : 0.0f));
}

// ---- Direct convolution: for layers whose GEMM would be badly shaped (few output channels
// per group, e.g. depthwise or a first layer with 6 filters), where a GEMM library pads the
// matrices to its tile size and wastes most of its work. Same layouts as above; weights OIHW
// with C/groups input channels each.

// y[n][o][oh][ow] = activation(Σ_{ci, kh, kw} x[n][g·cg + ci][ih][iw] · w[o][ci][kh][kw] + bias[o]).
// One work-item per output row: its inner loop runs along the row over contiguous memory
// with no reduction, which a CPU compiler vectorizes (a per-pixel dot product it cannot,
// without reassociating the float sum). Range: [out_h, out_channels, batch].
__kernel void conv_direct_forward(const int batch, const int channels, const int height, const int width,
                                  const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                                  const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                                  const int out_h, const int out_w, const int out_channels, const int groups,
                                  __global const float* restrict x, __global const float* restrict weight,
                                  __global float* restrict y, const int has_bias, __global const float* bias,
                                  const int code, const float alpha) {
    const int oh = get_global_id(0), o = get_global_id(1), n = get_global_id(2);
    if (oh >= out_h || o >= out_channels || n >= batch) return;
    const int cg = channels / groups;
    const int g = o / (out_channels / groups);
    __global const float* image = x + (n * channels + g * cg) * height * width;
    __global const float* filter = weight + o * cg * kernel_h * kernel_w;
    __global float* out = y + ((n * out_channels + o) * out_h + oh) * out_w;
    for (int ow = 0; ow < out_w; ++ow) out[ow] = 0.0f;
    for (int kw = 0; kw < kernel_w; ++kw) {
        // The output columns whose input column ow·stride_w + off lies inside the image.
        const int off = kw * dil_w - pad_left;
        const int lo = off >= 0 ? 0 : (stride_w - 1 - off) / stride_w;
        const int hi = min(out_w, width - 1 - off < 0 ? 0 : (width - 1 - off) / stride_w + 1);
        for (int ci = 0; ci < cg; ++ci) {
            for (int kh = 0; kh < kernel_h; ++kh) {
                const int ih = oh * stride_h - pad_top + kh * dil_h;
                if (ih < 0 || ih >= height) continue;
                const float wv = filter[(ci * kernel_h + kh) * kernel_w + kw];
                const int row = (ci * height + ih) * width + off;
                for (int ow = lo; ow < hi; ++ow) out[ow] += wv * image[row + ow * stride_w];
            }
        }
    }
    // The epilogue, while the row is still in cache.
    const float b = has_bias ? bias[o] : 0.0f;
    for (int ow = 0; ow < out_w; ++ow) out[ow] = activate(code, alpha, out[ow] + b);
}

// dx[n][c][h][w] = Σ over the output pixels (oh, ow) and channels o of c's group that read
// (h, w) of dy[n][o][oh][ow] · w[o][c - g·cg][kh][kw]. One work-item per input row, which it
// owns: it adds each contribution along the row (no atomics, fixed order, vectorizable as in
// conv_direct_forward). Overwrites dx. Range: [height, channels, batch].
__kernel void conv_direct_backward_data(const int batch, const int channels, const int height, const int width,
                                        const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                                        const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                                        const int out_h, const int out_w, const int out_channels, const int groups,
                                        __global const float* restrict dy, __global const float* restrict weight,
                                        __global float* restrict dx) {
    const int h = get_global_id(0), c = get_global_id(1), n = get_global_id(2);
    if (h >= height || c >= channels || n >= batch) return;
    const int cg = channels / groups, og = out_channels / groups;
    const int g = c / cg;
    const int ci = c - g * cg;
    __global float* out = dx + ((n * channels + c) * height + h) * width;
    for (int w = 0; w < width; ++w) out[w] = 0.0f;
    for (int kh = 0; kh < kernel_h; ++kh) {
        const int hp = h + pad_top - kh * dil_h;     // = oh·stride_h when (h, kh) is used
        if (hp < 0) break;                           // hp only decreases with kh
        const int oh = hp / stride_h;
        if (oh * stride_h != hp || oh >= out_h) continue;
        for (int kw = 0; kw < kernel_w; ++kw) {
            const int off = kw * dil_w - pad_left;   // input column = ow·stride_w + off
            const int lo = off >= 0 ? 0 : (stride_w - 1 - off) / stride_w;
            const int hi = min(out_w, width - 1 - off < 0 ? 0 : (width - 1 - off) / stride_w + 1);
            for (int oc = 0; oc < og; ++oc) {
                const int o = g * og + oc;
                const float wv = weight[((o * cg + ci) * kernel_h + kh) * kernel_w + kw];
                __global const float* grad = dy + ((n * out_channels + o) * out_h + oh) * out_w;
                for (int ow = lo; ow < hi; ++ow) out[ow * stride_w + off] += wv * grad[ow];
            }
        }
    }
}

// dw[o][ci][kh][kw] = Σ_{n, oh, ow} x[n][g·cg + ci][ih][iw] · dy[n][o][oh][ow], over the output
// pixels whose input (ih, iw) lies inside the image. One work-item per weight; with stride 1
// it sums eight columns at a time in a float8 (a fixed order, so still deterministic).
// Range: [kernel_w, kernel_h, out_channels·cg], third index o·cg + ci.
__kernel void conv_direct_backward_filter(const int batch, const int channels, const int height, const int width,
                                          const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                                          const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                                          const int out_h, const int out_w, const int out_channels, const int groups,
                                          __global const float* restrict x, __global const float* restrict dy,
                                          __global float* restrict dw) {
    const int kw = get_global_id(0), kh = get_global_id(1), z = get_global_id(2);
    const int cg = channels / groups;
    if (kw >= kernel_w || kh >= kernel_h || z >= out_channels * cg) return;
    const int o = z / cg;
    const int ci = z - o * cg;
    const int g = o / (out_channels / groups);
    // Output rows with 0 <= oh·stride_h + off_h < height, and likewise for columns.
    const int off_h = kh * dil_h - pad_top, off_w = kw * dil_w - pad_left;
    const int oh_lo = off_h >= 0 ? 0 : (stride_h - 1 - off_h) / stride_h;
    const int oh_hi = min(out_h, height - 1 - off_h < 0 ? 0 : (height - 1 - off_h) / stride_h + 1);
    const int ow_lo = off_w >= 0 ? 0 : (stride_w - 1 - off_w) / stride_w;
    const int ow_hi = min(out_w, width - 1 - off_w < 0 ? 0 : (width - 1 - off_w) / stride_w + 1);
    float8 sum8 = (float8)(0.0f);
    float sum = 0.0f;
    for (int n = 0; n < batch; ++n) {
        __global const float* plane = x + (n * channels + g * cg + ci) * height * width;
        __global const float* grad = dy + (n * out_channels + o) * out_h * out_w;
        for (int oh = oh_lo; oh < oh_hi; ++oh) {
            const int row = (oh * stride_h + off_h) * width + off_w;
            int ow = ow_lo;
            if (stride_w == 1) {
                for (; ow + 8 <= ow_hi; ow += 8) {
                    sum8 += vload8(0, plane + row + ow) * vload8(0, grad + oh * out_w + ow);
                }
            }
            for (; ow < ow_hi; ++ow) sum += plane[row + ow * stride_w] * grad[oh * out_w + ow];
        }
    }
    const float4 s4 = sum8.lo + sum8.hi;
    const float2 s2 = s4.lo + s4.hi;
    dw[(z * kernel_h + kh) * kernel_w + kw] = sum + s2.x + s2.y;
}
