import Foundation

/// An 8-bit image in memory, ready to be encoded as a PNG.
///
/// ```
/// pixels: [height, width, channels], row-major, top row first, UInt8 per sample
/// ```
public struct PNGImage: Equatable, Sendable {
    /// The sample layout of one pixel.
    public enum PixelFormat: Int, Sendable {
        /// One luminance sample per pixel.
        case grey = 1
        /// Red, green and blue samples per pixel, in that order.
        case rgb = 3

        /// Samples per pixel.
        public var channels: Int { rawValue }
    }

    public let width: Int
    public let height: Int
    public let format: PixelFormat
    /// `height · width · channels` samples, row-major.
    public var pixels: [UInt8]

    /// Wraps existing pixels.
    ///
    /// - Parameters:
    ///   - width: pixels per row, at least 1.
    ///   - height: rows, at least 1.
    ///   - format: grey or RGB.
    ///   - pixels: exactly `height · width · format.channels` samples.
    /// - Throws: `PNGError.invalidDimensions` when the sizes disagree.
    public init(width: Int, height: Int, format: PixelFormat, pixels: [UInt8]) throws {
        guard width > 0, height > 0, width <= PNGImage.maximumSide, height <= PNGImage.maximumSide,
              pixels.count == width * height * format.channels else {
            throw PNGError.invalidDimensions(width: width, height: height,
                                             channels: format.channels, sampleCount: pixels.count)
        }
        self.width = width
        self.height = height
        self.format = format
        self.pixels = pixels
    }

    /// A blank image with every sample set to `fill`.
    ///
    /// - Parameters:
    ///   - width: pixels per row, in `1...maximumSide`.
    ///   - height: rows, in `1...maximumSide`.
    ///   - format: grey or RGB.
    ///   - fill: the value of every sample.
    public init(width: Int, height: Int, format: PixelFormat, fill: UInt8 = 0) {
        precondition(width > 0 && height > 0 && width <= PNGImage.maximumSide
                     && height <= PNGImage.maximumSide, "bad image size \(width)×\(height)")
        self.width = width
        self.height = height
        self.format = format
        self.pixels = [UInt8](repeating: fill, count: width * height * format.channels)
    }

    /// The largest side accepted (PNG allows 2³¹−1; this keeps sizes sane).
    public static let maximumSide = 1 << 16

    /// Index of the first sample of pixel `(x, y)` in `pixels`.
    @inline(__always)
    public func offset(x: Int, y: Int) -> Int { (y * width + x) * format.channels }

    /// The samples of pixel `(x, y)`: one for grey, three for RGB.
    public func pixel(x: Int, y: Int) -> [UInt8] {
        let start = offset(x: x, y: y)
        return Array(pixels[start..<start + format.channels])
    }
}

/// A failure to encode, decode, read or write a PNG.
public enum PNGError: Error, LocalizedError, Equatable {
    /// Width, height and sample count do not describe one image.
    case invalidDimensions(width: Int, height: Int, channels: Int, sampleCount: Int)
    /// The file could not be opened, read or written.
    case cannotOpenFile(path: String, reason: String)
    /// libpng reported an error; `message` is its text.
    case libpng(path: String?, message: String)
    /// The PNG is valid but not 8-bit grey or RGB (e.g. 16-bit), so this reader cannot return it.
    case unsupportedFormat(path: String?, format: UInt32)

    public var errorDescription: String? {
        switch self {
        case let .invalidDimensions(width, height, channels, count):
            return "an image of \(width)×\(height)×\(channels) needs \(width * height * channels) samples, got \(count)"
        case let .cannotOpenFile(path, reason):
            return "cannot open PNG file \(path): \(reason)"
        case let .libpng(path, message):
            return "libpng failed\(path.map { " on \($0)" } ?? ""): \(message)"
        case let .unsupportedFormat(path, format):
            return "unsupported PNG pixel format \(format)\(path.map { " in \($0)" } ?? "")"
        }
    }
}
