import CCPUKernels

/// Register-blocked direct convolution for stride-1, undilated, ungrouped layers of up to
/// `blockedMaxChannels` channels (LeNet's, among others): the C kernels in
/// Sources/CCPUKernels/blocked_convolution.c keep 6 output channels × 2 rows × 8 columns in
/// AVX2 registers (4 rows × 16 columns with AVX-512), so nothing like im2col's 25× column
/// matrix ever reaches memory. Each worker takes whole images and zero-pads them into its own
/// scratch first, so the inner loops have no bounds checks and always run 8 lanes wide. Layers
/// whose channels fill whole blocks of 16 but whose rows are narrow run with channels along
/// the lanes instead (channel_vector_convolution.c), with AVX-512 or AVX2.
///
/// backward-data runs as a GEMM into a column matrix and a col2im (col2im_backward_data.c),
/// which never multiplies padding; on planes too large for that matrix, as the same forward
/// kernel run on dy, with the weights flipped and their channel axes swapped, and the padding
/// that turns a `kh×kw` correlation into its adjoint.
extension CPUBackend {
    /// Whether the blocked kernels can compute `d`.
    static func blockedConvolutionApplies(_ d: Conv2DDescriptor) -> Bool {
        d.strideH == 1 && d.strideW == 1 && d.dilationH == 1 && d.dilationW == 1 && d.groups == 1
    }

    /// Whether the forward pass runs with output channels along the vector lanes
    /// (channel_vector_convolution.h): AVX-512 or AVX2, channels in whole blocks of 16, rows
    /// narrower than one 16-wide pixel vector. Measured on the Zen 5 machine against the blocked
    /// kernel: LeNet's conv2 (10 wide) 1.4× faster, 16 channels at 14² 1.06×, 32 channels at
    /// 16² 0.83×. With AVX2 on a Zen 3, LeNet's conv2 at batch 64 took 0.44 ms against 0.82
    /// (other widths not measured there).
    static func channelVectorForwardApplies(_ d: Conv2DDescriptor) -> Bool {
        CPUKernelISA.active >= .avx2 && d.outChannels % 16 == 0 && d.outW < 16
    }

    /// Adds `bias` (per output channel) and applies `activation` as it stores y, saving passes over y.
    func blockedForward(_ d: Conv2DDescriptor, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, activation: Activation?, y: UnsafeMutablePointer<Float>) {
        if Self.channelVectorForwardApplies(d) {
            return channelVectorForward(d, x: x, weight: weight, bias: bias, activation: activation, y: y)
        }
        let packed = packedWeights(d, weight, adjoint: false)
        defer { packed.deallocate() }
        convolveImages(batch: d.batch, input: x, channels: d.inChannels, h: d.inH, w: d.inW,
                       padTop: d.padding.top, padLeft: d.padding.left, packed: packed, outChannels: d.outChannels,
                       kh: d.kernelH, kw: d.kernelW, outH: d.outH, outW: d.outW, bias: bias, activation: activation,
                       output: y)
    }

    private func channelVectorForward(_ d: Conv2DDescriptor, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                      bias: UnsafePointer<Float>?, activation: Activation?,
                                      y: UnsafeMutablePointer<Float>) {
        let (c, o, kh, kw, outH, outW) = (d.inChannels, d.outChannels, d.kernelH, d.kernelW, d.outH, d.outW)
        let taps = c * kh * kw
        let packed = Self.allocateAligned(cnn_channel_vector_weight_count(o, taps))
        defer { packed.deallocate() }
        cnn_channel_vector_pack_weights(weight, o, taps, packed)
        let code = Int32(activation.kernelCode), alpha = activation?.alpha ?? 0
        let (ph, pw) = Self.paddedSize(outH: outH, outW: outW, kh: kh, kw: kw)
        parallelFor(d.batch, grain: 1) { images in
            let xp = UnsafeMutablePointer<Float>.allocate(capacity: c * ph * pw)
            let offsets = UnsafeMutablePointer<Int>.allocate(capacity: taps)
            let scratch = Self.allocateAligned(16 * outH * outW)
            defer { xp.deallocate(); offsets.deallocate(); scratch.deallocate() }
            for n in images {
                padPlanes(x + n * c * d.inH * d.inW, channels: c, h: d.inH, w: d.inW, into: xp,
                          paddedH: ph, paddedW: pw, top: d.padding.top, left: d.padding.left)
                cnn_channel_vector_conv_forward(xp, c, ph, pw, packed, o, kh, kw, outH, outW, bias, code, alpha,
                                                y + n * o * outH * outW, offsets, scratch)
            }
        }
    }

