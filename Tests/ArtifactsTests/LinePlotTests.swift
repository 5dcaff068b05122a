import Artifacts
import Foundation
import XCTest

final class LinePlotTests: XCTestCase {
    func lossCurves() -> [LinePlot.Series] {
        let train = (0..<40).map { (epoch: Double($0), value: 180 * exp(-Double($0) / 8) + 88) }
        let valid = stride(from: 0, to: 40, by: 5).map { (epoch: Double($0), value: 175 * exp(-Double($0) / 9) + 92) }
        return [LinePlot.Series(name: "train", points: train), LinePlot.Series(name: "validation", points: valid)]
    }

    /// Pixels of `image` exactly equal to `colour`.
    func count(_ colour: RGB, in image: PNGImage) -> Int {
        stride(from: 0, to: image.pixels.count, by: 3).filter {
            image.pixels[$0] == colour.red && image.pixels[$0 + 1] == colour.green && image.pixels[$0 + 2] == colour.blue
        }.count
    }

    func testLinePlot_WritesPNGOfRequestedSize() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("loss.png")
        let plot = try LinePlot(width: 640, height: 400, title: "VampPrior MNIST", xLabel: "epoch", yLabel: "-ELBO")
        try plot.write(lossCurves(), to: url)

        let image = try PNGReader.read(from: url)
        XCTAssertEqual(image.width, 640)
        XCTAssertEqual(image.height, 400)
        XCTAssertEqual(image.format, .rgb)
        let nonWhite = image.pixels.count / 3 - count(.white, in: image)
        XCTAssertGreaterThan(nonWhite, 3000, "axes, grid, text and curves")
        XCTAssertGreaterThan(count(LinePlot.palette[0], in: image), 200, "the train curve is drawn")
        XCTAssertGreaterThan(count(LinePlot.palette[1], in: image), 200, "the validation curve is drawn")
    }

    func testLinePlot_EmptyAndDegenerateSeries() throws {
        let plot = try LinePlot(width: 200, height: 150)
        let empty = plot.render([])
        XCTAssertEqual(empty.pixels.count, 200 * 150 * 3)
        let flat = plot.render([LinePlot.Series(name: "x", points: [(0, 5), (1, .nan), (2, 5)], colour: RGB(1, 2, 3))])
        XCTAssertGreaterThan(count(RGB(1, 2, 3), in: flat), 9, "lone points still get markers")
    }

    func testLinePlot_TooSmall_Fails() {
        XCTAssertThrowsError(try LinePlot(width: 20, height: 20)) {
            XCTAssertEqual($0 as? LinePlotError, .imageTooSmall(width: 20, height: 20))
        }
    }

    func testPlotAxis_NiceTicks() {
        let axis = PlotAxis(covering: [88.3, 264.1], targetTicks: 6)
        XCTAssertEqual(axis.step, 50)
        XCTAssertEqual(axis.ticks, [50, 100, 150, 200, 250, 300])
        XCTAssertEqual(axis.ticks.map(axis.label), ["50", "100", "150", "200", "250", "300"])

        let epochs = PlotAxis(covering: [0, 3], targetTicks: 8, integerSteps: true)
        XCTAssertEqual(epochs.ticks, [0, 1, 2, 3])

        let small = PlotAxis(covering: [0.12, 0.31], targetTicks: 4)
        XCTAssertEqual(small.ticks.map(small.label), ["0.10", "0.15", "0.20", "0.25", "0.30", "0.35"])

        let tiny = PlotAxis(covering: [0.0001, 0.0004], targetTicks: 3)
        XCTAssertEqual(tiny.label(0.0002), "2e-4")
        XCTAssertEqual(PlotAxis.compactExponent("1.50e+05"), "1.50e5")
    }

    func testBitmapFont_GlyphsAreFiveBySeven() {
        for (character, rows) in BitmapFont.glyphs {
            XCTAssertEqual(rows.count, 7, "\(character)")
            XCTAssertTrue(rows.allSatisfy { $0 < 32 }, "\(character) is at most 5 pixels wide")
        }
        XCTAssertEqual(BitmapFont.glyph(for: "t"), BitmapFont.glyph(for: "T"))
        XCTAssertEqual(BitmapFont.glyph(for: "§"), BitmapFont.glyph(for: "?"))
        XCTAssertNotEqual(BitmapFont.glyph(for: "e"), BitmapFont.glyph(for: "E"))
        XCTAssertEqual(BitmapFont.width(of: "1.5e-3"), 35)
    }
}
