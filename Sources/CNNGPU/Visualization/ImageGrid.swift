/// Pictures laid out in a grid with a caption under each and a title above: feature maps,
/// filters, misclassified examples, the contact sheet of classic filters.
///
/// ```swift
/// let sheet = ImageGrid(title: "conv1: 6 channels", columns: 3, scale: 4)
///     .render(maps.map { ImageGrid.Tile($0, caption: "ch \($0)") })
/// ```
public struct ImageGrid: Sendable {
    public struct Tile: Sendable {
        public var picture: Canvas
        public var caption: String
        public var captionColor: Canvas.Color
        public init(_ picture: Canvas, caption: String = "", captionColor: Canvas.Color = .black) {
            self.picture = picture; self.caption = caption; self.captionColor = captionColor
        }
    }

    public var title: String
    /// Lines of small print under the title (what the scaling was, what the colours mean).
    public var notes: [String]
    public var columns: Int
    /// Each tile's pixels are drawn as scale×scale blocks.
    public var scale: Int
    public var padding = 4

    public init(title: String, notes: [String] = [], columns: Int, scale: Int = 1) {
        self.title = title; self.notes = notes; self.columns = max(columns, 1); self.scale = max(scale, 1)
    }

    /// Columns for `count` tiles when the caller has no preference: about square.
    public static func columns(for count: Int) -> Int {
        max(1, Int(Double(count).squareRoot().rounded(.up)))
    }

    public func render(_ tiles: [Tile]) -> Canvas {
        let cellW = max(tiles.map { $0.picture.width * scale }.max() ?? 1, 1)
        let cellH = tiles.map { $0.picture.height * scale }.max() ?? 1
        let captioned = tiles.contains { !$0.caption.isEmpty }
        let captionLines = captioned ? tiles.map { wrapped($0.caption, width: cellW).count }.max() ?? 1 : 0
        let captionH = captionLines * BitmapFont.lineHeight
        let rows = (tiles.count + columns - 1) / columns
        let headerLines = (title.isEmpty ? 0 : 2) + notes.count
        let header = padding + headerLines * BitmapFont.lineHeight
        let contentW = columns * (cellW + padding) + padding
        let textW = ([title] + notes).map { BitmapFont.width(of: $0) + 2 * padding }.max() ?? 0
        var canvas = Canvas(width: max(contentW, textW, 1), height: header + rows * (cellH + captionH + padding) + padding)
        var y = padding
        if !title.isEmpty { canvas.draw(text: title, x: padding, y: y); y += 2 * BitmapFont.lineHeight }
        for note in notes { canvas.draw(text: note, x: padding, y: y, color: .gray); y += BitmapFont.lineHeight }
        for (k, tile) in tiles.enumerated() {
            let x0 = padding + (k % columns) * (cellW + padding)
            let y0 = header + (k / columns) * (cellH + captionH + padding)
            canvas.draw(tile.picture, x: x0, y: y0, scale: scale)
            for (line, text) in wrapped(tile.caption, width: cellW).enumerated() {
                canvas.draw(text: text, x: x0, y: y0 + tile.picture.height * scale + 2 + line * BitmapFont.lineHeight,
                            color: tile.captionColor)
            }
        }
        return canvas
    }

    /// Splits a caption at newlines, each line shortened to the cell width.
    private func wrapped(_ caption: String, width: Int) -> [String] {
        caption.isEmpty ? [] : caption.split(separator: "\n", omittingEmptySubsequences: false)
            .map { Canvas.fitting(String($0), width: width) }
    }
}
