#ifndef CNN_COL2IM_BACKWARD_DATA_H
#define CNN_COL2IM_BACKWARD_DATA_H

/// Backward-data of a stride-1, undilated, ungrouped convolution as a GEMM and a col2im, for
/// one image: `col[ci·kh·kw + i·kw + j][p] = Σ_oc w[oc][ci][i][j] · dy[oc][p]` over dy's pixels
/// p, then `dx[ci][oh + i - padTop][ow + j - padLeft] += col[…][oh·outW + ow]`. Unlike the
/// forward kernel run over dy padded by kh-1-pad (blocked_convolution.h), no multiply-add
/// meets padding: when dy is much smaller than dx (LeNet's conv2: 10² against 14², 49% of the
/// padded form's work on zeros) this does about half the multiply-adds. The col2im gathers
/// each dx row from column-matrix rows shifted by whole pixels, so it adds vectors, never
/// scatters scalars. Each call picks the build for the instruction set `cnn_cpu_isa_active`
/// names (AVX-512, AVX2+FMA, baseline).

/// Floats `cnn_col2im_pack_weights` writes for a forward convolution of `outC` output and
/// `inC` input channels with `kh × kw` kernels.
long cnn_col2im_weight_count(long outC, long inC, long kh, long kw);

/// Packs the forward weights `w[oc][ci][i][j]` for `cnn_col2im_backward_data`: blocks of 6
/// column-matrix rows, `[rows/6][oc][6]`, zero past `inC·kh·kw` rows.
void cnn_col2im_pack_weights(const float *w, long outC, long inC, long kh, long kw, float *packed);

/// Floats of scratch `cnn_col2im_backward_data` needs (a copy of dy and the column matrix).
long cnn_col2im_scratch_count(long outC, long inC, long kh, long kw, long outH, long outW);

/// `dx[ci][ih][iw] = Σ_{oc,i,j} w[oc][ci][i][j] · dy[oc][ih + padTop - i][iw + padLeft - j]`
/// (terms outside dy dropped) for one image: dy `[outC][outH][outW]`, dx `[inC][inH][inW]`
/// (overwritten), `packed` from `cnn_col2im_pack_weights`, `scratch` 64-byte aligned with
/// `cnn_col2im_scratch_count` floats. Needs `outW = inW + padLeft + padRight - kw + 1` for
/// some padRight >= 0 (a stride-1 convolution's shapes), likewise for the rows.
void cnn_col2im_backward_data(const float *dy, const float *packed, long outC, long inC, long kh, long kw,
                              long outH, long outW, long inH, long inW, long padTop, long padLeft, float *dx,
                              float *scratch);

#endif
