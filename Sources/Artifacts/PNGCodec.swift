import CPNG
import Foundation

// libpng is driven through its simplified API (libpng ≥ 1.6): png_image_write_to_memory,
// png_image_begin_read_from_memory and png_image_finish_read. Their errors are caught inside
// libpng (its own setjmp/longjmp never leaves C frames) and come back as a zero return value
// with the text in png_image.message, so no longjmp ever crosses a Swift frame.

/// Encodes `PNGImage`s as PNG files through libpng.
public enum PNGWriter {
    /// Compresses an image into the bytes of a PNG file.
    ///
    /// ```
    /// 8-bit grey → PNG colour type 0; 8-bit RGB → colour type 2
    /// ```
    ///
    /// - Parameter image: the pixels to encode.
    /// - Returns: the complete PNG file.
    /// - Throws: `PNGError.libpng` if libpng fails.
    public static func encode(_ image: PNGImage) throws -> Data {
        var capacity = image.pixels.count + image.pixels.count / 8 + 4096
        for _ in 0..<2 {
            var control = makeControl(for: image)
            var written = capacity
            var output = Data(count: capacity)
            let ok = output.withUnsafeMutableBytes { out in
                image.pixels.withUnsafeBytes { input in
                    png_image_write_to_memory(&control, out.baseAddress, &written, 0,
                                              input.baseAddress, 0, nil)
                }
            }
            let message = messageText(of: &control)
            png_image_free(&control)
            if ok != 0 { return output.prefix(written) }
            guard written > capacity else { throw PNGError.libpng(path: nil, message: message) }
            capacity = written  // the buffer was too small; libpng says how much it needs
        }
        throw PNGError.libpng(path: nil, message: "the compressed size kept growing")
    }

    /// Encodes an image and writes it to `url` atomically (see `AtomicFile`).
    ///
    /// - Parameters:
    ///   - image: the pixels to encode.
    ///   - url: the destination file; its directory must exist.
    /// - Throws: `PNGError.libpng` or `PNGError.cannotOpenFile`.
    public static func write(_ image: PNGImage, to url: URL) throws {
        let data = try encode(image)
        do {
            try AtomicFile.write(data, to: url)
        } catch let error as AtomicFileError {
            throw PNGError.cannotOpenFile(path: url.path, reason: error.localizedDescription)
        }
    }

    /// A zeroed `png_image` describing `image` for the write API.
    static func makeControl(for image: PNGImage) -> png_image {
        var control = png_image()
        control.version = UInt32(PNG_IMAGE_VERSION)
        control.width = UInt32(image.width)
        control.height = UInt32(image.height)
        control.format = image.format == .rgb ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0  // PNG_FORMAT_RGB / _GRAY
        return control
    }
}

/// Decodes PNG files into `PNGImage`s through libpng (8-bit grey or RGB output).
public enum PNGReader {
    /// Reads and decodes a PNG file.
    ///
    /// - Parameter url: the file to read.
    /// - Returns: the pixels, grey if the file is greyscale, RGB otherwise (alpha is dropped).
    /// - Throws: `PNGError.cannotOpenFile` or `PNGError.libpng`.
    public static func read(from url: URL) throws -> PNGImage {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw PNGError.cannotOpenFile(path: url.path, reason: error.localizedDescription)
        }
        do {
            return try decode(data)
        } catch PNGError.libpng(_, let message) {
            throw PNGError.libpng(path: url.path, message: message)
        }
    }

    /// Decodes the bytes of a PNG file.
    ///
    /// - Parameter data: a complete PNG file.
    /// - Returns: the pixels, grey if the file is greyscale, RGB otherwise.
    /// - Throws: `PNGError.libpng` for malformed data, `PNGError.invalidDimensions` for huge images.
    public static func decode(_ data: Data) throws -> PNGImage {
        var control = png_image()
        control.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&control) }
        let begun = data.withUnsafeBytes { png_image_begin_read_from_memory(&control, $0.baseAddress, $0.count) }
        guard begun != 0 else { throw PNGError.libpng(path: nil, message: messageText(of: &control)) }
        let isColour = control.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let format: PNGImage.PixelFormat = isColour ? .rgb : .grey
        control.format = isColour ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
        let width = Int(control.width), height = Int(control.height)
        guard width <= PNGImage.maximumSide, height <= PNGImage.maximumSide else {
            throw PNGError.invalidDimensions(width: width, height: height, channels: format.channels, sampleCount: 0)
        }
        var pixels = [UInt8](repeating: 0, count: width * height * format.channels)
        let finished = pixels.withUnsafeMutableBytes {
            png_image_finish_read(&control, nil, $0.baseAddress, 0, nil)
        }
        guard finished != 0 else { throw PNGError.libpng(path: nil, message: messageText(of: &control)) }
        return try PNGImage(width: width, height: height, format: format, pixels: pixels)
    }
}

/// The NUL-terminated `message` field of a `png_image`, as a Swift string.
func messageText(of control: inout png_image) -> String {
    withUnsafeBytes(of: &control.message) { raw in
        let bytes = raw.prefix { $0 != 0 }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.isEmpty ? "unknown libpng error" : text
    }
}
