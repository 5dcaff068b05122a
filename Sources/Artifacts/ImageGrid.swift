import Foundation

/// Lays out many small greyscale images (samples, inputs, reconstructions) as one grid image.
///
/// ```
/// cell      = (h·scale) × (w·scale)
/// width     = columns·w·scale + (columns − 1)·separator
/// height    = rows·h·scale    + (rows − 1)·separator
/// image k   → row k / columns, column k % columns
/// pixel     = round(255 · clamp(v, 0, 1)), NaN → 0
/// ```
public struct ImageGrid: Sendable {
    /// How the images fill the cells.
    public enum Layout: Sendable, Equatable {
        /// One image per cell, in reading order.
        case plain
        /// Input and reconstruction side by side: even columns hold inputs, odd columns
        /// hold the matching reconstructions, so `columns` must be even.
        case pairs
    }

    public let imageHeight: Int
    public let imageWidth: Int
    public let rows: Int
    public let columns: Int
    public let separator: Int
    public let scale: Int
    public let layout: Layout
    /// The grey level of the separator lines and of unused cells.
    public let background: UInt8

    /// Describes a grid.
    ///
    /// - Parameters:
    ///   - imageHeight: rows of one image, `h`.
    ///   - imageWidth: columns of one image, `w`.
    ///   - rows: grid rows.
    ///   - columns: grid columns (cells per row, counting inputs and reconstructions apart).
    ///   - separator: pixels between cells, 0 or more (1–2 is typical).
    ///   - scale: nearest-neighbour upscaling factor, 1 or more.
    ///   - layout: `.plain` or `.pairs`.
    ///   - background: the grey level between and behind cells.
    /// - Throws: `ImageGridError.invalidLayout` for impossible sizes.
    public init(imageHeight: Int, imageWidth: Int, rows: Int, columns: Int, separator: Int = 1,
                scale: Int = 1, layout: Layout = .plain, background: UInt8 = 128) throws {
        let grid = ImageGridSize(imageHeight: imageHeight, imageWidth: imageWidth, rows: rows,
                                 columns: columns, separator: separator, scale: scale)
        if let reason = grid.problem(pairs: layout == .pairs) {
            throw ImageGridError.invalidLayout(reason: reason)
        }
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.rows = rows
        self.columns = columns
        self.separator = separator
        self.scale = scale
        self.layout = layout
        self.background = background
    }

    /// Width of the rendered image in pixels.
    public var outputWidth: Int { columns * imageWidth * scale + (columns - 1) * separator }
    /// Height of the rendered image in pixels.
    public var outputHeight: Int { rows * imageHeight * scale + (rows - 1) * separator }

    /// Renders `[N, h·w]` images into the grid (`.plain` layout).
    ///
    /// - Parameter images: `N·h·w` values in [0, 1], image after image, each row-major.
    /// - Returns: a greyscale image; cells past the last image stay `background`.
    /// - Throws: `ImageGridError` if the count is not a whole number of images or too many.
    public func render(_ images: [Float]) throws -> PNGImage {
        precondition(layout == .plain, "use render(inputs:reconstructions:) for the pairs layout")
        let count = try imageCount(images, capacity: rows * columns)
        var canvas = blankCanvas()
        for k in 0..<count {
            draw(images, index: k, cell: k, into: &canvas)
        }
        return canvas
    }

    /// Renders inputs next to their reconstructions (`.pairs` layout).
    ///
    /// - Parameters:
    ///   - inputs: `[N, h·w]` originals in [0, 1].
    ///   - reconstructions: `[N, h·w]` model outputs, same `N`.
    /// - Returns: a greyscale image with input `i` in cell `2i` and its reconstruction in `2i + 1`.
    /// - Throws: `ImageGridError` on mismatched counts or too many images.
    public func render(inputs: [Float], reconstructions: [Float]) throws -> PNGImage {
        precondition(layout == .pairs, "use render(_:) for the plain layout")
        let count = try imageCount(inputs, capacity: rows * columns / 2)
        let other = try imageCount(reconstructions, capacity: rows * columns / 2)
        guard count == other else {
            throw ImageGridError.pairCountMismatch(inputs: count, reconstructions: other)
        }
        var canvas = blankCanvas()
        for k in 0..<count {
            draw(inputs, index: k, cell: 2 * k, into: &canvas)
            draw(reconstructions, index: k, cell: 2 * k + 1, into: &canvas)
        }
        return canvas
    }

