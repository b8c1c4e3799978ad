import ArgumentParser
import CNNGPU

/// `--max-image-pixels`, shared by every command that decodes JPEG or PNG files.
struct ImageLimitOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Refuse images of more pixels (width × height) than this, as Pillow refuses decompression bombs "
            + "(default \(ImageDecoder.defaultMaxPixels), about 179 megapixels). Raise it for genuine huge images.",
        valueName: "pixels"))
    var maxImagePixels: Int = ImageDecoder.defaultMaxPixels

    func validate() throws {
        guard maxImagePixels > 0 else { throw ValidationError("--max-image-pixels must be positive, got \(maxImagePixels)") }
    }

    /// Sets the decoder's limit for this process.
    func apply() { ImageDecoder.maxPixels = maxImagePixels }
}
