#ifndef CNN_CHANNEL_VECTOR_CONVOLUTION_H
#define CNN_CHANNEL_VECTOR_CONVOLUTION_H

/// Forward pass and filter gradient of a stride-1, undilated, ungrouped convolution with the
/// output channels along the vector lanes (blocks of 16: one AVX-512 register, two AVX2
/// ones), for layers whose output width wastes the lanes of blocked_convolution.h's pixel
/// vectors (LeNet's conv2: 10 of 16 columns, 16 of 18 channels) while their channels fill
/// whole vectors. AVX-512 and AVX2 builds: call these only when `cnn_cpu_isa_active()` is
/// CNN_ISA_AVX2 or wider.

/// Floats of one image's gradient as `cnn_channel_vector_gradient` lays it out.
long cnn_channel_vector_gradient_count(long outC, long pixels);

/// Lays out one image's gradient `dy[outC][pixels]` as `[ceil(outC/16)][pixels][16]`, zero past outC.
void cnn_channel_vector_gradient(const float *dy, long outC, long pixels, float *dyv);

/// `dw[oc][ci][i][j] += Σ_{n,oh,ow} xp[n][ci][oh+i][ow+j] · dyv[n][oc/16][oh·outW+ow][oc%16]` over
/// `images` images: `xp` zero-padded planes `[inC][paddedH][paddedW]` (image stride
/// `inC·paddedH·paddedW`, paddedH >= outH + kh - 1, paddedW >= outW + kw - 1), `dyv` as
/// `cnn_channel_vector_gradient` writes it (image stride `cnn_channel_vector_gradient_count`).
/// Kernel widths up to 6 run in one register block per 4 kernel rows; wider ones in pieces.
void cnn_channel_vector_conv_backward_filter(const float *xp, long inC, long paddedH, long paddedW,
                                             const float *dyv, long outC, long kh, long kw, long outH,
                                             long outW, long images, float *dw);

/// Floats `cnn_channel_vector_pack_weights` writes for `outC` output channels of `taps` each.
long cnn_channel_vector_weight_count(long outC, long taps);

/// Packs `w[oc][tap]` as `[ceil(outC/16)][tap][16]`, zero past outC.
void cnn_channel_vector_pack_weights(const float *w, long outC, long taps, float *packed);

/// `y[oc][oh][ow] = act(bias[oc] + Σ_{ci,i,j} w[oc][ci][i][j] · xp[ci][oh+i][ow+j])` for one
/// image, as cnn_blocked_conv_forward computes it (same padded input, activation codes and
/// `offsets` scratch), with weights packed by `cnn_channel_vector_pack_weights`. `scratch` holds
/// `16·outH·outW` floats (one channel block's outputs, pixel-major).
void cnn_channel_vector_conv_forward(const float *xp, long inC, long paddedH, long paddedW, const float *packed,
                                     long outC, long kh, long kw, long outH, long outW, const float *bias,
                                     int activation, float alpha, float *y, long *offsets, float *scratch);

#endif
