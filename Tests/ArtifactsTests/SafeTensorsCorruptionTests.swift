import Artifacts
import Foundation
import XCTest

final class SafeTensorsCorruptionTests: XCTestCase {
    /// A file with a hand-written header (padded to 8) and `dataSize` bytes of data.
    func makeFile(header: String, dataSize: Int) -> Data {
        var json = Array(header.utf8)
        json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8)
        var data = Data(littleEndianBytes(UInt64(json.count)))
        data.append(contentsOf: json)
        data.append(contentsOf: (0..<dataSize).map { UInt8($0 % 251) })
        return data
    }

    func validFile() throws -> Data {
        try SafeTensors.encode(["a": SafeTensor(float32: [1, 2, 3, 4], shape: [2, 2]),
                                "b": SafeTensor(float64: [5, 6], shape: [2])],
                               metadata: ["epoch": "1"])
    }

    /// Asserts that decoding `data` throws exactly `expected`.
    func assertDecodeFails(_ data: Data, _ expected: SafeTensorsError,
                           file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.decode(data, path: "x.safetensors"), file: file, line: line) {
            XCTAssertEqual($0 as? SafeTensorsError, expected, file: file, line: line)
        }
    }

    func testSafeTensors_Truncated_Fails() throws {
        let data = try validFile()
        let headerEnd = try SafeTensors.headerEnd(of: data, path: "")
        assertDecodeFails(data.prefix(5), .truncated(path: "x.safetensors", fileSize: 5))
        assertDecodeFails(data.prefix(headerEnd - 3),
                          .headerLengthOutOfRange(path: "x.safetensors", headerLength: UInt64(headerEnd - 8),
                                                  fileSize: headerEnd - 3))
        // Data section cut short: "b" (F64, first) still fits, "a" ends past the end.
        assertDecodeFails(data.prefix(headerEnd + 20),
                          .offsetOutOfRange(path: "x.safetensors", tensor: "a", end: 32, dataSize: 20))
    }

    func testSafeTensors_BadHeaderLength_Fails() throws {
        var data = try validFile()
        data.replaceSubrange(0..<8, with: littleEndianBytes(UInt64(1) << 40))
        assertDecodeFails(data, .headerLengthOutOfRange(path: "x.safetensors", headerLength: 1 << 40,
                                                        fileSize: data.count))
    }

    func testSafeTensors_BadJSON_Fails() throws {
        for header in [#"{"a": {"dtype": "F32",}"#, "[1, 2]", "{\"a\": \u{1}}", "  {}"] {
            XCTAssertThrowsError(try SafeTensors.decode(makeFile(header: header, dataSize: 0))) {
                guard case SafeTensorsError.malformedHeader = $0 else { return XCTFail("\(header): got \($0)") }
            }
        }
    }

    func testSafeTensors_OverlappingOffsets_Fails() {
        let header = #"{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},"#
            + #" "v": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}"#
        assertDecodeFails(makeFile(header: header, dataSize: 12),
                          .overlappingTensors(path: "x.safetensors", first: "w", second: "v"))
    }

    func testSafeTensors_GapsAndTrailingBytes_Fail() {
        let gap = #"{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},"#
            + #" "v": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}"#
        assertDecodeFails(makeFile(header: gap, dataSize: 12),
                          .unusedBytes(path: "x.safetensors", offset: 4, before: "v"))
        let trailing = #"{"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}"#
        assertDecodeFails(makeFile(header: trailing, dataSize: 6),
                          .unusedBytes(path: "x.safetensors", offset: 4, before: nil))
    }

    func testSafeTensors_BadEntries_Fail() {
        let path = "x.safetensors"
        assertDecodeFails(makeFile(header: #"{"w": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}"#, dataSize: 2),
                          .unsupportedDType(path: path, tensor: "w", dtype: "BF16"))
        assertDecodeFails(makeFile(header: #"{"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, dataSize: 8),
                          .byteCountMismatch(path: path, tensor: "w", expected: 12, actual: 8))
        assertDecodeFails(makeFile(header: #"{"__metadata__": {"k": 1}}"#, dataSize: 0),
                          .invalidMetadata(path: path, reason: "the value of \"k\" is not a string"))
        for entry in [#"{"dtype": "F32", "shape": [true], "data_offsets": [0, 4]}"#,
                      #"{"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}"#,
                      #"{"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}"#,
                      #"{"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}"#,
                      #"{"dtype": "F32", "shape": [99999999999999999999], "data_offsets": [0, 4]}"#,
                      #"{"shape": [1], "data_offsets": [0, 4]}"#, "7"] {
            XCTAssertThrowsError(try SafeTensors.decode(makeFile(header: "{\"w\": \(entry)}", dataSize: 4))) {
                guard case SafeTensorsError.invalidEntry(_, "w", _) = $0 else { return XCTFail("\(entry): got \($0)") }
            }
        }
    }

    func testSafeTensors_ChecksumMismatch_Fails() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("corrupt.safetensors")
        var data = try validFile()
        let recorded = try XCTUnwrap(UInt32(SafeTensors.decode(data).metadata["crc32c"] ?? "", radix: 16))
        data[data.count - 3] ^= 0x10
        try data.write(to: url)
        XCTAssertThrowsError(try SafeTensors.read(from: url)) { error in
            guard case let SafeTensorsError.checksumMismatch(path, expected, actual) = error else {
                return XCTFail("got \(error)")
            }
            XCTAssertEqual(path, url.path)
            XCTAssertEqual(expected, recorded)
            XCTAssertNotEqual(actual, recorded)
            XCTAssertTrue(error.localizedDescription.contains("corrupt.safetensors"))
        }
    }

    /// Random damage to a valid file must end in a `SafeTensorsError` or a clean decode, never a crash.
    func testSafeTensors_FuzzedFilesNeverCrash() throws {
        let original = try validFile()
        var generator = SplitMix64(seed: 2024)
        var failures = 0, successes = 0
        for _ in 0..<2000 {
            let damaged = mutate(original, using: &generator)
            do {
                let file = try SafeTensors.decode(damaged)
                successes += 1
                XCTAssertEqual(file.tensors.count, 2, "a decode that succeeds kept both tensors")
            } catch is SafeTensorsError {
                failures += 1
            } catch {
                XCTFail("untyped error \(error)")
            }
        }
        XCTAssertGreaterThan(failures, 1500, "almost every mutation is detected (\(successes) decoded)")
    }

    /// One random mutation: flip bits, overwrite, truncate, insert, or rewrite the length field.
    func mutate(_ data: Data, using generator: inout SplitMix64) -> Data {
        var bytes = [UInt8](data)
        let position = Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<5, using: &generator) {
        case 0: bytes[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
        case 1: bytes[position] = UInt8.random(in: 0...255, using: &generator)
        case 2: bytes.removeLast(bytes.count - position)
        case 3: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: position)
        default:
            guard bytes.count >= 8 else { return Data(bytes.dropLast()) }
            let length = UInt64(bytes.count) &- 8 &+ UInt64.random(in: 0...16, using: &generator) &- 8
            bytes.replaceSubrange(0..<8, with: littleEndianBytes(length))
        }
        return Data(bytes)
    }
}
