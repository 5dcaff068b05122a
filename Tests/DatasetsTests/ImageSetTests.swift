import Datasets
import XCTest
#if canImport(MallocCounter)
import MallocCounter
#endif

final class ImageSetTests: XCTestCase {
    /// 256 images of 2×2: image i has pixels (i, 255 − i, i / 2, 0).
    let set = ImageSet(pixels: ImageSetTests.rampPixels(), height: 2, width: 2)

    static func rampPixels() -> [UInt8] {
        var pixels: [UInt8] = []
        for i in 0..<256 {
            pixels += [UInt8(i), UInt8(255 - i), UInt8(i / 2), 0]
        }
        return pixels
    }

    func testImageSet_Shape() {
        XCTAssertEqual([set.count, set.height, set.width, set.pixelsPerImage], [256, 2, 2, 4])
        XCTAssertEqual(Array(set[7]), [7, 248, 3, 0])
        XCTAssertEqual(set.slice(10..<12).pixels, [10, 245, 5, 0, 11, 244, 5, 0])
        XCTAssertEqual(set.gathering([3, 1, 3]).pixels, [3, 252, 1, 0, 1, 254, 0, 0, 3, 252, 1, 0])
        XCTAssertEqual(ImageSet(pixels: [], height: 2, width: 2).count, 0)
        XCTAssertEqual(set.slice(5..<5).count, 0)
    }

    func testStaticBinarization_Rule() {
        // 1 where v > 0.5 · 255, i.e. v ≥ 128.
        let binary = set.binarized()
        for i in 0..<256 {
            let expected: [UInt8] = [i >= 128 ? 1 : 0, 255 - i >= 128 ? 1 : 0, i / 2 >= 128 ? 1 : 0, 0]
            XCTAssertEqual(Array(binary[i]), expected, "image \(i)")
        }
        XCTAssertEqual(Array(ImageSet(pixels: [127, 128, 0, 255], height: 1, width: 4).binarized()[0]), [0, 1, 0, 1])
    }

    func testGreyTransform_ExactBinCentres() {
        var floats = [Float](repeating: -1, count: 256 * 4)
        var doubles = [Double](repeating: -1, count: 256 * 4)
        set.fill(indices: 0..<256, into: &floats, transform: .grey)
        set.fill(indices: 0..<256, into: &doubles, transform: .grey)
        for i in 0..<256 {
            XCTAssertEqual(floats[4 * i], Float((Double(i) + 0.5) / 256))
            XCTAssertEqual(doubles[4 * i], (Double(i) + 0.5) / 256)
            XCTAssertEqual(doubles[4 * i + 1], (Double(255 - i) + 0.5) / 256)
        }
        XCTAssertEqual(doubles[0], 0.5 / 256)
        XCTAssertEqual(doubles[4 * 255], 255.5 / 256)
    }

    func testBinaryTransform_ZeroOne() {
        let binary = set.binarized()
        var out = [Float](repeating: -1, count: 3 * 4)
        binary.fill(indices: [200, 0, 100], into: &out, transform: .binary)
        XCTAssertEqual(out, [1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    }

    func testBatchFill_MatchesPerPixelFormula() {
        let indices = [5, 250, 5, 17, 128]
        var out = [Double](repeating: -1, count: indices.count * 4)
        set.fill(indices: indices, into: &out, transform: .grey)
        for (row, i) in indices.enumerated() {
            for j in 0..<4 {
                XCTAssertEqual(out[row * 4 + j], (Double(set[i][j]) + 0.5) / 256, "row \(row) pixel \(j)")
            }
        }
    }

    func testDynamicBinarization_MatchesFormula() {
        // Uniforms per (image, row): u = ((image + 7·row + 3·pixel) mod 17) / 17.
        let indices = [0, 64, 127, 128, 255, 3]
        let u = UnsafeMutablePointer<Double>.allocate(capacity: indices.count * 4)
        defer { u.deallocate() }
        var calls: [(Int, Int)] = []
        var out = [Float](repeating: -1, count: indices.count * 4)
        set.fill(indices: indices, into: &out, transform: .dynamic { image, row in
            calls.append((image, row))
            for j in 0..<4 { u[row * 4 + j] = Double((image + 7 * row + 3 * j) % 17) / 17 }
            return UnsafePointer(u + row * 4)
        })
        let uniforms = Array(UnsafeBufferPointer(start: u, count: indices.count * 4))
        XCTAssertEqual(calls.map(\.0), indices)
        XCTAssertEqual(calls.map(\.1), Array(0..<indices.count))
        for (row, i) in indices.enumerated() {
            for j in 0..<4 {
                let expected: Float = uniforms[row * 4 + j] < Double(set[i][j]) / 255 ? 1 : 0
                XCTAssertEqual(out[row * 4 + j], expected, "row \(row) pixel \(j)")
            }
        }
        // v = 0 is never on; v = 255 is always on.
        XCTAssertEqual(out[3], 0)
        XCTAssertEqual(out[4 * 4 + 0], 1)
    }

    #if canImport(MallocCounter)
    func testBatchFill_AllocatesNothing() {
        let indices = Array(stride(from: 255, through: 0, by: -3))
        let out = UnsafeMutablePointer<Float>.allocate(capacity: indices.count * 4)
        let u = UnsafeMutablePointer<Double>.allocate(capacity: 4)
        u.initialize(repeating: 0.5, count: 4)
        defer { out.deallocate(); u.deallocate() }
        let transforms: [PixelTransform] = [.binary, .grey, .dynamic { _, _ in UnsafePointer(u) }]
        func fillAll() {
            for transform in transforms { set.fill(indices: indices[...], into: out, transform: transform) }
        }
        fillAll()  // warm up
        let calls = largevae_malloc_calls()
        for _ in 0..<100 { fillAll() }
        let made = largevae_malloc_calls() - calls
        #if DEBUG
        print("malloc count not asserted in debug builds (\(made) calls); run `swift test -c release`")
        #else
        if calls >= 0 {  // −1 where the counter does not interpose malloc
            XCTAssertGreaterThan(calls, 0, "the malloc counter is not counting")
            XCTAssertEqual(made, 0, "ImageSet.fill called malloc")
        }
        #endif
    }
    #endif
}
