import Foundation

/// Draws curves such as training and validation loss per epoch into an RGB image, with
/// axes, tick labels, light grid lines and a legend, using only the built-in bitmap font.
///
/// ```
/// ┌ TITLE ────────────────────────────┐
/// │ LOSS  ┌───────────────┬────────┐  │
/// │  100 ─┤               │ ─ TRAIN│  │
/// │   90 ─┤   curves      │ ─ VALID│  │
/// │       └─┬────┬────┬───┴────────┘  │
/// │         0    5   10     EPOCH     │
/// └───────────────────────────────────┘
/// ```
public struct LinePlot: Sendable {
    /// One named curve: `(epoch, value)` points joined in the order given.
    public struct Series: Sendable {
        public var name: String
        public var points: [(epoch: Double, value: Double)]
        /// The curve's colour; nil picks the next colour of the palette.
        public var colour: RGB?

        /// - Parameters:
        ///   - name: the legend label (drawn upper-case).
        ///   - points: `(epoch, value)` pairs; non-finite values break the curve.
        ///   - colour: nil for the palette's colour.
        public init(name: String, points: [(epoch: Double, value: Double)], colour: RGB? = nil) {
            self.name = name
            self.points = points
            self.colour = colour
        }
    }

    public let width: Int
    public let height: Int
    public var title: String
    public var xLabel: String
    public var yLabel: String

    /// Distinct colours for successive series (blue, orange, green, red, purple, brown).
    public static let palette = [RGB(31, 119, 180), RGB(255, 127, 14), RGB(44, 160, 44),
                                 RGB(214, 39, 40), RGB(148, 103, 189), RGB(140, 86, 75)]

    /// Describes a plot.
    ///
    /// - Parameters:
    ///   - width: image width in pixels, at least 160.
    ///   - height: image height in pixels, at least 120.
    ///   - title: text above the plot; may be empty.
    ///   - xLabel: text under the x axis.
    ///   - yLabel: text above the y axis.
    /// - Throws: `LinePlotError.imageTooSmall` below the minimum size.
    public init(width: Int = 640, height: Int = 400, title: String = "",
                xLabel: String = "epoch", yLabel: String = "loss") throws {
        guard width >= 160, height >= 120, width <= PNGImage.maximumSide, height <= PNGImage.maximumSide else {
            throw LinePlotError.imageTooSmall(width: width, height: height)
        }
        self.width = width
        self.height = height
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
    }

    /// Renders the series into an RGB image of `width × height`.
    ///
    /// - Parameter series: the curves; an empty list draws empty axes.
    /// - Returns: the plot, white background.
    public func render(_ series: [Series]) -> PNGImage {
        let frame = PlotFrame(width: width, height: height)
        let xAxis = PlotAxis(covering: series.flatMap { $0.points.map(\.epoch) }, targetTicks: 8,
                             integerSteps: true)
        let yAxis = PlotAxis(covering: series.flatMap { $0.points.map(\.value) }, targetTicks: 6)
        var canvas = Canvas(width: width, height: height, background: .white)
        drawGrid(on: &canvas, frame: frame, x: xAxis, y: yAxis)
        for (index, curve) in series.enumerated() {
            let colour = curve.colour ?? LinePlot.palette[index % LinePlot.palette.count]
            drawCurve(curve.points, colour: colour, on: &canvas, frame: frame, x: xAxis, y: yAxis)
        }
        canvas.stroke(x0: frame.left, y0: frame.top, x1: frame.right, y1: frame.bottom, .black)
        drawLabels(on: &canvas, frame: frame)
        drawLegend(series, on: &canvas, frame: frame)
        return canvas.image
    }

    /// Renders the series and writes the PNG atomically to `url`.
    ///
    /// - Parameters:
    ///   - series: the curves.
    ///   - url: the destination file.
    /// - Throws: `PNGError` if encoding or writing fails.
    public func write(_ series: [Series], to url: URL) throws {
        try PNGWriter.write(render(series), to: url)
    }

