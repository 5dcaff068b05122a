/// An 8-bit RGB colour.
public struct RGB: Equatable, Sendable {
    public var red: UInt8
    public var green: UInt8
    public var blue: UInt8

    public init(_ red: UInt8, _ green: UInt8, _ blue: UInt8) {
        self.red = red
        self.green = green
        self.blue = blue
    }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
    public static let lightGrey = RGB(225, 225, 225)
    public static let darkGrey = RGB(90, 90, 90)
}

/// Clipped drawing primitives on an RGB `PNGImage`: pixels, rectangles, lines and text.
///
/// ```
/// (x, y): x to the right, y downwards, (0, 0) the top-left pixel; off-image pixels are skipped
/// ```
struct Canvas {
    private(set) var image: PNGImage

    /// A canvas of `width × height` filled with `background`.
    init(width: Int, height: Int, background: RGB) {
        image = PNGImage(width: width, height: height, format: .rgb)
        for offset in stride(from: 0, to: image.pixels.count, by: 3) {
            image.pixels[offset] = background.red
            image.pixels[offset + 1] = background.green
            image.pixels[offset + 2] = background.blue
        }
    }

    /// Colours one pixel, if it lies on the canvas.
    mutating func set(x: Int, y: Int, _ colour: RGB) {
        guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
        let offset = image.offset(x: x, y: y)
        image.pixels[offset] = colour.red
        image.pixels[offset + 1] = colour.green
        image.pixels[offset + 2] = colour.blue
    }

    /// Fills the rectangle with corners `(x0, y0)` and `(x1, y1)`, both inclusive.
    mutating func fill(x0: Int, y0: Int, x1: Int, y1: Int, _ colour: RGB) {
        for y in min(y0, y1)...max(y0, y1) {
            for x in min(x0, x1)...max(x0, x1) { set(x: x, y: y, colour) }
        }
    }

    /// Outlines the rectangle with corners `(x0, y0)` and `(x1, y1)`.
    mutating func stroke(x0: Int, y0: Int, x1: Int, y1: Int, _ colour: RGB) {
        fill(x0: x0, y0: y0, x1: x1, y1: y0, colour)
        fill(x0: x0, y0: y1, x1: x1, y1: y1, colour)
        fill(x0: x0, y0: y0, x1: x0, y1: y1, colour)
        fill(x0: x1, y0: y0, x1: x1, y1: y1, colour)
    }

    /// Draws a line from `(x0, y0)` to `(x1, y1)` with Bresenham's algorithm, `thickness`
    /// pixels wide (a square brush).
    mutating func line(x0: Int, y0: Int, x1: Int, y1: Int, thickness: Int = 1, _ colour: RGB) {
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var (x, y, error) = (x0, y0, dx + dy)
        let low = -(thickness - 1) / 2, high = thickness / 2
        while true {
            fill(x0: x + low, y0: y + low, x1: x + high, y1: y + high, colour)
            if x == x1 && y == y1 { break }
            let twice = 2 * error
            if twice >= dy { error += dy; x += sx }
            if twice <= dx { error += dx; y += sy }
        }
    }

    /// Writes `text` with its top-left corner at `(x, y)` in the built-in 5×7 font.
    ///
    /// - Parameters:
    ///   - text: the characters; see `BitmapFont` for those it knows.
    ///   - x: left edge in pixels.
    ///   - y: top edge in pixels.
    ///   - scale: pixel size of one font dot.
    ///   - colour: ink colour.
    mutating func text(_ text: String, x: Int, y: Int, scale: Int = 1, _ colour: RGB) {
        var left = x
        for character in text {
            let rows = BitmapFont.glyph(for: character)
            for (row, bits) in rows.enumerated() {
                for column in 0..<BitmapFont.glyphWidth where bits & (0x10 >> UInt8(column)) != 0 {
                    let px = left + column * scale, py = y + row * scale
                    fill(x0: px, y0: py, x1: px + scale - 1, y1: py + scale - 1, colour)
                }
            }
            left += BitmapFont.advance * scale
        }
    }
}