    /// Scratch (column matrix and dy copy) per worker up to which backward-data runs as GEMM +
    /// col2im. Against the padded forward form, one core, 64 images, Zen 5 (AVX-512 / AVX2
    /// builds): LeNet's conv2 (6→16 5×5 on 14², 49% of the padded form's multiply-adds on
    /// zeros) 1.32 / 1.34× faster; 32→32 3×3 on 8² 2.06 / 1.13×, with padding 1 1.85 / 1.02×;
    /// 16→16 5×5 on 12² 1.92 / 1.84×; 16→16 3×3 on 14² padding 1 1.03 / 1.12× and on 30² 1.02 /
    /// 1.13× (the largest measured: 0.45 MB); 64→64 3×3 padding 1 on 8² 1.84 / 0.98×, on 16²
    /// (0.6 MB) 0.96 / 1.00×. Larger planes were not measured and keep the padded form, which
    /// needs no scratch of that size.
    static let col2imMaxScratchBytes = 1 << 20

    /// Whether backward-data of `d` runs as GEMM + col2im (`col2imMaxScratchBytes`).
    static func col2imBackwardDataApplies(_ d: Conv2DDescriptor) -> Bool {
        cnn_col2im_scratch_count(d.outChannels, d.inChannels, d.kernelH, d.kernelW, d.outH, d.outW)
            * MemoryLayout<Float>.stride <= col2imMaxScratchBytes
    }

    func blockedBackwardData(_ d: Conv2DDescriptor, dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                             dx: UnsafeMutablePointer<Float>) {
        if Self.col2imBackwardDataApplies(d) { return col2imBackwardData(d, dy: dy, weight: weight, dx: dx) }
        let packed = packedWeights(d, weight, adjoint: true)
        defer { packed.deallocate() }
        // dx[ih] = Σ_i w[kh-1-i] · dy[ih + i - (kh-1-padTop)]: a forward pass over dy padded by
        // kh-1-padTop (negative when the padding exceeds the kernel: rows are cropped instead).
        convolveImages(batch: d.batch, input: dy, channels: d.outChannels, h: d.outH, w: d.outW,
                       padTop: d.kernelH - 1 - d.padding.top, padLeft: d.kernelW - 1 - d.padding.left,
                       packed: packed, outChannels: d.inChannels, kh: d.kernelH, kw: d.kernelW,
                       outH: d.inH, outW: d.inW, bias: nil, activation: nil, output: dx)
    }

    /// One image per call, each worker with its own column matrix.
    func col2imBackwardData(_ d: Conv2DDescriptor, dy: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                            dx: UnsafeMutablePointer<Float>) {
        let (c, o, kh, kw) = (d.inChannels, d.outChannels, d.kernelH, d.kernelW)
        let packed = UnsafeMutablePointer<Float>.allocate(capacity: cnn_col2im_weight_count(o, c, kh, kw))
        defer { packed.deallocate() }
        cnn_col2im_pack_weights(weight, o, c, kh, kw, packed)
        let scratchCount = cnn_col2im_scratch_count(o, c, kh, kw, d.outH, d.outW)
        parallelFor(d.batch, grain: 1) { images in
            let scratch = Self.allocateAligned(scratchCount)
            defer { scratch.deallocate() }
            for n in images {
                cnn_col2im_backward_data(dy + n * o * d.outH * d.outW, packed, o, c, kh, kw, d.outH, d.outW, d.inH,
                                         d.inW, d.padding.top, d.padding.left, dx + n * c * d.inH * d.inW, scratch)
            }
        }
    }

