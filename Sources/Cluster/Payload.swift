import Foundation
import Transport

#if _endian(big)
#error("the wire format copies little-endian float arrays with memcpy; port PayloadWriter/ByteReader first")
#endif

/// How large float arrays (parameters and gradients) travel: fp32, or bf16 for half the bytes.
/// Small arrays (prior statistics, their gradients, images) are always fp32.
public enum WirePrecision: String, Codable, Sendable, CaseIterable {
    case fp32, bf16

    var bytesPerElement: Int { self == .fp32 ? 4 : 2 }
    /// The element encoding, for finiteness checks.
    var encoding: FiniteCheck.Encoding { self == .fp32 ? .float32 : .bfloat16 }
    var flags: WireFlags { self == .bf16 ? .bfloat16 : [] }
}

/// Writes a payload into a fixed-size buffer, little-endian.
struct PayloadWriter {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var offset = 0

    /// Writes into `buffer` from byte `start` on.
    init(_ buffer: OwnedBuffer, from start: Int = 0) {
        base = (buffer.bytes.baseAddress ?? UnsafeMutableRawPointer(bitPattern: 16)!) + start
        capacity = buffer.bytes.count - start
    }

    /// Writes into the `capacity` bytes at `base`.
    init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    mutating func append<I: FixedWidthInteger>(_ value: I) {
        precondition(offset + MemoryLayout<I>.size <= capacity, "payload size computed wrong")
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: I.self)
        offset += MemoryLayout<I>.size
    }

    mutating func append(_ value: Double) { append(value.bitPattern) }

    /// `count` floats from `source`, as fp32 or bf16.
    mutating func append(floats source: UnsafePointer<Float>, count: Int, precision: WirePrecision = .fp32) {
        precondition(offset + count * precision.bytesPerElement <= capacity, "payload size computed wrong")
        switch precision {
        case .fp32:
            (base + offset).copyMemory(from: source, byteCount: 4 * count)
        case .bf16:
            WirePayload.encodeBFloat16(source, count: count, into: base + offset)
        }
        offset += count * precision.bytesPerElement
    }

    mutating func append(ints source: UnsafePointer<Int>, count: Int) {
        for i in 0..<count { append(Int64(source[i])) }
    }
}

/// Payload reads beyond `ByteReader`'s integers: doubles, bounded counts and float sections.
extension ByteReader {
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// A count read from the payload, checked against an upper bound before any allocation.
    mutating func readCount(maximum: Int, what: String) throws -> Int {
        let n = try read(UInt32.self)
        guard Int(n) <= maximum else { throw WireError.malformedPayload("\(what) is \(n), at most \(maximum) allowed") }
        return Int(n)
    }

    /// The next `count` floats in `precision`, as raw bytes (no copy).
    mutating func floats(_ count: Int, precision: WirePrecision = .fp32) throws -> FloatSection {
        guard count >= 0 else { throw WireError.malformedPayload("negative float count") }
        return FloatSection(bytes: try section(count: count * precision.bytesPerElement), count: count, precision: precision)
    }

    func expectEnd() throws {
        guard remaining == 0 else { throw WireError.malformedPayload("\(remaining) unexpected trailing bytes") }
    }
}

/// Floats inside a received payload.
struct FloatSection {
    let bytes: UnsafeRawBufferPointer
    let count: Int
    let precision: WirePrecision

    /// The floats in place, when they are fp32 and 4-byte aligned (no copy needed).
    var inPlace: UnsafePointer<Float>? {
        guard precision == .fp32, let base = bytes.baseAddress ?? (count == 0 ? UnsafeRawPointer(bitPattern: 16) : nil),
              Int(bitPattern: base) % MemoryLayout<Float>.alignment == 0 else { return nil }
        return base.assumingMemoryBound(to: Float.self)
    }

    /// Copies (fp32) or widens (bf16) the floats into `out`.
    func copy(into out: UnsafeMutablePointer<Float>) {
        guard count > 0, let base = bytes.baseAddress else { return }
        switch precision {
        case .fp32:
            UnsafeMutableRawPointer(out).copyMemory(from: base, byteCount: 4 * count)
        case .bf16:
            WirePayload.decodeBFloat16(base, count: count, into: out)
        }
    }
}
