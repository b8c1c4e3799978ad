import CCPUKernels
import Foundation

/// Losses and metrics on the host. Rows (or fixed blocks of elements) run in parallel, each
/// writing its own partial result; the partials are then summed in order, so the result does
/// not depend on the number of threads.
extension CPUBackend: LossOps {
    /// Numerically stable (log-sum-exp with the row maximum subtracted: logits of ±1000 work).
    /// A label outside `0..<cols` makes `loss[0]` NaN and that row's gradient NaN. `gradient`
    /// may be `logits` itself (computed in place). `labelSmoothing` as in `LossOps`. A range of
    /// rows is one call's work in softmax.c (`cnn_softmax_cross_entropy_rows`: vector
    /// exponentials, one sweep per row that also finishes the previous row's gradient); the rows'
    /// losses come back in double and are summed here in order.
    public func encodeSoftmaxCrossEntropy(rows: Int, cols: Int, labelSmoothing: Float, logits: any DeviceBuffer,
                                          labels: any DeviceBuffer, loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        let x = ptr(logits), y = intPtr(labels), g = ptr(gradient)
        let invRows = 1 / Float(rows)
        var rowLoss = [Double](repeating: 0, count: rows)
        rowLoss.withUnsafeMutableBufferPointer { rowLoss in
            let out = rowLoss.baseAddress!
            parallelFor(rows, grain: max(1, 8192 / cols)) { range in
                let first = range.lowerBound
                cnn_softmax_cross_entropy_rows(x + first * cols, y + first, g + first * cols, out + first,
                                               range.count, cols, labelSmoothing, invRows)
            }
        }
        ptr(loss)[0] = Float(rowLoss.reduce(0, +) / Double(rows))
    }

    public func encodeMeanSquaredError(count: Int, prediction: any DeviceBuffer, target: any DeviceBuffer,
                                       loss: any DeviceBuffer, gradient: any DeviceBuffer) throws {
        let p = ptr(prediction), t = ptr(target), g = ptr(gradient)
        let scale = 2 / Float(count)
        let block = 4096
        var partial = [Double](repeating: 0, count: (count + block - 1) / block)
        partial.withUnsafeMutableBufferPointer { partial in
            parallelFor(partial.count, grain: 4) { blocks in
                for b in blocks {
                    var sum: Float = 0
                    for i in b * block..<min(count, (b + 1) * block) {
                        let d = p[i] - t[i]
                        sum += d * d
                        g[i] = scale * d
                    }
                    partial[b] = Double(sum)
                }
            }
        }
        ptr(loss)[0] = Float(partial.reduce(0, +) / Double(count))
    }

    /// Ties with the label's score count as correct (fewer than `k` scores strictly greater);
    /// a label outside `0..<cols`, or whose score is NaN, is not correct. `k` must be in `1...cols`.
    public func encodeTopKCorrect(rows: Int, cols: Int, k: Int, scores: any DeviceBuffer, labels: any DeviceBuffer,
                                  out: any DeviceBuffer) throws {
        let x = ptr(scores), y = intPtr(labels)
        var correct = [Int](repeating: 0, count: rows)
        correct.withUnsafeMutableBufferPointer { correct in
            parallelFor(rows, grain: max(1, 8192 / cols)) { range in
                for r in range {
                    let label = Int(y[r])
                    guard label >= 0, label < cols else { continue }
                    let xr = x + r * cols
                    let target = xr[label]
                    var greater = 0
                    for j in 0..<cols where xr[j] > target { greater += 1 }
                    correct[r] = greater < k && !target.isNaN ? 1 : 0
                }
            }
        }
        ptr(out)[0] = Float(correct.reduce(0, +))
    }

    /// A NaN counts as larger than any number (as in PyTorch); the first maximum or NaN wins.
    public func encodeArgmax(rows: Int, cols: Int, x: any DeviceBuffer, out: any DeviceBuffer) throws {
        let x = ptr(x), o = intPtr(out)
        parallelFor(rows, grain: max(1, 8192 / cols)) { range in
            for r in range {
                let xr = x + r * cols
                var best = 0, bestValue = xr[0]
                for j in 1..<cols {
                    let v = xr[j]
                    // NaN beats any number, as in PyTorch; the first maximum (or NaN) wins.
                    if v > bestValue || (v.isNaN && !bestValue.isNaN) {
                        best = j
                        bestValue = v
                    }
                }
                o[r] = Int32(best)
            }
        }
    }
}
