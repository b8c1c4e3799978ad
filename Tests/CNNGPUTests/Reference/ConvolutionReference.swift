import CNNGPU

/// Plain, obviously-correct convolution in Double, straight from the definitions (NCHW,
/// weights OIHW, PyTorch's semantics): the reference every backend is checked against.
enum ConvolutionReference {
    /// y[n, o, oh, ow] = b[o] + Σ_{c in o's group, kh, kw} x[n, c, ih, iw] · w[o, c - group start, kh, kw]
    /// with ih = oh·sh - padTop + kh·dh, iw = ow·sw - padLeft + kw·dw, and x = 0 outside the image.
    static func forward(_ d: Conv2DDescriptor, x: [Double], w: [Double], bias: [Double]? = nil) -> [Double] {
        var y = [Double](repeating: 0, count: d.outputCount)
        forEachTap(d) { xi, wi, yi in y[yi] += x[xi] * w[wi] }
        if let bias {
            for i in y.indices { y[i] += bias[(i / (d.outH * d.outW)) % d.outChannels] }
        }
        return y
    }

    /// dx[xi] = Σ over the taps that read x[xi] of w · dy.
    static func backwardData(_ d: Conv2DDescriptor, dy: [Double], w: [Double]) -> [Double] {
        var dx = [Double](repeating: 0, count: d.inputCount)
        forEachTap(d) { xi, wi, yi in dx[xi] += w[wi] * dy[yi] }
        return dx
    }

    /// dw[wi] = Σ over the taps that use w[wi] of x · dy.
    static func backwardFilter(_ d: Conv2DDescriptor, x: [Double], dy: [Double]) -> [Double] {
        var dw = [Double](repeating: 0, count: d.weightCount)
        forEachTap(d) { xi, wi, yi in dw[wi] += x[xi] * dy[yi] }
        return dw
    }

    /// db[o] = Σ_{n, oh, ow} dy[n, o, oh, ow].
    static func backwardBias(batch: Int, channels: Int, spatial: Int, dy: [Double]) -> [Double] {
        var db = [Double](repeating: 0, count: channels)
        for i in dy.indices { db[(i / spatial) % channels] += dy[i] }
        return db
    }

    /// Calls `body(xIndex, wIndex, yIndex)` for every multiply of the convolution whose input
    /// pixel lies inside the image (the padding contributes zeros).
    static func forEachTap(_ d: Conv2DDescriptor, _ body: (Int, Int, Int) -> Void) {
        let cg = d.inChannels / d.groups, og = d.outChannels / d.groups
        for n in 0..<d.batch {
            for o in 0..<d.outChannels {
                let g = o / og
                for oh in 0..<d.outH {
                    for ow in 0..<d.outW {
                        let yi = ((n * d.outChannels + o) * d.outH + oh) * d.outW + ow
                        for ci in 0..<cg {
                            let c = g * cg + ci
                            for kh in 0..<d.kernelH {
                                for kw in 0..<d.kernelW {
                                    let ih = oh * d.strideH - d.padding.top + kh * d.dilationH
                                    let iw = ow * d.strideW - d.padding.left + kw * d.dilationW
                                    guard ih >= 0, ih < d.inH, iw >= 0, iw < d.inW else { continue }
                                    let xi = ((n * d.inChannels + c) * d.inH + ih) * d.inW + iw
                                    let wi = ((o * cg + ci) * d.kernelH + kh) * d.kernelW + kw
                                    body(xi, wi, yi)
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// PyTorch's ConvTranspose2d by its scatter definition, independent of any convolution:
    /// every input pixel (n, ci, ih, iw) adds x · w[ci, oc, kh, kw] to output pixel
    /// (ih·sh - padTop + kh·dh, iw·sw - padLeft + kw·dw) of each output channel of its group.
    /// Weights are `[inC, outC/groups, kH, kW]`; `outH`/`outW` include the output padding.
    static func transposeForward(batch: Int, inC: Int, inH: Int, inW: Int, outC: Int, outH: Int, outW: Int,
                                 kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padTop: Int, padLeft: Int,
                                 dilationH: Int, dilationW: Int, groups: Int,
                                 x: [Double], w: [Double], bias: [Double]?) -> [Double] {
        var y = [Double](repeating: 0, count: batch * outC * outH * outW)
        let icg = inC / groups, ocg = outC / groups
        for n in 0..<batch {
            for ci in 0..<inC {
                let g = ci / icg
                for ih in 0..<inH {
                    for iw in 0..<inW {
                        let xv = x[((n * inC + ci) * inH + ih) * inW + iw]
                        for oc in 0..<ocg {
                            for kh in 0..<kernelH {
                                for kw in 0..<kernelW {
                                    let oh = ih * strideH - padTop + kh * dilationH
                                    let ow = iw * strideW - padLeft + kw * dilationW
                                    guard oh >= 0, oh < outH, ow >= 0, ow < outW else { continue }
                                    let o = g * ocg + oc
                                    y[((n * outC + o) * outH + oh) * outW + ow]
                                        += xv * w[((ci * ocg + oc) * kernelH + kh) * kernelW + kw]
                                }
                            }
                        }
                    }
                }
            }
        }
        if let bias {
            for i in y.indices { y[i] += bias[(i / (outH * outW)) % outC] }
        }
        return y
    }
}
