#ifndef CNN_BLOCKED_CONVOLUTION_H
#define CNN_BLOCKED_CONVOLUTION_H

/// Register-blocked direct convolution (stride 1, no dilation, one group) on zero-padded
/// planes, for the CPU backend. Each call picks the build of its loops for the instruction set
/// `cnn_cpu_isa_active` names: AVX-512 (16-wide column blocks), AVX2+FMA, or baseline x86-64 /
/// generic.
///
/// Shapes: a padded input is `[inC][paddedH][paddedW]` with `paddedH >= outH + kh - 1` and
/// `paddedW >= round8(outW) + kw - 1`, where round8 rounds up to a multiple of 8.

/// Floats `cnn_pack_weights` writes for `outC` output channels of `taps = inC·kh·kw` each.
long cnn_packed_weight_count(long outC, long taps);

/// Packs `w[oc][tap]` as `[ceil(outC/6)][tap][6]`, zero-filled past `outC`; with `flipTranspose`
/// it packs the weights of the adjoint convolution instead: `w'[ci][oc][kh-1-i][kw-1-j]` for
/// `w[oc][ci][i][j]` (then `outC` counts the adjoint's outputs, i.e. the forward's inputs).
void cnn_pack_weights(const float *w, long forwardOutC, long forwardInC, long kh, long kw, int flipTranspose,
                      float *packed);

/// `y[oc][oh][ow] = Σ_{ci,i,j} w[oc][ci][i][j] · xp[ci][oh+i][ow+j]` for one image, with
/// weights packed by `cnn_pack_weights`, plus `bias[oc]` unless bias is NULL, then the
/// activation `activation` (the codes of Kernels/activation_function.cl: -1 none, 0 relu,
/// 1 leaky relu, 2 elu, 3 sigmoid, 4 tanh; `alpha` is leaky relu's and elu's parameter) as each
/// tile is stored; y is `[outC][outH][outW]`, overwritten. `offsets` is scratch for `inC·kh·kw`
/// longs. paddedH must cover an even number of output rows: `paddedH >= round2(outH) + kh - 1`.
/// Only rows [rowBegin, rowEnd) of the padded planes may hold nonzero values (0 and paddedH
/// when unknown): kernel rows that meet only zero rows for a whole tile are skipped.
void cnn_blocked_conv_forward(const float *xp, long inC, long paddedH, long paddedW, long rowBegin, long rowEnd,
                              const float *packed, long outC, long kh, long kw, long outH, long outW,
                              const float *bias, int activation, float alpha, float *y, long *offsets);

/// Channels per image of the padded gradient `cnn_blocked_conv_backward_filter` reads: outC
/// rounded up to whole register blocks.
long cnn_padded_gradient_channels(long outC);

/// `dw[oc][ci][i][j] += Σ_{n,oh,ow} xp[n][ci][oh+i][ow+j] · dyp[n][oc][oh][ow]` over `images`
/// images: `xp` padded as above (image stride `inC·paddedH·paddedW`), `dyp` as
/// `[images][cnn_padded_gradient_channels(outC)][outH][round8(outW)]` with zeros past `outW`
/// (the channels past outC may hold anything finite).
void cnn_blocked_conv_backward_filter(const float *xp, long inC, long paddedH, long paddedW, const float *dyp,
                                      long outC, long kh, long kw, long outH, long outW, long images, float *dw);

#endif
