import Artifacts
import Foundation
import XCTest

final class SafeTensorsTests: XCTestCase {
    func sampleTensors() throws -> [String: SafeTensor] {
        [
            "encoder.0.h.weight": try SafeTensor(float32: [0.5, -1.25, 3e-7, .pi, -0.0, 1e30], shape: [2, 3]),
            "encoder.0.h.bias": try SafeTensor(float32: [0.1, 0.2, 0.3], shape: [3]),
            "prior.pseudo_inputs": try SafeTensor(float64: [1.0 / 3, -2.5e-8], shape: [1, 2]),
            "optimizer.step": try SafeTensor(int64: [42], shape: []),
            "mask": try SafeTensor(uint8: [0, 1, 254, 255], shape: [2, 2]),
            "empty": try SafeTensor(float32: [], shape: [0, 4]),
        ]
    }

    func testSafeTensors_RoundTrip() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("model.safetensors")
        let tensors = try sampleTensors()
        try SafeTensors.write(tensors, metadata: ["epoch": "12", "note": "quote \" and \\ and\nnewline"], to: url)

        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        XCTAssertEqual(headerLength % 8, 0, "header padded to a multiple of 8")
        XCTAssertEqual(bytes[8], UInt8(ascii: "{"))

        let file = try SafeTensors.read(from: url)
        XCTAssertEqual(file.tensors, tensors)
        XCTAssertEqual(file.metadata["epoch"], "12")
        XCTAssertEqual(file.metadata["note"], "quote \" and \\ and\nnewline")
        XCTAssertEqual(file.metadata["crc32c"]?.count, 8)
        let offsetSlice = (Data([1, 2, 3]) + bytes).dropFirst(3)
        XCTAssertEqual(try SafeTensors.decode(offsetSlice).tensors, tensors, "a Data slice decodes too")
        XCTAssertEqual(try file["encoder.0.h.weight"]?.floats(), [0.5, -1.25, 3e-7, .pi, -0.0, 1e30])
        XCTAssertEqual(try file["optimizer.step"]?.int64s(), [42])
        XCTAssertThrowsError(try file["mask"]?.floats()) {
            XCTAssertEqual($0 as? SafeTensorsError, .dtypeMismatch(requested: "F32", actual: "U8"))
        }
    }

    func testSafeTensors_WriteRejectsBadNames_Fails() throws {
        let tensor = try SafeTensor(float32: [1], shape: [1])
        XCTAssertThrowsError(try SafeTensors.encode(["__metadata__": tensor]))
        XCTAssertThrowsError(try SafeTensors.encode(["": tensor]))
        XCTAssertThrowsError(try SafeTensors.encode(["w": tensor], metadata: ["crc32c": "0"]))
        XCTAssertThrowsError(try SafeTensor(float32: [1, 2], shape: [3])) {
            XCTAssertEqual($0 as? SafeTensorsError, .shapeMismatch(dtype: "F32", shape: [3], byteCount: 8))
        }
    }

    /// Swift writes; the reference `safetensors` package reads.
    func testSafeTensors_PythonReadsSwiftFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("swift.safetensors")
        let tensors = try sampleTensors()
        try SafeTensors.write(tensors, metadata: ["model": "vamp", "epoch": "3"], to: url)

        let output = try jsonObject(runPythonScript("safetensors_tool.py", ["load", url.path], scratch: directory))
        let metadata = try XCTUnwrap(output["metadata"] as? [String: String])
        XCTAssertEqual(metadata["model"], "vamp")
        XCTAssertEqual(metadata["epoch"], "3")
        XCTAssertEqual(metadata["crc32c"], try SafeTensors.read(from: url).metadata["crc32c"])
        let loaded = try XCTUnwrap(output["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(Set(loaded.keys), Set(tensors.keys))
        for (name, tensor) in tensors {
            let entry = try XCTUnwrap(loaded[name])
            XCTAssertEqual(entry["dtype"] as? String, tensor.dtype.rawValue, name)
            XCTAssertEqual(entry["shape"] as? [Int], tensor.shape, name)
            let hex = tensor.bytes.map { String(format: "%02x", $0) }.joined()
            XCTAssertEqual(entry["hex"] as? String, hex, "\(name): the same bytes, bit for bit")
        }
    }

    /// The reference `safetensors` package writes; Swift reads.
    func testSafeTensors_SwiftReadsPythonFile() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("python.safetensors")
        _ = try runPythonScript("safetensors_tool.py", ["save", url.path], scratch: directory)

        let file = try SafeTensors.read(from: url)
        XCTAssertEqual(file.metadata, ["format": "pt", "epoch": "7"])
        let weight = try XCTUnwrap(file["encoder.0.weight"])
        XCTAssertEqual(weight.shape, [2, 3])
        XCTAssertEqual(try weight.floats(), [-0.5, -0.25, 0, 0.25, 0.5, 0.75])
        XCTAssertEqual(try file["decoder.bias"]?.doubles(), [1.0 / 3, -2.5e-8, 1e300])
        XCTAssertEqual(file["step"]?.shape, [])
        XCTAssertEqual(try file["step"]?.int64s(), [123_456_789_012])
        XCTAssertEqual(try file["mask"]?.uint8s(), [0, 1, 254, 255])
    }
}