    /// Grid lines, tick marks and tick labels for both axes.
    func drawGrid(on canvas: inout Canvas, frame: PlotFrame, x: PlotAxis, y: PlotAxis) {
        for tick in x.ticks {
            let px = x.pixel(tick, start: frame.left, end: frame.right)
            canvas.fill(x0: px, y0: frame.top + 1, x1: px, y1: frame.bottom - 1, .lightGrey)
            canvas.fill(x0: px, y0: frame.bottom, x1: px, y1: frame.bottom + 4, .black)
            let label = x.label(tick)
            canvas.text(label, x: px - BitmapFont.width(of: label) / 2, y: frame.bottom + 8, .darkGrey)
        }
        for tick in y.ticks {
            let py = y.pixel(tick, start: frame.bottom, end: frame.top)
            canvas.fill(x0: frame.left + 1, y0: py, x1: frame.right - 1, y1: py, .lightGrey)
            canvas.fill(x0: frame.left - 4, y0: py, x1: frame.left, y1: py, .black)
            let label = y.label(tick)
            canvas.text(label, x: frame.left - 8 - BitmapFont.width(of: label), y: py - 3, .darkGrey)
        }
    }

    /// One curve, two pixels wide, with a 3×3 marker on each point of short curves and at
    /// the start of each unbroken piece (so that a lone point still shows).
    func drawCurve(_ points: [(epoch: Double, value: Double)], colour: RGB, on canvas: inout Canvas,
                   frame: PlotFrame, x: PlotAxis, y: PlotAxis) {
        var previous: (x: Int, y: Int)?
        for point in points {
            guard point.epoch.isFinite, point.value.isFinite else { previous = nil; continue }
            let px = x.pixel(point.epoch, start: frame.left, end: frame.right)
            let py = y.pixel(point.value, start: frame.bottom, end: frame.top)
            if let previous {
                canvas.line(x0: previous.x, y0: previous.y, x1: px, y1: py, thickness: 2, colour)
            }
            if previous == nil || points.count <= 50 {
                canvas.fill(x0: px - 1, y0: py - 1, x1: px + 1, y1: py + 1, colour)
            }
            previous = (px, py)
        }
    }

    /// Title, x-axis label and y-axis label.
    func drawLabels(on canvas: inout Canvas, frame: PlotFrame) {
        let title = self.title.uppercased(), xText = xLabel.uppercased(), yText = yLabel.uppercased()
        canvas.text(title, x: (width - BitmapFont.width(of: title, scale: 2)) / 2, y: 6, scale: 2, .black)
        canvas.text(xText, x: (frame.left + frame.right - BitmapFont.width(of: xText)) / 2,
                    y: frame.bottom + 22, .black)
        canvas.text(yText, x: max(2, frame.left - BitmapFont.width(of: yText) / 2), y: frame.top - 12, .black)
    }

    /// A boxed legend in the plot's top-right corner: a colour stroke and the name per series.
    func drawLegend(_ series: [Series], on canvas: inout Canvas, frame: PlotFrame) {
        guard !series.isEmpty else { return }
        let names = series.map { $0.name.uppercased() }
        let textWidth = names.map { BitmapFont.width(of: $0) }.max() ?? 0
        let boxWidth = 30 + textWidth, boxHeight = 6 + 12 * names.count
        let x0 = frame.right - 8 - boxWidth, y0 = frame.top + 8
        canvas.fill(x0: x0, y0: y0, x1: x0 + boxWidth, y1: y0 + boxHeight, .white)
        canvas.stroke(x0: x0, y0: y0, x1: x0 + boxWidth, y1: y0 + boxHeight, .darkGrey)
        for (index, name) in names.enumerated() {
            let colour = series[index].colour ?? LinePlot.palette[index % LinePlot.palette.count]
            let rowY = y0 + 6 + 12 * index
            canvas.fill(x0: x0 + 6, y0: rowY + 2, x1: x0 + 20, y1: rowY + 4, colour)
            canvas.text(name, x: x0 + 25, y: rowY, .black)
        }
    }
}

/// The plot area's edges inside the image, leaving room for labels.
struct PlotFrame {
    let left, top, right, bottom: Int

    init(width: Int, height: Int) {
        left = 72
        top = 36
        right = width - 16
        bottom = height - 40
    }
}

/// A failure to set up a plot.
public enum LinePlotError: Error, LocalizedError, Equatable {
    /// The requested image cannot hold axes and labels.
    case imageTooSmall(width: Int, height: Int)

    public var errorDescription: String? {
        switch self {
        case let .imageTooSmall(width, height):
            return "a plot of \(width)×\(height) pixels is outside 160×120 … 65536×65536"
        }
    }
}