    /// The number of whole images in `values`, checked against the grid's capacity.
    func imageCount(_ values: [Float], capacity: Int) throws -> Int {
        let size = imageHeight * imageWidth
        guard values.count % size == 0 else {
            throw ImageGridError.partialImage(valueCount: values.count, imageSize: size)
        }
        guard values.count / size <= capacity else {
            throw ImageGridError.tooManyImages(count: values.count / size, capacity: capacity)
        }
        return values.count / size
    }

    func blankCanvas() -> PNGImage {
        PNGImage(width: outputWidth, height: outputHeight, format: .grey, fill: background)
    }

    /// Copies image `index` of `values` into grid cell `cell`, upscaled by `scale`.
    func draw(_ values: [Float], index: Int, cell: Int, into canvas: inout PNGImage) {
        let top = (cell / columns) * (imageHeight * scale + separator)
        let left = (cell % columns) * (imageWidth * scale + separator)
        let base = index * imageHeight * imageWidth
        for y in 0..<imageHeight * scale {
            let rowStart = base + (y / scale) * imageWidth
            let outStart = (top + y) * canvas.width + left
            for x in 0..<imageWidth * scale {
                canvas.pixels[outStart + x] = ImageGrid.quantise(values[rowStart + x / scale])
            }
        }
    }

    /// Maps a value in [0, 1] to 0…255, clamping outside values and sending NaN to 0.
    ///
    /// ```
    /// q(v) = round(255 · min(max(v, 0), 1))
    /// ```
    @inline(__always)
    public static func quantise(_ value: Float) -> UInt8 {
        guard value == value else { return 0 }
        return UInt8((min(max(value, 0), 1) * 255).rounded())
    }
}

/// The sizes of a grid, checked before any pixel is touched.
struct ImageGridSize {
    let imageHeight, imageWidth, rows, columns, separator, scale: Int

    /// Why these sizes cannot make a grid, or nil if they can.
    func problem(pairs: Bool) -> String? {
        if imageHeight < 1 || imageWidth < 1 { return "image size \(imageHeight)×\(imageWidth) must be positive" }
        if rows < 1 || columns < 1 { return "grid \(rows)×\(columns) must have at least one cell" }
        if separator < 0 || scale < 1 { return "separator \(separator) must be ≥ 0 and scale \(scale) ≥ 1" }
        if pairs && columns % 2 != 0 { return "the pairs layout needs an even column count, got \(columns)" }
        let width = columns * (imageWidth * scale + separator)
        let height = rows * (imageHeight * scale + separator)
        if width > PNGImage.maximumSide || height > PNGImage.maximumSide {
            return "the grid would be \(width)×\(height) pixels, larger than \(PNGImage.maximumSide)"
        }
        return nil
    }
}

/// A failure to lay out a grid of images.
public enum ImageGridError: Error, LocalizedError, Equatable {
    /// The grid's sizes are impossible.
    case invalidLayout(reason: String)
    /// The value count is not a multiple of `h·w`.
    case partialImage(valueCount: Int, imageSize: Int)
    /// More images than cells.
    case tooManyImages(count: Int, capacity: Int)
    /// The pairs layout got different numbers of inputs and reconstructions.
    case pairCountMismatch(inputs: Int, reconstructions: Int)

    public var errorDescription: String? {
        switch self {
        case let .invalidLayout(reason):
            return "invalid image grid: \(reason)"
        case let .partialImage(count, size):
            return "\(count) values are not a whole number of images of \(size) pixels"
        case let .tooManyImages(count, capacity):
            return "\(count) images do not fit in a grid of \(capacity) cells"
        case let .pairCountMismatch(inputs, reconstructions):
            return "\(inputs) inputs but \(reconstructions) reconstructions"
        }
    }
}
