// convolution.cl: the data-rearranging halves of 2-D convolution by GEMM (the GEMMs
// themselves run in CLBlast).
//
// Layout: x is NCHW (a chunk of `images` images starting at element `x_offset`); weights are
// OIHW with groups splitting the channels into contiguous blocks. The column matrix of one
// image is [C·kH·kW, outH·outW], row r = (c·kH + kh)·kW + kw, column p = oh·outW + ow, so
// group g's rows are the contiguous block [g·(C/groups)·kH·kW, (g+1)·(C/groups)·kH·kW) and
// W_g · col_g is that group's output. Images follow each other in the column buffer.
//
// Padding is explicit per side (pad_top, pad_left; the bottom and right padding only show
// up in out_h and out_w), so asymmetric and "same" padding need nothing special here.
//
// No tunable parameters: both kernels are one work-item per output element.

// col[n][r][p] = x[n][c][oh·stride_h - pad_top + kh·dil_h][ow·stride_w - pad_left + kw·dil_w],
// or 0 in the padding. One work-item per column element.
__kernel void im2col(const int images, const int channels, const int height, const int width,
                     const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                     const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                     const int out_h, const int out_w,
                     __global const float* x, const int x_offset, __global float* col) {
    const int pixels = out_h * out_w;
    const int rows = channels * kernel_h * kernel_w;
    const int i = get_global_id(0);
    if (i >= images * rows * pixels) return;
    // Quotients and remainders as q = a / b, r = a - q·b: LLVM turns a / and % pair into a
    // `freeze` that oclgrind's uninitialized-value checker cannot interpret.
    const int t = i / pixels;
    const int p = i - t * pixels;
    const int n = t / rows;
    const int r = t - n * rows;
    const int q = r / kernel_w;
    const int kw = r - q * kernel_w;
    const int c = q / kernel_h;
    const int kh = q - c * kernel_h;
    const int oh = p / out_w;
    const int ih = oh * stride_h - pad_top + kh * dil_h;
    const int iw = (p - oh * out_w) * stride_w - pad_left + kw * dil_w;
    float v = 0.0f;
    if (ih >= 0 && ih < height && iw >= 0 && iw < width) {
        v = x[x_offset + ((n * channels + c) * height + ih) * width + iw];
    }
    col[i] = v;
}

// The adjoint of im2col, as a gather: dx[n][c][h][w] = the sum of every column entry that
// im2col copied from (h, w). One work-item per input element; no atomics, so the sum order
// is fixed and results are deterministic. Overwrites dx.
__kernel void col2im_gather(const int images, const int channels, const int height, const int width,
                            const int kernel_h, const int kernel_w, const int stride_h, const int stride_w,
                            const int pad_top, const int pad_left, const int dil_h, const int dil_w,
                            const int out_h, const int out_w,
                            __global const float* col, __global float* dx, const int dx_offset) {
    const int i = get_global_id(0);
    if (i >= images * channels * height * width) return;
    const int t = i / width;                      // quotient/remainder pairs as in im2col
    const int w = i - t * width;
    const int nc = t / height;                    // n·channels + c
    const int h = t - nc * height;
    const int n = nc / channels;
    const int c = nc - n * channels;
    const int pixels = out_h * out_w;
    __global const float* image_col = col + (n * channels + c) * kernel_h * kernel_w * pixels;
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
            sum += image_col[(kh * kernel_w + kw) * pixels + oh * out_w + ow];
        }
    }
    dx[dx_offset + i] = sum;
}
