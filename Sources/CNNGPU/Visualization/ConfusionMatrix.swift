import Foundation

/// Counts of (true class, predicted class), and the per-class scores read from them.
///
/// ```swift
/// var m = ConfusionMatrix(classes: 3)
/// m.add(truth: 0, predicted: 2)
/// print(m.recall(0))   // 0.0
/// ```
public struct ConfusionMatrix: Sendable, Equatable {
    public let classes: Int
    /// `counts[truth][predicted]`.
    public private(set) var counts: [[Int]]

    public init(classes: Int) {
        self.classes = classes
        counts = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    }

    public mutating func add(truth: Int, predicted: Int) { counts[truth][predicted] += 1 }

    public var total: Int { counts.joined().reduce(0, +) }
    public var correct: Int { (0..<classes).reduce(0) { $0 + counts[$1][$1] } }

    /// Of the samples predicted as `c`, the fraction that are `c` (NaN when none were predicted).
    public func precision(_ c: Int) -> Double {
        let predicted = (0..<classes).reduce(0) { $0 + counts[$1][c] }
        return predicted == 0 ? .nan : Double(counts[c][c]) / Double(predicted)
    }

    /// Of the samples of class `c`, the fraction predicted as `c` (per-class accuracy).
    public func recall(_ c: Int) -> Double {
        let actual = counts[c].reduce(0, +)
        return actual == 0 ? .nan : Double(counts[c][c]) / Double(actual)
    }

    /// The harmonic mean of precision and recall (0 when both are 0, NaN when either is undefined).
    public func f1(_ c: Int) -> Double {
        let p = precision(c), r = recall(c)
        if p.isNaN || r.isNaN { return .nan }
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }

    public func support(_ c: Int) -> Int { counts[c].reduce(0, +) }

    /// The matrix as a text table: rows are true classes, columns predictions (by index, with
    /// the names listed as a legend when they are long).
    public func table(names: [String]) -> String {
        let width = max(String(counts.joined().max() ?? 0).count, String(classes - 1).count) + 1
        var lines = ["true \\ predicted".padding(toLength: 18, withPad: " ", startingAt: 0)
                        + (0..<classes).map { String(repeating: " ", count: width - String($0).count) + String($0) }.joined()]
        for t in 0..<classes {
            let label = "\(t) \(names[t])"
            lines.append(Canvas.fitting(label, width: 17 * BitmapFont.advance).padding(toLength: 18, withPad: " ", startingAt: 0)
                         + counts[t].map { String(repeating: " ", count: width - String($0).count) + String($0) }.joined())
        }
        return lines.joined(separator: "\n")
    }

    /// A labelled heat map: rows are true classes, columns predictions; each cell's colour is
    /// the row's fraction (so rare classes read as clearly as common ones) and its text the count.
    public func heatmap(names: [String], title: String) -> Canvas {
        let cell = max(28, (String(counts.joined().max() ?? 0).count + 1) * BitmapFont.advance)
        let labelW = min((names.map(\.count).max() ?? 1) + 4, 22) * BitmapFont.advance
        let left = labelW + 14, top = 3 * BitmapFont.lineHeight + labelW
        let size = classes * cell
        var canvas = Canvas(width: left + size + 80, height: top + size + 3 * BitmapFont.lineHeight)
        canvas.draw(text: title, x: 4, y: 4)
        canvas.draw(text: "rows: true class, columns: predicted; colour: fraction of the row", x: 4, y: 4 + BitmapFont.lineHeight,
                    color: .gray)
        for t in 0..<classes {
            let rowTotal = max(counts[t].reduce(0, +), 1)
            for p in 0..<classes {
                let fraction = Double(counts[t][p]) / Double(rowTotal)
                let x = left + p * cell, y = top + t * cell
                canvas.fill(x: x, y: y, width: cell, height: cell, color: Colormap.inferno.color(fraction))
                let text = String(counts[t][p])
                canvas.draw(text: text, x: x + (cell - BitmapFont.width(of: text)) / 2, y: y + (cell - BitmapFont.glyphHeight) / 2,
                            color: fraction > 0.6 ? .black : .white)
            }
            let label = Canvas.fitting("\(t) \(names[t])", width: labelW)
            canvas.draw(text: label, x: left - 6 - BitmapFont.width(of: label), y: top + t * cell + (cell - BitmapFont.glyphHeight) / 2)
            canvas.draw(verticalText: label, x: left + t * cell + (cell - BitmapFont.glyphHeight) / 2, y: top - 6)
        }
        canvas.stroke(x: left - 1, y: top - 1, width: size + 2, height: size + 2, color: .black)
        // Colour scale.
        let barX = left + size + 16
        for k in 0..<size { canvas.fill(x: barX, y: top + k, width: 12, height: 1, color: Colormap.inferno.color(1 - Double(k) / Double(size - 1))) }
        canvas.draw(text: "1.0", x: barX + 16, y: top)
        canvas.draw(text: "0.0", x: barX + 16, y: top + size - BitmapFont.glyphHeight)
        canvas.draw(text: "predicted", x: left + size / 2 - BitmapFont.width(of: "predicted") / 2, y: top + size + 6, color: .gray)
        return canvas
    }
}