    /// Whether the filter gradient runs with output channels along the vector lanes
    /// (channel_vector_convolution.h): AVX-512 or AVX2, channels in whole blocks of 16, and rows
    /// of at most 16 columns, where the pixel vectors of the blocked kernel waste lanes (LeNet's
    /// conv2: 10 of 16 columns, 16 of 18 channels; its filter gradient ran 1.8× faster on the
    /// Zen 5 machine, 0.47 ms against 1.05 at batch 64 with AVX2 on a Zen 3; 16 → 32 channels
    /// at 16² 1.2× on Zen 5). Wider rows fill the pixel vectors and were not measured faster.
    static func channelVectorFilterGradientApplies(_ d: Conv2DDescriptor) -> Bool {
        CPUKernelISA.active >= .avx2 && d.outChannels % 16 == 0 && d.outW <= 16
    }

    /// Each worker sums its images' contributions into its own partial dw; the partials are
    /// added in worker order afterwards, so the result does not depend on timing.
    func blockedBackwardFilter(_ d: Conv2DDescriptor, x: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                               dw: UnsafeMutablePointer<Float>) {
        let (c, o, kh, kw, outH, outW) = (d.inChannels, d.outChannels, d.kernelH, d.kernelW, d.outH, d.outW)
        let (ph, pw) = Self.paddedSize(outH: outH, outW: outW, kh: kh, kw: kw)
        let rowW = (outW + 7) / 8 * 8, pixels = outH * outW
        let channelVectors = Self.channelVectorFilterGradientApplies(d)
        let xImage = c * ph * pw, count = d.weightCount
        let dyImage = channelVectors ? cnn_channel_vector_gradient_count(o, pixels)
            : cnn_padded_gradient_channels(o) * outH * rowW
        let workers = min(threads, d.batch), perWorker = (d.batch + workers - 1) / workers
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: workers * count)
        defer { partials.deallocate() }
        partials.initialize(repeating: 0, count: workers * count)
        // Images per kernel call: enough to amortize the per-tap reductions, few enough that
        // what one pass of the kernel streams stays in cache. The blocked kernel streams a
        // register block of gradient planes and an input plane per image, kept in L1: on the
        // Zen 5 machine LeNet's conv2 (18 KB per image) ran its filter gradient 20% faster in
        // groups of 8 than of 14 (a 256 KB rule). The channel-vector kernel streams all of an
        // image's gradient and input per pass and was fastest with groups of 16-32 (L2).
        let passBytes = channelVectors ? (xImage + dyImage) * MemoryLayout<Float>.stride
            : (cnn_padded_gradient_channels(1) * outH * rowW + ph * pw) * MemoryLayout<Float>.stride
        let group = max(1, min(perWorker, (channelVectors ? 262_144 : 40_960) / passBytes))
        parallelFor(workers, grain: 1) { range in
            // 64-byte aligned: gradient rows are whole multiples of 8 or 16 floats, so with
            // AVX-512 every gradient load is then one cache line (14% faster on LeNet's conv2).
            let xp = Self.allocateAligned(group * xImage)
            let dyp = Self.allocateAligned(group * dyImage)
            defer { xp.deallocate(); dyp.deallocate() }
            // The gradient channels past o (up to a whole register block) stay zero.
            if !channelVectors { dyp.initialize(repeating: 0, count: group * dyImage) }
            for worker in range {
                var n = worker * perWorker
                let end = min(d.batch, n + perWorker)
                while n < end {
                    let nb = min(group, end - n)
                    for i in 0..<nb {
                        padPlanes(x + (n + i) * c * d.inH * d.inW, channels: c, h: d.inH, w: d.inW,
                                  into: xp + i * xImage, paddedH: ph, paddedW: pw,
                                  top: d.padding.top, left: d.padding.left)
                        if channelVectors {
                            cnn_channel_vector_gradient(dy + (n + i) * o * pixels, o, pixels, dyp + i * dyImage)
                        } else {
                            padPlanes(dy + (n + i) * o * pixels, channels: o, h: outH, w: outW,
                                      into: dyp + i * dyImage, paddedH: outH, paddedW: rowW, top: 0, left: 0)
                        }
                    }
                    if channelVectors {
                        cnn_channel_vector_conv_backward_filter(xp, c, ph, pw, dyp, o, kh, kw, outH, outW, nb,
                                                                partials + worker * count)
                    } else {
                        cnn_blocked_conv_backward_filter(xp, c, ph, pw, dyp, o, kh, kw, outH, outW, nb,
                                                         partials + worker * count)
                    }
                    n += nb
                }
            }
        }
        dw.update(from: partials, count: count)
        for worker in 1..<max(1, workers) {
            let p = partials + worker * count
            for i in 0..<count { dw[i] += p[i] }
        }
    }

    // MARK: Helpers

    /// Padded plane size for an `outH × outW` output of a `kh × kw` kernel: the kernels read
    /// whole 8-wide column blocks and pairs of rows, the last ones running past the output.
    static func paddedSize(outH: Int, outW: Int, kh: Int, kw: Int) -> (h: Int, w: Int) {
        ((outH + 1) / 2 * 2 + kh - 1, (outW + 7) / 8 * 8 + kw - 1)
    }

    /// Floats on a 64-byte (cache line) boundary; release with `deallocate()`.
    static func allocateAligned(_ count: Int) -> UnsafeMutablePointer<Float> {
        UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
    }

    private func packedWeights(_ d: Conv2DDescriptor, _ weight: UnsafePointer<Float>, adjoint: Bool) -> UnsafeMutablePointer<Float> {
        let outC = adjoint ? d.inChannels : d.outChannels, inC = adjoint ? d.outChannels : d.inChannels
        let packed = UnsafeMutablePointer<Float>.allocate(
            capacity: cnn_packed_weight_count(outC, inC * d.kernelH * d.kernelW))
        cnn_pack_weights(weight, d.outChannels, d.inChannels, d.kernelH, d.kernelW, adjoint ? 1 : 0, packed)
        return packed
    }

    /// The forward kernel over a batch, one image at a time per worker.
    private func convolveImages(batch: Int, input: UnsafePointer<Float>, channels: Int, h: Int, w: Int,
                                padTop: Int, padLeft: Int, packed: UnsafePointer<Float>, outChannels: Int,
                                kh: Int, kw: Int, outH: Int, outW: Int, bias: UnsafePointer<Float>?,
                                activation: Activation?, output: UnsafeMutablePointer<Float>) {
        let code = Int32(activation.kernelCode), alpha = activation?.alpha ?? 0
        let (ph, pw) = Self.paddedSize(outH: outH, outW: outW, kh: kh, kw: kw)
        // The padded rows that hold data: the kernel skips taps that meet only zero rows.
        let rowBegin = min(ph, max(0, padTop)), rowEnd = max(rowBegin, min(ph, padTop + h))
        parallelFor(batch, grain: 1) { images in
            let xp = UnsafeMutablePointer<Float>.allocate(capacity: channels * ph * pw)
            let offsets = UnsafeMutablePointer<Int>.allocate(capacity: channels * kh * kw)
            defer { xp.deallocate(); offsets.deallocate() }
            for n in images {
                padPlanes(input + n * channels * h * w, channels: channels, h: h, w: w, into: xp,
                          paddedH: ph, paddedW: pw, top: padTop, left: padLeft)
                cnn_blocked_conv_forward(xp, channels, ph, pw, rowBegin, rowEnd, packed, outChannels, kh, kw, outH,
                                         outW, bias, code, alpha, output + n * outChannels * outH * outW, offsets)
            }
        }
    }
}

/// Copies `channels` planes of `h × w` into zeroed `paddedH × paddedW` planes at row `top`,
/// column `left` (either may be negative: what falls outside is dropped).
private func padPlanes(_ src: UnsafePointer<Float>, channels: Int, h: Int, w: Int, into dst: UnsafeMutablePointer<Float>,
                       paddedH: Int, paddedW: Int, top: Int, left: Int) {
    dst.update(repeating: 0, count: channels * paddedH * paddedW)
    let c0 = max(0, -left), c1 = min(w, paddedW - left)
    guard c0 < c1 else { return }
    for ch in 0..<channels {
        for r in max(0, -top)..<max(max(0, -top), min(h, paddedH - top)) {
            (dst + (ch * paddedH + r + top) * paddedW + left + c0).update(from: src + (ch * h + r) * w + c0, count: c1 - c0)
        }
    }
}
