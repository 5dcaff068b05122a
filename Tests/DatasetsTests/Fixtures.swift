import CZlib
import Datasets
import Foundation
import XCTest

/// A fresh directory under the system's temporary directory, removed when released.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("datasets-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// Writes `bytes` to `name` (creating subdirectories) and returns its URL.
    @discardableResult
    func write(_ bytes: [UInt8], to name: String) throws -> URL {
        let file = url.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try writeFile(bytes, to: file)
        return file
    }
}

/// Writes `bytes` to `url` with plain stdio (Foundation's `Data.write` also fsyncs, which makes
/// thousands of fuzz files slow on a busy disk).
func writeFile(_ bytes: [UInt8], to url: URL) throws {
    guard let handle = fopen(url.path, "wb") else { throw CocoaError(.fileWriteUnknown) }
    let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, handle) }
    guard fclose(handle) == 0, written == bytes.count else { throw CocoaError(.fileWriteUnknown) }
}

/// IDX encoding: magic `00 00 type rank`, big-endian UInt32 dimensions, then the data.
func idxBytes(dims: [Int], pixels: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
    var out: [UInt8] = [0, 0, type, UInt8(dims.count)]
    for d in dims { out += bigEndian32(UInt32(truncatingIfNeeded: d)) }
    return out + pixels
}

func bigEndian32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }
func littleEndian32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * UInt32($0))) } }

/// gzip compression through zlib's gz* file API (the format `gzip` writes).
func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
    let directory = try TemporaryDirectory()
    let path = directory.url.appendingPathComponent("data.gz").path
    guard let gz = gzopen(path, "wb9") else { throw CocoaError(.fileWriteUnknown) }
    let written = bytes.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
    guard gzclose(gz) == Z_OK, written == Int32(bytes.count) || bytes.isEmpty else { throw CocoaError(.fileWriteUnknown) }
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// zlib (RFC 1950) compression, as in MAT v5 `miCOMPRESSED` elements.
func zlibCompressed(_ bytes: [UInt8]) -> [UInt8] {
    var size = compressBound(uLong(bytes.count))
    var out = [UInt8](repeating: 0, count: Int(size))
    let status = out.withUnsafeMutableBufferPointer { o in
        bytes.withUnsafeBufferPointer { compress2(o.baseAddress, &size, $0.baseAddress, uLong($0.count), 6) }
    }
    precondition(status == Z_OK, "compress2 failed")
    return Array(out.prefix(Int(size)))
}

/// Deterministic pseudo-random bytes for fixtures.
func fixtureBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next() >> 32) }
}

/// `count` bytes that repeat a block of 101 pseudo-random 784-byte images (fast to build in debug).
func repeatedImageBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    let block = fixtureBytes(101 * 784, seed: seed)
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count + block.count)
    while bytes.count < count { bytes += block }
    bytes.removeLast(bytes.count - count)
    return bytes
}

/// A variable for `matFile`.
struct MATVariable {
    var name: String
    var arrayClass: UInt8 = 9          // mxUINT8_CLASS
    var dims: [Int]
    var dataType: UInt32 = 2           // miUINT8
    var data: [UInt8]
    var compressed = false
}

/// A minimal MATLAB Level 5 MAT-file writer (header, miMATRIX or miCOMPRESSED elements,
/// small data elements for ≤ 4 bytes), in either byte order.
func matFile(_ variables: [MATVariable], bigEndian: Bool = false) -> [UInt8] {
    let word: (UInt32) -> [UInt8] = bigEndian ? bigEndian32 : littleEndian32
    var header = Array("MATLAB 5.0 MAT-file, Platform: test, Created by DatasetsTests".utf8)
    header += [UInt8](repeating: 0x20, count: 116 - header.count) + [UInt8](repeating: 0, count: 8)
    header += bigEndian ? [0x01, 0x00] : [0x00, 0x01]
    header += Array((bigEndian ? "MI" : "IM").utf8)
    var out = header
    for v in variables {
        let matrix = matrixElement(v, word: word)
        if v.compressed {
            let z = zlibCompressed(matrix)
            out += word(15) + word(UInt32(z.count)) + z
        } else {
            out += matrix
        }
    }
    return out
}

private func matrixElement(_ v: MATVariable, word: (UInt32) -> [UInt8]) -> [UInt8] {
    var body = element(6, word(UInt32(v.arrayClass)) + word(0), word: word)
    body += element(5, v.dims.flatMap { word(UInt32(bitPattern: Int32($0))) }, word: word)
    body += element(1, Array(v.name.utf8), word: word)
    body += element(v.dataType, v.data, word: word)
    return word(14) + word(UInt32(body.count)) + body
}

/// One data element: the small format for 1…4 bytes, otherwise tag + data padded to 8 bytes.
private func element(_ type: UInt32, _ data: [UInt8], word: (UInt32) -> [UInt8]) -> [UInt8] {
    if (1...4).contains(data.count) {
        return word(UInt32(data.count) << 16 | type) + data + [UInt8](repeating: 0, count: 4 - data.count)
    }
    let padding = (8 - data.count % 8) % 8
    return word(type) + word(UInt32(data.count)) + data + [UInt8](repeating: 0, count: padding)
}

/// MNIST-style CSV text: optional header, then `label,p0,…` per image, lines ending in `newline`.
func csvText(images: [[UInt8]], labels: [Int]? = nil, header: Bool = true, newline: String = "\r\n") -> String {
    let pixels = images.first?.count ?? 0
    var lines: [String] = []
    if header { lines.append((["label"] + (0..<pixels).map { "p\($0)" }).joined(separator: ",")) }
    for (i, image) in images.enumerated() {
        lines.append(([String(labels?[i] ?? i % 10)] + image.map(String.init)).joined(separator: ","))
    }
    return lines.joined(separator: newline) + newline
}

/// Asserts that `body` throws a `DatasetError` for which `matches` is true, and whose message
/// names `file` (its last path component).
func assertDatasetError<T>(_ body: @autoclosure () throws -> T, naming file: URL?,
                           file sourceFile: StaticString = #filePath, line: UInt = #line,
                           _ matches: (DatasetError) -> Bool) {
    do {
        _ = try body()
        XCTFail("expected a DatasetError, got a result", file: sourceFile, line: line)
    } catch let error as DatasetError {
        XCTAssertTrue(matches(error), "unexpected error case: \(error)", file: sourceFile, line: line)
        let message = error.localizedDescription
        if let name = file?.lastPathComponent {
            XCTAssertTrue(message.contains(name), "message does not name \(name): \(message)", file: sourceFile, line: line)
        }
    } catch {
        XCTFail("expected a DatasetError, got \(type(of: error)): \(error)", file: sourceFile, line: line)
    }
}
