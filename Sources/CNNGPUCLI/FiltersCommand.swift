import ArgumentParser
import CNNGPU
import Foundation

struct FiltersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "filters",
        abstract: "Show what a convolution does: classic kernels slid over an image on the chosen device.",
        discussion: """
            Applies Sobel x and y (and the gradient magnitude), Prewitt x and y, a Gaussian blur (--sigma), \
            a 3×3 box blur, the Laplacian, sharpen and emboss — plus any --kernel you give — through the \
            backend's convolution op, as a CNN layer computes it (cross-correlation, no kernel flip). \
            Writes one PNG per filter and contact-sheet.png to --output, and prints each output's size \
            with the arithmetic (n + 2p - f)/s + 1. The image is converted to grey (luma) unless --color, \
            which filters R, G and B separately. Values are scaled for display as printed: kernels \
            whose weights sum to 1 (blurs, sharpen, emboss) clamp to [0, 1]; signed responses map -m..+m \
            to black..white (0 is mid-grey); the gradient magnitude maps 0..max to black..white.
            """)

    @Argument(help: "A JPEG or PNG image.") var image: String
    @OptionGroup var device: DeviceOptions
    @Option(help: "Deviation of the Gaussian blur in pixels.") var sigma: Double = 1
    @Option(help: ArgumentHelp("A kernel of your own: rows separated by ';', weights by ',' (repeatable).",
                               valueName: "0,-1,0;-1,5,-1;0,-1,0"))
    var kernel: [String] = []
    @Option(help: "Stride of every filter.") var stride: Int = 1
    @Option(help: "Zero padding on each side.") var padding: Int = 0
    @Flag(help: "Filter R, G and B separately instead of the grey-scale image.") var color = false
    @Option(help: "Folder for the PNGs.") var output: String = "filters"
    @Option(help: "Write each filter's kernel, output size, arithmetic, display scaling and file as JSON to this file.")
    var json: String?

    func run() throws {
        let geometry = try FilterGeometry(stride: stride, padding: padding)
        let custom = try kernel.enumerated().map { k, text in
            try ClassicKernel.parse(text, name: kernel.count == 1 ? "custom" : "custom\(k + 1)")
        }
        let kernels = try ClassicFilters.standard(sigma: sigma)
        let selected = try device.selection().open()
        let backend = selected.backend
        let picture = try ImageDecoder.decode(contentsOf: URL(fileURLWithPath: image))
        let rgb = Canvas(picture).chwUnit
        let (w, h) = (picture.width, picture.height)
        let input = color ? rgb : ClassicFilters.grayscale(rgb, width: w, height: h)
        let channels = color ? 3 : 1
        let dir = URL(fileURLWithPath: output)
        print("image     \(image): \(w)×\(h), \(color ? "R, G and B filtered separately" : "grey-scale (luma)"), values in [0, 1]")
        print("device    \(backend.info.name) (\(backend.info.backend)) — \(selected.reason)")
        print("geometry  stride \(stride), padding \(padding): output = (n + 2p - f)/s + 1 per side")

        var responses: [FilterResponse] = []
        for k in kernels + custom {
            let r = try ClassicFilters.apply(k, to: input, channels: channels, width: w, height: h, geometry: geometry, backend: backend)
            responses.append(r)
            if k.name == "sobel-y", let gx = responses.first(where: { $0.kernel.name == "sobel-x" }) {
                responses.append(try ClassicFilters.magnitude(gx, r))
            }
        }
        let original = Canvas(chw: input, channels: channels, width: w, height: h)
        var tiles = [ImageGrid.Tile(original.fitting(side: 160), caption: "input \(w)x\(h)")]
        var records: [[String: Any]] = []
        for r in responses {
            let k = r.kernel
            let file = dir.appendingPathComponent("\(k.name).png")
            try ClassicFilters.picture(of: r).writePNG(to: file)
            let scaling = ClassicFilters.scaling(of: r)
            print("\(k.name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(k.rows)x\(k.columns) kernel  "
                  + "height \(geometry.arithmetic(input: h, kernel: k.rows)), width \(geometry.arithmetic(input: w, kernel: k.columns))  "
                  + "display \(describe(k.display, scaling))  → \(file.path)")
            tiles.append(ImageGrid.Tile(ClassicFilters.picture(of: r).fitting(side: 160), caption: "\(k.name)\n\(r.width)x\(r.height)"))
            records.append(["name": k.name, "kernel": (0..<k.rows).map { Array(k.weights[($0 * k.columns)..<(($0 + 1) * k.columns)]) },
                            "output_width": r.width, "output_height": r.height, "channels": r.channels,
                            "height_arithmetic": geometry.arithmetic(input: h, kernel: k.rows),
                            "width_arithmetic": geometry.arithmetic(input: w, kernel: k.columns),
                            "display": describe(k.display, scaling), "display_low": Double(scaling.low),
                            "display_high": Double(scaling.high), "file": file.path])
        }
        let sheet = ImageGrid(title: "Classic filters on \(URL(fileURLWithPath: image).lastPathComponent)",
                              notes: ["stride \(stride), padding \(padding); out = (n + 2p - f)/s + 1",
                                      "kernels summing to 1: clamp [0,1]; edges: -m..+m -> black..white; magnitude: 0..max"],
                              columns: 4).render(tiles)
        let sheetURL = dir.appendingPathComponent("contact-sheet.png")
        try sheet.writePNG(to: sheetURL)
        print("contact sheet → \(sheetURL.path)")
        if let json {
            let object: [String: Any] = ["image": image, "width": w, "height": h, "stride": stride, "padding": padding,
                                         "color": color, "device": backend.info.name, "filters": records, "contact_sheet": sheetURL.path]
            try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: json))
            print("json → \(json)")
        }
    }

    private func describe(_ display: ClassicKernel.Display, _ s: DisplayScaling) -> String {
        switch display {
        case .clamp: return "clamped to [0, 1]"
        case .symmetric: return String(format: "%.3g..%.3g → black..white", s.low, s.high)
        case .magnitude: return String(format: "0..%.3g → black..white", s.high)
        }
    }
}
