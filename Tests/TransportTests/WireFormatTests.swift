import Checksums
import XCTest
import Transport
import TestSupport

final class WireFormatTests: XCTestCase {
    private let sample = WireMessage(
        header: WireHeader(type: .result, runID: 77, step: 12, unitID: 3, unitCount: 4, flags: .bfloat16),
        payload: Array(0..<200).map { UInt8($0) })

    /// Recomputes the header CRC after a deliberate field edit.
    private func resealed(_ header: [UInt8]) -> [UInt8] {
        var header = header
        let crc = CRC32C.checksum(Array(header[0..<52]))
        withUnsafeBytes(of: crc.littleEndian) { header.replaceSubrange(52..<56, with: $0) }
        return header
    }

    func testCRC32C_StandardVector() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([]), 0)
        // The kernel agrees with itself when split at any point.
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let whole = CRC32C.checksum(data)
        for split in [1, 7, 8, 9, 500] {
            let first = CRC32C.checksum(Array(data[..<split]))
            let both = Array(data[split...]).withUnsafeBytes { CRC32C.checksum($0, continuing: first) }
            XCTAssertEqual(both, whole)
        }
    }

    /// The bit-at-a-time definition, as an independent reference for the hardware kernel.
    private func bitwiseCRC32C(_ data: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }

    func testCRC32C_MatchesBitwiseDefinitionAcrossStreamBoundaries() {
        var random = FixtureRandom(seed: 11)
        // Lengths around the kernel's 3 × 4096-byte interleaved blocks, and odd tails.
        for count in [0, 1, 7, 8, 4095, 12_287, 12_288, 12_289, 24_576 + 13, 100_003] {
            let data = (0..<count).map { _ in random.nextByte() }
            XCTAssertEqual(CRC32C.checksum(data), bitwiseCRC32C(data), "length \(count)")
            // Misaligned start.
            if count > 1 {
                XCTAssertEqual(CRC32C.checksum(Array(data[1...])), bitwiseCRC32C(Array(data[1...])), "length \(count) + 1")
            }
        }
    }

    func testWireMessage_RoundTrip() throws {
        let (header, payload) = sample.encoded()
        XCTAssertEqual(header.count, WireHeader.size)
        XCTAssertEqual(Array(header[0..<4]), Array("LVAE".utf8))
        let decoded = try WireMessage.decode(header: header, payload: payload, expectedRunID: 77, minimumStep: 12)
        XCTAssertEqual(decoded, sample)
        XCTAssertEqual(decoded.header.flags, .bfloat16)
        XCTAssertEqual(decoded.header.unitID, 3)
        XCTAssertEqual(decoded.header.unitCount, 4)
        for type in WireMessageType.allCases {
            let message = WireMessage(header: WireHeader(type: type, runID: 1, step: 0))
            XCTAssertEqual(try WireMessage.decode(header: message.encoded().header, payload: []).header.type, type)
        }
    }

    func testWireMessage_Rejections() {
        let (header, payload) = sample.encoded()
        var v2 = sample.header
        v2.version = 2
        let cases: [(String, [UInt8], [UInt8], UInt64?, UInt64?, WireError)] = [
            ("short", Array(header.dropLast()), payload, nil, nil, .wrongHeaderSize(found: 55, expected: 56)),
            ("magic", [0x47] + header.dropFirst(), payload, nil, nil, .badMagic(found: Array("GVAE".utf8))),
            ("version", v2.encoded(), payload, nil, nil, .versionMismatch(found: 2, expected: 1)),
            ("type", resealed(header.replacing(at: 6, with: [99, 0])), payload, nil, nil, .unknownMessageType(99)),
            ("length", header, payload + [0], nil, nil, .payloadLengthMismatch(declared: 200, actual: 201)),
            ("run", header, payload, 78, nil, .runIDMismatch(found: 77, expected: 78)),
            ("stale", header, payload, 77, 13, .staleStep(found: 12, minimum: 13)),
        ]
        for (name, h, p, run, step, expected) in cases {
            XCTAssertThrowsError(try WireMessage.decode(header: h, payload: p, expectedRunID: run, minimumStep: step),
                                 name) { XCTAssertEqual($0 as? WireError, expected, name) }
        }
        XCTAssertThrowsError(try WireMessage.decode(header: header.replacing(at: 20, with: [0xAA]), payload: payload)) {
            guard case .headerChecksumMismatch? = $0 as? WireError else { return XCTFail("\($0)") }
        }
        XCTAssertThrowsError(try WireMessage.decode(header: header, payload: payload.replacing(at: 5, with: [0]))) {
            guard case .payloadChecksumMismatch? = $0 as? WireError else { return XCTFail("\($0)") }
        }
    }

    /// 10,000 random and mutated headers/payloads: decode throws or succeeds, never traps.
    func testWireMessage_Fuzz_NeverTraps() {
        var rng = SplitMix64(seed: 0x5EED)
        let (header, payload) = sample.encoded()
        var accepted = 0, undetected = 0
        for iteration in 0..<10_000 {
            var h: [UInt8], p: [UInt8], resealedHeader = false
            if iteration % 2 == 0 {
                h = (0..<Int.random(in: 0...64, using: &rng)).map { _ in rng.nextByte() }
                p = (0..<Int.random(in: 0...64, using: &rng)).map { _ in rng.nextByte() }
                if iteration % 4 == 0 && h.count >= 4 { h.replaceSubrange(0..<4, with: WireHeader.magic) }
            } else {
                h = header
                p = payload
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    if Bool.random(using: &rng) { h[Int.random(in: 0..<h.count, using: &rng)] = rng.nextByte() }
                    else { p[Int.random(in: 0..<p.count, using: &rng)] ^= 1 << UInt8.random(in: 0..<8, using: &rng) }
                }
                resealedHeader = iteration % 7 == 1
            if resealedHeader { h = resealed(h) }
                if iteration % 11 == 1 { p.removeLast(Int.random(in: 0...p.count, using: &rng)) }
            }
            if (try? WireMessage.decode(header: h, payload: p, expectedRunID: 77, minimumStep: 12)) != nil {
                accepted += 1
                // Only a resealed header edit of an unchecked field (flags, unit, reserved) may pass.
                if p != payload || (h != header && !resealedHeader) { undetected += 1 }
            }
            _ = try? TensorTable.decode(p + h)
            _ = try? WirePayload.decodeBFloat16(p, count: 32)
        }
        XCTAssertEqual(undetected, 0, "a corrupted message passed the CRCs")
        XCTAssertLessThan(accepted, 500)
    }

    /// The eight-lane buffer conversions give the scalar conversions' bits on every kind of value,
    /// at every alignment and length.
    func testBFloat16_VectorConversionMatchesScalar() {
        var rng = SplitMix64(seed: 5)
        var values = (0..<4099).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }   // NaNs, subnormals, …
        values += [0, -0.0, .infinity, -.infinity, .nan, Float(bitPattern: 0x7F80_0001), Float(bitPattern: 0x3F80_8000),
                   Float(bitPattern: 0x3F81_8000), .greatestFiniteMagnitude, -.leastNonzeroMagnitude]
        for offset in [0, 1, 3] {
            let slice = Array(values[offset...])
            var encoded = [UInt8](repeating: 0, count: 2 * slice.count)
            slice.withUnsafeBufferPointer { s in encoded.withUnsafeMutableBytes { WirePayload.encodeBFloat16(s.baseAddress!, count: s.count, into: $0.baseAddress!) } }
            XCTAssertEqual(encoded, slice.flatMap { v -> [UInt8] in
                let b = WirePayload.bfloat16Bits(v)
                return [UInt8(b & 0xFF), UInt8(b >> 8)]
            })
            var decoded = [Float](repeating: 0, count: slice.count)
            encoded.withUnsafeBytes { e in decoded.withUnsafeMutableBufferPointer { WirePayload.decodeBFloat16(e.baseAddress!, count: slice.count, into: $0.baseAddress!) } }
            let expected = stride(from: 0, to: encoded.count, by: 2).map {
                WirePayload.float(bfloat16Bits: UInt16(encoded[$0]) | UInt16(encoded[$0 + 1]) << 8).bitPattern
            }
            XCTAssertEqual(decoded.map(\.bitPattern), expected)
        }
    }

    func testBFloat16_RoundTrip() throws {
        // Exact for values representable in bf16.
        var exact: [Float] = [0, -0.0, 1, -2.5, 0.15625, 65536, Float(bitPattern: 0xFF7F_0000), .infinity,
                              -.infinity, Float(bitPattern: 0x0001_0000)]
        var bitsRNG = SplitMix64(seed: 3)
        exact += (0..<1000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: bitsRNG.next()) & 0xFFFF_0000) }
            .filter { !$0.isNaN }
        XCTAssertEqual(try WirePayload.decodeBFloat16(WirePayload.encodeBFloat16(exact)).map(\.bitPattern),
                       exact.map(\.bitPattern))
        // Round-to-nearest-even at ties, overflow to infinity, NaN stays NaN.
        XCTAssertEqual(WirePayload.bfloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)
        XCTAssertEqual(WirePayload.bfloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)
        XCTAssertEqual(WirePayload.bfloat16Bits(Float(bitPattern: 0x3F80_8001)), 0x3F81)
        XCTAssertEqual(WirePayload.bfloat16Bits(.greatestFiniteMagnitude), 0x7F80)
        XCTAssertTrue(WirePayload.float(bfloat16Bits: WirePayload.bfloat16Bits(Float(bitPattern: 0x7F80_0001))).isNaN)
        XCTAssertTrue(WirePayload.float(bfloat16Bits: WirePayload.bfloat16Bits(-.nan)).isNaN)
        // Random values: relative error at most 2^-8 (half an ulp of an 8-bit significand).
        var rng = SplitMix64(seed: 7)
        let values = (0..<10_000).map { _ in Float.random(in: -1000...1000, using: &rng) }
        let decoded = try WirePayload.decodeBFloat16(WirePayload.encodeBFloat16(values), count: values.count)
        for (x, y) in zip(values, decoded) where x != 0 {
            XCTAssertLessThanOrEqual(abs(x - y) / abs(x), 1.0 / 256, "\(x) → \(y)")
        }
    }

    func testPayloads_RoundTripAndCountChecks() throws {
        let floats: [Float] = [1, -2, .pi, .leastNonzeroMagnitude, .nan]
        let f32 = try WirePayload.decodeFloat32(WirePayload.encodeFloat32(floats), count: 5)
        XCTAssertEqual(f32.map(\.bitPattern), floats.map(\.bitPattern))
        XCTAssertEqual(WirePayload.encodeFloat32([1]), [0, 0, 0x80, 0x3F])  // little-endian
        let doubles: [Double] = [1e300, -0.5, .pi]
        XCTAssertEqual(try WirePayload.decodeFloat64(WirePayload.encodeFloat64(doubles)), doubles)
        XCTAssertEqual(try WirePayload.decodeBytes([1, 2, 3], count: 3), [1, 2, 3])
        XCTAssertThrowsError(try WirePayload.decodeFloat32([1, 2, 3]))
        XCTAssertThrowsError(try WirePayload.decodeFloat32(WirePayload.encodeFloat32(floats), count: 4))
        XCTAssertThrowsError(try WirePayload.decodeFloat64([0], count: nil))
        XCTAssertThrowsError(try WirePayload.decodeBytes([1], count: 2))
    }

    func testTensorTable_RoundTripAndRejections() throws {
        let table = TensorTable([.init(name: "encoder.0.h.weight", count: 470_400),
                                 .init(name: "encoder.0.h.bias", count: 600),
                                 .init(name: "pseudo.µ", count: 0)])
        let decoded = try TensorTable.decode(table.encoded())
        XCTAssertEqual(decoded, table)
        XCTAssertEqual(decoded.totalCount, 471_000)
        XCTAssertEqual(decoded.offsets["encoder.0.h.bias"], 470_400..<471_000)

        let bytes = table.encoded()
        XCTAssertThrowsError(try TensorTable.decode(Array(bytes.dropLast())))
        XCTAssertThrowsError(try TensorTable.decode(bytes + [0]))
        XCTAssertThrowsError(try TensorTable.decode([0xFF, 0xFF, 0xFF, 0xFF]))  // 4 billion entries
        let duplicate = TensorTable([.init(name: "a", count: 1)]).encoded()
        XCTAssertThrowsError(try TensorTable.decode([2, 0, 0, 0] + duplicate.dropFirst(4) + duplicate.dropFirst(4)))
        var huge = ByteWriter()
        huge.append(UInt32(1)); huge.append(UInt16(1)); huge.append(bytes: [0x61]); huge.append(UInt64.max)
        XCTAssertThrowsError(try TensorTable.decode(huge.bytes))
        var badUTF8 = ByteWriter()
        badUTF8.append(UInt32(1)); badUTF8.append(UInt16(1)); badUTF8.append(bytes: [0xFF]); badUTF8.append(UInt64(1))
        XCTAssertThrowsError(try TensorTable.decode(badUTF8.bytes))
    }
}

extension Array where Element == UInt8 {
    /// A copy with `bytes` written at `offset`.
    func replacing(at offset: Int, with bytes: [UInt8]) -> [UInt8] {
        var copy = self
        copy.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        return copy
    }
}
