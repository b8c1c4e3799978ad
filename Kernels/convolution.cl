// convolution.cl: the data-rearranging halves of 2-D convolution by GEMM (the GEMMs
// themselves run in CLBlast; see Im2ColConvolution.swift for the algorithm).
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
// No tunable parameters. All kernels use a 3-D range whose first two dimensions index
// contiguous memory, so work-items need no integer division there (slow on CPUs, where
// PoCL hoists the third dimension's divisions out of its work-item loops).

// col[r][n·P + oh·outW + ow] = x[n][c][oh·stride_h - pad_top + kh·dil_h][ow·stride_w - pad_left + kw·dil_w],
// or 0 in the padding. Range: [out_w, out_h, rows·images], third index r·images + n.
__kernel void im2col(const int images, const int channels, const int height, const int width,
                     const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                     const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                     const int out_h, const int out_w, const int first_image,
                     __global const float* x, __global float* col) {
    const int ow = get_global_id(0), oh = get_global_id(1), z = get_global_id(2);
    if (ow >= out_w || oh >= out_h || z >= channels * kernel_h * kernel_w * images) return;
    // Quotients and remainders as q = a / b, r = a - q·b: LLVM turns a / and % pair into a
    // `freeze` that oclgrind's uninitialized-value checker cannot interpret.
    const int r = z / images;
    const int n = z - r * images;
    const int q = r / kernel_w;
    const int kw = r - q * kernel_w;
    const int c = q / kernel_h;
    const int kh = q - c * kernel_h;
    const int ih = oh * stride_h - pad_top + kh * dil_h;
    const int iw = ow * stride_w - pad_left + kw * dil_w;
    float v = 0.0f;
    if (ih >= 0 && ih < height && iw >= 0 && iw < width) {
        v = x[(((first_image + n) * channels + c) * height + ih) * width + iw];
    }
    col[(z * out_h + oh) * out_w + ow] = v;
}

// The adjoint of im2col, as a gather: dx[first_image + n][c][h][w] = the sum of every column
// entry that im2col copied from (h, w). No atomics, so the sum order is fixed and results are
// deterministic. Overwrites dx. Range: [width, height, images·channels], third index n·C + c.
__kernel void col2im_gather(const int images, const int channels, const int height, const int width,
                            const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                            const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                            const int out_h, const int out_w, const int first_image,
                            __global const float* col, __global float* dx) {
    const int w = get_global_id(0), h = get_global_id(1), nc = get_global_id(2);
    if (w >= width || h >= height || nc >= images * channels) return;
    const int n = nc / channels;
    const int c = nc - n * channels;
    const int pixels = out_h * out_w;
    const int row_length = images * pixels;
    __global const float* image_col = col + c * kernel_h * kernel_w * row_length + n * pixels;
    float sum = 0.0f;
    for (int kh = 0; kh < kernel_h; ++kh) {
        const int hp = h + pad_top - kh * dil_h;  // = oh·stride_h when (h, kh) is used
        if (hp < 0) break;                        // hp only decreases with kh
        const int oh = hp / stride_h;
        if (oh * stride_h != hp || oh >= out_h) continue;
        for (int kw = 0; kw < kernel_w; ++kw) {
            const int wp = w + pad_left - kw * dil_w;
            if (wp < 0) break;
            const int ow = wp / stride_w;
            if (ow * stride_w != wp || ow >= out_w) continue;
            sum += image_col[(kh * kernel_w + kw) * row_length + oh * out_w + ow];
        }
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

// The inverse of pack_images. Range: [length, rows, images].
__kernel void unpack_images(const int rows, const int length, const int images, const int first_image,
                            __global const float* packed, const int src_offset, __global float* dst) {
    const int i = get_global_id(0), r = get_global_id(1), n = get_global_id(2);
    if (i >= length || r >= rows || n >= images) return;
    dst[((first_image + n) * rows + r) * length + i] = packed[src_offset + (r * images + n) * length + i];
}
