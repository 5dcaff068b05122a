import Datasets
import XCTest

final class IDXReaderTests: XCTestCase {
    let pixels = fixtureBytes(5 * 4 * 3, seed: 1)

    func testIDX_RawRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(idxBytes(dims: [5, 4, 3], pixels: pixels), to: "images-idx3-ubyte")
        let set = try IDXReader.readImages(at: url, height: 4, width: 3)
        XCTAssertEqual([set.count, set.height, set.width], [5, 4, 3])
        XCTAssertEqual(set.pixels, pixels)
        XCTAssertEqual(Array(set[2]), Array(pixels[24..<36]))
        XCTAssertFalse(set.isMemoryMapped)
    }

    func testIDX_GzipRoundTrip() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(gzipped(idxBytes(dims: [5, 4, 3], pixels: pixels)), to: "images-idx3-ubyte.gz")
        let set = try IDXReader.readImages(at: url)
        XCTAssertEqual([set.count, set.height, set.width], [5, 4, 3])
        XCTAssertEqual(set.pixels, pixels)
    }

    func testIDX_GzipDetectedByMagicNotName() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(gzipped(idxBytes(dims: [5, 4, 3], pixels: pixels)), to: "no-extension")
        XCTAssertEqual(try IDXReader.readImages(at: url).pixels, pixels)
    }

    func testIDX_ConcatenatedGzipMembers() throws {
        let dir = try TemporaryDirectory()
        let bytes = idxBytes(dims: [5, 4, 3], pixels: pixels)
        let url = try dir.write(try gzipped(Array(bytes[..<20])) + gzipped(Array(bytes[20...])), to: "two-members.gz")
        XCTAssertEqual(try IDXReader.readImages(at: url).pixels, pixels)
    }

    func testIDX_LargeRawFileIsMemoryMapped() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(idxBytes(dims: [5, 4, 3], pixels: pixels), to: "mapped-idx3-ubyte")
        let set = try IDXReader.readImages(at: url, mapThreshold: 0)
        XCTAssertTrue(set.isMemoryMapped)
        XCTAssertEqual(set.pixels, pixels)
        XCTAssertEqual(set.slice(1..<3).pixels, Array(pixels[12..<36]))
        XCTAssertEqual(IDXReader.defaultMapThreshold, 64 << 20)
    }

    func testIDX_Truncated_Fails() throws {
        let dir = try TemporaryDirectory()
        let full = idxBytes(dims: [5, 4, 3], pixels: pixels)
        for cut in [0, 3, 9, full.count - 1] {
            let url = try dir.write(Array(full.prefix(cut)), to: "cut\(cut)-idx3-ubyte")
            assertDatasetError(try IDXReader.readImages(at: url), naming: url) {
                if case .truncated = $0 { return true } else { return false }
            }
        }
        let gz = try dir.write(gzipped(Array(full.prefix(full.count - 1))), to: "short-idx3-ubyte.gz")
        assertDatasetError(try IDXReader.readImages(at: gz), naming: gz) {
            if case .truncated = $0 { return true } else { return false }
        }
        let compressed = try gzipped(full)
        let cutStream = try dir.write(Array(compressed.dropLast(10)), to: "cutstream-idx3-ubyte.gz")
        assertDatasetError(try IDXReader.readImages(at: cutStream), naming: cutStream) {
            if case .truncated = $0 { return true } else { return false }
        }
    }

    func testIDX_TrailingBytes_Fails() throws {
        let dir = try TemporaryDirectory()
        let long = idxBytes(dims: [5, 4, 3], pixels: pixels + [7])
        let raw = try dir.write(long, to: "long-idx3-ubyte")
        assertDatasetError(try IDXReader.readImages(at: raw), naming: raw) {
            if case .trailingBytes = $0 { return true } else { return false }
        }
        let gz = try dir.write(gzipped(long), to: "long-idx3-ubyte.gz")
        assertDatasetError(try IDXReader.readImages(at: gz), naming: gz) {
            if case .trailingBytes = $0 { return true } else { return false }
        }
        let garbage = try dir.write(gzipped(idxBytes(dims: [5, 4, 3], pixels: pixels)) + [1, 2, 3], to: "garbage.gz")
        assertDatasetError(try IDXReader.readImages(at: garbage), naming: garbage) {
            if case .trailingBytes = $0 { return true } else { return false }
        }
    }

    func testIDX_BadMagic_Fails() throws {
        let dir = try TemporaryDirectory()
        var bytes = idxBytes(dims: [5, 4, 3], pixels: pixels)
        bytes[0] = 0x50
        let url = try dir.write(bytes, to: "bad-magic-idx3-ubyte")
        assertDatasetError(try IDXReader.readImages(at: url), naming: url) {
            if case .badMagic(_, _, let found) = $0 { return found.hasPrefix("50 00 08 03") } else { return false }
        }
    }

    func testIDX_WrongType_Fails() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(idxBytes(dims: [5, 4, 3], pixels: pixels, type: 0x0D), to: "float-idx3")
        assertDatasetError(try IDXReader.readImages(at: url), naming: url) {
            if case .wrongElementType(_, _, let found) = $0 { return found.contains("float") } else { return false }
        }
    }

    func testIDX_WrongDimensions_Fails() throws {
        let dir = try TemporaryDirectory()
        let labels = try dir.write(idxBytes(dims: [60], pixels: fixtureBytes(60, seed: 2)), to: "labels-idx1-ubyte")
        assertDatasetError(try IDXReader.readImages(at: labels), naming: labels) {
            if case .wrongDimensions(_, _, let found) = $0 { return found == [60] } else { return false }
        }
        let images = try dir.write(idxBytes(dims: [5, 4, 3], pixels: pixels), to: "small-idx3-ubyte")
        assertDatasetError(try IDXReader.readImages(at: images, height: 28, width: 28), naming: images) {
            if case .wrongDimensions(_, let expected, let found) = $0 {
                return found == [5, 4, 3] && expected.contains("28")
            }
            return false
        }
        let zeroWidth = try dir.write(idxBytes(dims: [5, 4, 0], pixels: []), to: "zero-idx3-ubyte")
        assertDatasetError(try IDXReader.readImages(at: zeroWidth), naming: zeroWidth) {
            if case .wrongDimensions = $0 { return true } else { return false }
        }
        let rank0 = try dir.write([0, 0, 8, 0], to: "rank0-idx")
        assertDatasetError(try IDXReader.readImages(at: rank0), naming: rank0) {
            if case .wrongDimensions = $0 { return true } else { return false }
        }
    }

    func testIDX_AbsurdSize_Fails() throws {
        let dir = try TemporaryDirectory()
        let overflow = try dir.write(idxBytes(dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], pixels: pixels), to: "huge-idx3")
        assertDatasetError(try IDXReader.readImages(at: overflow), naming: overflow) {
            if case .absurdSize = $0 { return true } else { return false }
        }
        // A small gzip file that declares 1,000,000 × 28 × 28 bytes must fail before allocating them.
        let gz = try dir.write(gzipped(idxBytes(dims: [1_000_000, 28, 28], pixels: pixels)), to: "liar-idx3-ubyte.gz")
        assertDatasetError(try IDXReader.readImages(at: gz), naming: gz) {
            if case .absurdSize = $0 { return true } else { return false }
        }
    }

    func testIDX_CorruptGzip_Fails() throws {
        let dir = try TemporaryDirectory()
        var compressed = try gzipped(idxBytes(dims: [5, 4, 3], pixels: pixels))
        compressed[compressed.count - 6] ^= 0xFF  // inside the CRC-32 trailer
        let url = try dir.write(compressed, to: "crc-idx3-ubyte.gz")
        assertDatasetError(try IDXReader.readImages(at: url), naming: url) {
            if case .corruptCompression = $0 { return true } else { return false }
        }
    }

    func testIDX_Unreadable_Fails() throws {
        let dir = try TemporaryDirectory()
        let missing = dir.url.appendingPathComponent("missing-idx3-ubyte")
        assertDatasetError(try IDXReader.readImages(at: missing), naming: missing) {
            if case .unreadable = $0 { return true } else { return false }
        }
        let folder = dir.url.appendingPathComponent("folder-idx3-ubyte")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        assertDatasetError(try IDXReader.readImages(at: folder), naming: folder) {
            if case .unreadable(_, let reason) = $0 { return reason.contains("regular file") } else { return false }
        }
    }
}
