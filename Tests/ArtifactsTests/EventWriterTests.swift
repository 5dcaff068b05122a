import Artifacts
import Foundation
import Checksums
import XCTest

final class EventWriterTests: XCTestCase {
    func testCRC32C_KnownVectors() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        // RFC 3720 (iSCSI) appendix B.4.
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        let first = CRC32C.checksum(Array("1234".utf8))
        let incremental = Array("56789".utf8).withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
        XCTAssertEqual(incremental, 0xE306_9283)
    }

    func testTFRecord_FramingBytes() {
        // Computed by hand with a bit-at-a-time CRC-32C, independent of the table here:
        // length 3 as u64 LE, masked CRC of those 8 bytes, "abc", masked CRC of "abc".
        let expected: [UInt8] = [0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                 0xB0, 0x99, 0x49, 0x0E,
                                 0x61, 0x62, 0x63,
                                 0x6E, 0x57, 0xF1, 0x21]
        XCTAssertEqual(TFRecord.frame(Array("abc".utf8)), expected)
    }

    func testProtobuf_VarintsAndKeys() {
        var encoder = ProtobufEncoder()
        encoder.int64(field: 2, 300)
        encoder.int64(field: 1, -1)
        XCTAssertEqual(encoder.bytes, [0x10, 0xAC, 0x02, 0x08] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    func testEventProto_ScalarBytes() {
        // Event { wall_time: 0 (09 + 8 zero bytes), step: 3 (10 03),
        //         summary (2A 0A) { value (0A 08) { tag "a" (0A 01 61), simple_value 1.0f (15 00 00 80 3F) } } }
        let expected: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x03, 0x2A, 0x0A, 0x0A, 0x08,
                                 0x0A, 0x01, 0x61, 0x15, 0x00, 0x00, 0x80, 0x3F]
        XCTAssertEqual(EventProto.scalar(tag: "a", value: 1, step: 3, wallTime: 0), expected)
        let version = EventProto.fileVersion(wallTime: 0)
        XCTAssertEqual(Array(version.suffix(15)), [0x1A, 0x0D] + Array("brain.Event:2".utf8))
    }

    func testEventWriter_FileNameAndRecords() throws {
        let directory = try makeTemporaryDirectory(self)
        let writer = try EventWriter(directory: directory.appendingPathComponent("run"), hostname: "testhost",
                                     clock: { 1_700_000_000.75 })
        XCTAssertEqual(writer.url.lastPathComponent, "events.out.tfevents.1700000000.testhost")
        try writer.scalar(tag: "a", value: 1, step: 3)
        try writer.close()
        let bytes = [UInt8](try Data(contentsOf: writer.url))
        let first = EventProto.fileVersion(wallTime: 1_700_000_000.75)
        let second = EventProto.scalar(tag: "a", value: 1, step: 3, wallTime: 1_700_000_000.75)
        XCTAssertEqual(bytes, TFRecord.frame(first) + TFRecord.frame(second))
        XCTAssertThrowsError(try writer.scalar(tag: "a", value: 2, step: 4)) {
            XCTAssertEqual($0 as? EventWriterError, .closed(path: writer.url.path))
        }
    }

    func testEventWriter_DirectoryUnderAFile_Fails() throws {
        let directory = try makeTemporaryDirectory(self)
        let file = directory.appendingPathComponent("plain-file")
        try Data("x".utf8).write(to: file)
        XCTAssertThrowsError(try EventWriter(directory: file.appendingPathComponent("logs"))) {
            guard case EventWriterError.cannotCreate = $0 else { return XCTFail("got \($0)") }
        }
    }

    /// Writes scalars and an image from Swift and reads them back with TensorBoard itself.
    func testEventWriter_TensorBoardReadsScalarsAndImages() throws {
        let directory = try makeTemporaryDirectory(self)
        let writer = try EventWriter(directory: directory, hostname: "swift")
        let trainLoss: [Float] = [210.5, 150.25, 120.125, 101.0, 95.75]
        let validLoss: [Float] = [205.0, 118.5, 99.375]
        for (step, value) in trainLoss.enumerated() {
            try writer.scalar(tag: "train/loss", value: value, step: step)
            try writer.scalar(tag: "train/kl", value: Float(step) * 0.1, step: step)
        }
        for (index, value) in validLoss.enumerated() {
            try writer.scalar(tag: "valid/loss", value: value, step: 2 * index)
        }
        let grid = try ImageGrid(imageHeight: 4, imageWidth: 4, rows: 2, columns: 3, scale: 2)
        let samples = try grid.render((0..<96).map { Float($0) / 95 })
        let png = try PNGWriter.encode(samples)
        try writer.image(tag: "samples", png: png, height: samples.height, width: samples.width, channels: 1, step: 4)
        try writer.flush()

        let output = try jsonObject(runPythonScript("read_events.py", [writer.url.path], scratch: directory))
        let scalars = try XCTUnwrap(output["scalars"] as? [String: [[Double]]])
        XCTAssertEqual(Set(scalars.keys), ["train/loss", "train/kl", "valid/loss"])
        assertSeries(scalars["train/loss"], steps: [0, 1, 2, 3, 4], values: trainLoss)
        assertSeries(scalars["train/kl"], steps: [0, 1, 2, 3, 4], values: (0..<5).map { Float($0) * 0.1 })
        assertSeries(scalars["valid/loss"], steps: [0, 2, 4], values: validLoss)

        let images = try XCTUnwrap((output["images"] as? [String: [[String: Any]]])?["samples"])
        XCTAssertEqual(images.count, 1)
        XCTAssertEqual(images.first?["step"] as? Int, 4)
        XCTAssertEqual(images.first?["width"] as? Int, samples.width)
        XCTAssertEqual(images.first?["height"] as? Int, samples.height)
        XCTAssertEqual((images.first?["base64"] as? String).flatMap { Data(base64Encoded: $0) }, png)
        try writer.close()
    }

    func assertSeries(_ pairs: [[Double]]?, steps: [Int], values: [Float],
                      file: StaticString = #filePath, line: UInt = #line) {
        guard let pairs else { return XCTFail("series missing", file: file, line: line) }
        XCTAssertEqual(pairs.map { Int($0[0]) }, steps, file: file, line: line)
        XCTAssertEqual(pairs.map { Float($0[1]) }, values, "float32 values survive exactly", file: file, line: line)
    }
}
