import Datasets
import XCTest

final class MATReaderTests: XCTestCase {
    /// Four 3×2 images as the columns of a 6 × 4 uint8 matrix (column-major: image i = bytes 6i…6i+5).
    let pixels = fixtureBytes(6 * 4, seed: 3)
    var ff: MATVariable { MATVariable(name: "ff", dims: [6, 4], data: pixels) }
    let other = MATVariable(name: "labels", arrayClass: 6, dims: [1, 3], dataType: 9, data: [UInt8](repeating: 0, count: 24))

    private func read(_ url: URL) throws -> ImageSet {
        try MATReader.readImages(at: url, variable: "ff", height: 3, width: 2)
    }

    private func roundTrip(_ variables: [MATVariable], bigEndian: Bool = false, file: StaticString = #filePath,
                           line: UInt = #line) throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(matFile(variables, bigEndian: bigEndian), to: "faces.mat")
        let set = try read(url)
        XCTAssertEqual([set.count, set.height, set.width], [4, 3, 2], file: file, line: line)
        XCTAssertEqual(set.pixels, pixels, file: file, line: line)
        XCTAssertEqual(Array(set[1]), Array(pixels[6..<12]), file: file, line: line)
    }

    func testMAT_UncompressedRoundTrip() throws {
        try roundTrip([ff])
        try roundTrip([other, ff])
    }

    func testMAT_CompressedRoundTrip() throws {
        var compressedFF = ff
        compressedFF.compressed = true
        var compressedOther = other
        compressedOther.compressed = true
        try roundTrip([compressedFF])
        try roundTrip([compressedOther, compressedFF])
        try roundTrip([compressedOther, ff])
    }

    func testMAT_BigEndianRoundTrip() throws {
        var compressedFF = ff
        compressedFF.compressed = true
        try roundTrip([other, ff], bigEndian: true)
        try roundTrip([other, compressedFF], bigEndian: true)
    }

    func testMAT_SmallDataElement() throws {
        // A 2 × 2 matrix holds 4 bytes: name and data both use the small data element format.
        let dir = try TemporaryDirectory()
        let url = try dir.write(matFile([MATVariable(name: "ff", dims: [2, 2], data: [1, 2, 3, 4])]), to: "small.mat")
        let set = try MATReader.readImages(at: url, variable: "ff", height: 2, width: 1)
        XCTAssertEqual(set.count, 2)
        XCTAssertEqual(set.pixels, [1, 2, 3, 4])
    }

    func testMAT_NotMAT_Fails() throws {
        let dir = try TemporaryDirectory()
        let idx = try dir.write(idxBytes(dims: [1, 28, 20], pixels: fixtureBytes(560, seed: 4)), to: "idx.mat")
        assertDatasetError(try read(idx), naming: idx) {
            if case .notMATv5 = $0 { return true } else { return false }
        }
        var header = matFile([ff])
        header[126] = UInt8(ascii: "X")
        let noIndicator = try dir.write(header, to: "noindicator.mat")
        assertDatasetError(try read(noIndicator), naming: noIndicator) {
            if case .notMATv5 = $0 { return true } else { return false }
        }
        var hdf5 = matFile([ff])
        hdf5[124] = 0x00; hdf5[125] = 0x02
        let v73 = try dir.write(hdf5, to: "v73.mat")
        assertDatasetError(try read(v73), naming: v73) {
            if case .notMATv5(_, let reason) = $0 { return reason.contains("7.3") } else { return false }
        }
        let short = try dir.write(Array("not a mat file".utf8), to: "short.mat")
        assertDatasetError(try read(short), naming: short) {
            if case .notMATv5 = $0 { return true } else { return false }
        }
    }

    func testMAT_MissingVariable_FailsListingNames() throws {
        let dir = try TemporaryDirectory()
        var compressed = MATVariable(name: "faces", dims: [6, 4], data: pixels)
        compressed.compressed = true
        let url = try dir.write(matFile([other, compressed]), to: "noff.mat")
        assertDatasetError(try read(url), naming: url) {
            if case .matVariableMissing(_, "ff", let found) = $0 { return found == ["labels", "faces"] } else { return false }
        }
        do { _ = try read(url) } catch { XCTAssertTrue(error.localizedDescription.contains("labels, faces")) }
    }

    func testMAT_WrongClass_Fails() throws {
        let dir = try TemporaryDirectory()
        let double = MATVariable(name: "ff", arrayClass: 6, dims: [6, 1], dataType: 9, data: [UInt8](repeating: 0, count: 48))
        for compressed in [false, true] {
            var variable = double
            variable.compressed = compressed
            let url = try dir.write(matFile([variable]), to: "double\(compressed).mat")
            assertDatasetError(try read(url), naming: url) {
                if case .matWrongClass(_, "ff", "uint8", "double") = $0 { return true } else { return false }
            }
        }
    }

    func testMAT_WrongDimensions_Fails() throws {
        let dir = try TemporaryDirectory()
        let transposed = try dir.write(matFile([MATVariable(name: "ff", dims: [4, 6], data: pixels)]), to: "transposed.mat")
        assertDatasetError(try read(transposed), naming: transposed) {
            if case .wrongDimensions(_, _, let found) = $0 { return found == [4, 6] } else { return false }
        }
        let cube = try dir.write(matFile([MATVariable(name: "ff", dims: [6, 2, 2], data: pixels)]), to: "cube.mat")
        assertDatasetError(try read(cube), naming: cube) {
            if case .wrongDimensions(_, _, let found) = $0 { return found == [6, 2, 2] } else { return false }
        }
        let mismatch = try dir.write(matFile([MATVariable(name: "ff", dims: [6, 5], data: pixels)]), to: "mismatch.mat")
        assertDatasetError(try read(mismatch), naming: mismatch) {
            if case .matMalformed = $0 { return true } else { return false }
        }
    }

    func testMAT_Truncated_Fails() throws {
        let dir = try TemporaryDirectory()
        let full = matFile([other, ff])
        for cut in [100, 130, full.count - 9, full.count - 1] {
            let url = try dir.write(Array(full.prefix(cut)), to: "cut\(cut).mat")
            assertDatasetError(try read(url), naming: url) {
                switch $0 {
                case .truncated, .notMATv5: return true
                default: return false
                }
            }
        }
        var compressedFF = ff
        compressedFF.compressed = true
        var bytes = matFile([compressedFF])
        let length = bytes.count - 136
        bytes.removeLast(4)  // cut the zlib stream, and shrink the declared length to match
        bytes.replaceSubrange(132..<136, with: littleEndian32(UInt32(length - 4)))
        let url = try dir.write(bytes, to: "cutstream.mat")
        assertDatasetError(try read(url), naming: url) {
            if case .truncated = $0 { return true } else { return false }
        }
    }

    func testMAT_CompressedAbsurdSize_Fails() throws {
        // A compressed element whose inner tag declares 4 GiB must fail before any allocation.
        let dir = try TemporaryDirectory()
        let inner = littleEndian32(14) + littleEndian32(0xFFFF_FFF0) + [UInt8](repeating: 0, count: 64)
        let z = zlibCompressed(inner)
        let bytes = Array(matFile([]) + littleEndian32(15) + littleEndian32(UInt32(z.count)) + z)
        let url = try dir.write(bytes, to: "liar.mat")
        assertDatasetError(try read(url), naming: url) {
            if case .absurdSize = $0 { return true } else { return false }
        }
    }
}
