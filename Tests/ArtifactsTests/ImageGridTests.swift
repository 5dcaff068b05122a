import Artifacts
import XCTest

final class ImageGridTests: XCTestCase {
    /// `count` 2×2 images whose pixel p of image k quantises to exactly `4k + p + 1`.
    func numberedImages(_ count: Int) -> [Float] {
        (0..<count * 4).map { Float($0 + 1) / 255 }
    }

    func testGrid_TwoByThreeExactPositions() throws {
        let grid = try ImageGrid(imageHeight: 2, imageWidth: 2, rows: 2, columns: 3, separator: 1, background: 200)
        let image = try grid.render(numberedImages(5))
        XCTAssertEqual(image.width, 3 * 2 + 2)
        XCTAssertEqual(image.height, 2 * 2 + 1)
        XCTAssertEqual(image.format, .grey)
        // Expected pixels, row by row: S = separator (200), cells 0…4 hold values 1…20.
        let expected: [[UInt8]] = [
            [1, 2, 200, 5, 6, 200, 9, 10],
            [3, 4, 200, 7, 8, 200, 11, 12],
            [200, 200, 200, 200, 200, 200, 200, 200],
            [13, 14, 200, 17, 18, 200, 200, 200],
            [15, 16, 200, 19, 20, 200, 200, 200],
        ]
        XCTAssertEqual(image.pixels, expected.flatMap { $0 })
    }

    func testGrid_ScaleAndWideSeparator() throws {
        let grid = try ImageGrid(imageHeight: 2, imageWidth: 2, rows: 1, columns: 2, separator: 2,
                                 scale: 2, background: 0)
        let image = try grid.render(numberedImages(2))
        XCTAssertEqual(image.width, 2 * 4 + 2)
        XCTAssertEqual(image.height, 4)
        let expected: [[UInt8]] = [
            [1, 1, 2, 2, 0, 0, 5, 5, 6, 6],
            [1, 1, 2, 2, 0, 0, 5, 5, 6, 6],
            [3, 3, 4, 4, 0, 0, 7, 7, 8, 8],
            [3, 3, 4, 4, 0, 0, 7, 7, 8, 8],
        ]
        XCTAssertEqual(image.pixels, expected.flatMap { $0 })
    }

    func testGrid_PairsAlternateColumns() throws {
        let grid = try ImageGrid(imageHeight: 1, imageWidth: 1, rows: 2, columns: 4, separator: 1,
                                 layout: .pairs, background: 99)
        let inputs: [Float] = [10, 11, 12].map { $0 / 255 }
        let reconstructions: [Float] = [20, 21, 22].map { $0 / 255 }
        let image = try grid.render(inputs: inputs, reconstructions: reconstructions)
        let expected: [[UInt8]] = [
            [10, 99, 20, 99, 11, 99, 21],
            [99, 99, 99, 99, 99, 99, 99],
            [12, 99, 22, 99, 99, 99, 99],
        ]
        XCTAssertEqual(image.pixels, expected.flatMap { $0 })
    }

    func testGrid_ClampsAndQuantises() throws {
        let grid = try ImageGrid(imageHeight: 1, imageWidth: 6, rows: 1, columns: 1)
        let image = try grid.render([-0.5, 1.5, .nan, 0.5, .infinity, 1.0 / 255])
        XCTAssertEqual(image.pixels, [0, 255, 0, 128, 255, 1])
    }

    func testGrid_BadInputs_Fail() throws {
        let grid = try ImageGrid(imageHeight: 2, imageWidth: 2, rows: 1, columns: 2)
        XCTAssertThrowsError(try grid.render([Float](repeating: 0, count: 7))) {
            XCTAssertEqual($0 as? ImageGridError, .partialImage(valueCount: 7, imageSize: 4))
        }
        XCTAssertThrowsError(try grid.render([Float](repeating: 0, count: 12))) {
            XCTAssertEqual($0 as? ImageGridError, .tooManyImages(count: 3, capacity: 2))
        }
        XCTAssertThrowsError(try ImageGrid(imageHeight: 2, imageWidth: 2, rows: 1, columns: 3, layout: .pairs)) {
            guard case ImageGridError.invalidLayout = $0 else { return XCTFail("got \($0)") }
        }
        let pairs = try ImageGrid(imageHeight: 2, imageWidth: 2, rows: 1, columns: 4, layout: .pairs)
        XCTAssertThrowsError(try pairs.render(inputs: [Float](repeating: 0, count: 8),
                                              reconstructions: [Float](repeating: 0, count: 4))) {
            XCTAssertEqual($0 as? ImageGridError, .pairCountMismatch(inputs: 2, reconstructions: 1))
        }
    }
}
