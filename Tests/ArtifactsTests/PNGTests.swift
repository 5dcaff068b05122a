import Artifacts
import Foundation
import XCTest

final class PNGTests: XCTestCase {
    func testPNG_GreyRoundTrip() throws {
        let directory = try makeTemporaryDirectory(self)
        let pixels: [UInt8] = (0..<35).map { (index: Int) -> UInt8 in UInt8((index * 37) % 256) }
        let image = try PNGImage(width: 7, height: 5, format: .grey, pixels: pixels)
        let url = directory.appendingPathComponent("grey.png")
        try PNGWriter.write(image, to: url)

        let bytes = try Data(contentsOf: url)
        XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A], "PNG signature")
        XCTAssertEqual(bytes[25], 0, "IHDR colour type 0 (greyscale)")
        XCTAssertEqual(try PNGReader.read(from: url), image)
    }

    func testPNG_RGBRoundTrip() throws {
        let directory = try makeTemporaryDirectory(self)
        let pixels: [UInt8] = (0..<72).map { (index: Int) -> UInt8 in UInt8((index * 91 + 7) % 256) }
        let image = try PNGImage(width: 6, height: 4, format: .rgb, pixels: pixels)
        let url = directory.appendingPathComponent("rgb.png")
        try PNGWriter.write(image, to: url)

        let bytes = try Data(contentsOf: url)
        XCTAssertEqual(bytes[24], 8, "IHDR bit depth 8")
        XCTAssertEqual(bytes[25], 2, "IHDR colour type 2 (RGB)")
        let decoded = try PNGReader.read(from: url)
        XCTAssertEqual(decoded, image)
        XCTAssertEqual(decoded.pixel(x: 5, y: 3), Array(pixels[69..<72]))
    }

    func testPNG_EncodeLargeNoisyImage() throws {
        var generator = SplitMix64(seed: 1)
        let pixels = (0..<(300 * 200 * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let image = try PNGImage(width: 300, height: 200, format: .rgb, pixels: pixels)
        XCTAssertEqual(try PNGReader.decode(PNGWriter.encode(image)), image, "incompressible data still round-trips")
    }

    func testPNG_UnwritablePath_Fails() throws {
        let image = PNGImage(width: 2, height: 2, format: .grey)
        let url = URL(fileURLWithPath: "/nonexistent-directory-\(UUID().uuidString)/image.png")
        XCTAssertThrowsError(try PNGWriter.write(image, to: url)) { error in
            guard case let PNGError.cannotOpenFile(path, _) = error else {
                return XCTFail("expected cannotOpenFile, got \(error)")
            }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(error.localizedDescription.contains(url.path))
        }
    }

    func testPNG_MissingFile_Fails() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString).png")
        XCTAssertThrowsError(try PNGReader.read(from: url)) { error in
            guard case PNGError.cannotOpenFile = error else { return XCTFail("got \(error)") }
        }
    }

    func testPNG_GarbageData_Fails() throws {
        XCTAssertThrowsError(try PNGReader.decode(Data("not a png at all".utf8))) { error in
            guard case let PNGError.libpng(_, message) = error else { return XCTFail("got \(error)") }
            XCTAssertFalse(message.isEmpty)
        }
        var truncated = try PNGWriter.encode(PNGImage(width: 16, height: 16, format: .rgb, fill: 9))
        truncated = truncated.prefix(truncated.count / 2)
        XCTAssertThrowsError(try PNGReader.decode(truncated)) { error in
            guard case PNGError.libpng = error else { return XCTFail("got \(error)") }
        }
    }

    func testPNG_WrongSampleCount_Fails() {
        XCTAssertThrowsError(try PNGImage(width: 3, height: 3, format: .rgb, pixels: [0, 1, 2])) { error in
            XCTAssertEqual(error as? PNGError,
                           .invalidDimensions(width: 3, height: 3, channels: 3, sampleCount: 3))
        }
    }
}
