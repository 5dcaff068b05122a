import CKernels
/// Little-endian encoders and validating decoders for payload arrays.
///
/// ```
/// fp32   [n] Float   → 4·n bytes (IEEE 754 binary32 bit pattern, little-endian)
/// bf16   [n] Float   → 2·n bytes (top 16 bits, round-to-nearest-even, NaN stays NaN)
/// fp64   [n] Double  → 8·n bytes
/// bytes  [n] UInt8   → n bytes
/// ```
/// Decoders take the element count agreed out of band (e.g. from a `TensorTable`) and throw
/// `WireError` on any mismatch; they never trap.
public enum WirePayload {
    // MARK: fp32

    /// Encodes floats as little-endian fp32.
    ///
    /// - Parameter values: `[n]`.
    public static func encodeFloat32(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 4)
        out.withUnsafeMutableBytes { raw in
            for (i, value) in values.enumerated() { raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        }
        return out
    }

    /// Decodes little-endian fp32.
    ///
    /// - Parameters:
    ///   - bytes: the payload, `4·n` bytes.
    ///   - count: the expected n, or nil to accept any whole number of elements.
    public static func decodeFloat32(_ bytes: [UInt8], count: Int? = nil) throws -> [Float] {
        let n = try elementCount(bytes.count, width: 4, expected: count)
        return bytes.withUnsafeBytes { raw in
            (0..<n).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    // MARK: bf16

    /// Rounds a float to bf16 bits: round-to-nearest-even on the top 16 bits; NaN stays NaN.
    ///
    /// - Parameter value: the fp32 value.
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x0040 }  // keep sign, force a quiet-NaN mantissa bit
        let roundingBias: UInt32 = 0x7FFF + ((bits >> 16) & 1)
        return UInt16((bits &+ roundingBias) >> 16)
    }

    /// The float whose top 16 bits are `bits` (exact).
    ///
    /// - Parameter bits: bf16 bits.
    public static func float(bfloat16Bits bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Encodes floats as little-endian bf16 (half the bytes of fp32).
    ///
    /// - Parameter values: `[n]`.
    public static func encodeBFloat16(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        values.withUnsafeBufferPointer { v in
            out.withUnsafeMutableBytes { if let o = $0.baseAddress, let x = v.baseAddress { encodeBFloat16(x, count: v.count, into: o) } }
        }
        return out
    }

    /// Decodes little-endian bf16 into floats.
    ///
    /// - Parameters:
    ///   - bytes: the payload, `2·n` bytes.
    ///   - count: the expected n, or nil to accept any whole number of elements.
    public static func decodeBFloat16(_ bytes: [UInt8], count: Int? = nil) throws -> [Float] {
        let n = try elementCount(bytes.count, width: 2, expected: count)
        var out = [Float](repeating: 0, count: n)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { if let o = $0.baseAddress, let b = raw.baseAddress { decodeBFloat16(b, count: n, into: o) } }
        }
        return out
    }

    // MARK: fp64 and bytes

    /// Encodes doubles as little-endian fp64.
    ///
    /// - Parameter values: `[n]`.
    public static func encodeFloat64(_ values: [Double]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 8)
        out.withUnsafeMutableBytes { raw in
            for (i, value) in values.enumerated() { raw.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 8 * i, as: UInt64.self) }
        }
        return out
    }

    /// Decodes little-endian fp64.
    ///
    /// - Parameters:
    ///   - bytes: the payload, `8·n` bytes.
    ///   - count: the expected n, or nil to accept any whole number of elements.
    public static func decodeFloat64(_ bytes: [UInt8], count: Int? = nil) throws -> [Double] {
        let n = try elementCount(bytes.count, width: 8, expected: count)
        return bytes.withUnsafeBytes { raw in
            (0..<n).map { Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
    }

    /// Checks a raw byte payload's length.
    ///
    /// - Parameters:
    ///   - bytes: the payload.
    ///   - count: the expected length, or nil for any.
    public static func decodeBytes(_ bytes: [UInt8], count: Int? = nil) throws -> [UInt8] {
        _ = try elementCount(bytes.count, width: 1, expected: count)
        return bytes
    }

    /// The number of `width`-byte elements in `byteCount` bytes, checked against `expected`.
    static func elementCount(_ byteCount: Int, width: Int, expected: Int?) throws -> Int {
        guard byteCount % width == 0 else {
            throw WireError.malformedPayload("\(byteCount) bytes is not a whole number of \(width)-byte elements")
        }
        let n = byteCount / width
        if let expected, expected != n {
            throw WireError.malformedPayload("expected \(expected) elements, found \(n)")
        }
        return n
    }
}

/// bf16 conversion of raw buffers by a C kernel (vectorised), with exactly `bfloat16Bits`'s
/// rounding (to nearest, ties to even; NaN stays a quiet NaN) and its exact widening.
extension WirePayload {
    /// `count` floats as bf16 into `out` (`2·count` bytes).
    public static func encodeBFloat16(_ source: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) {
        largevae_bf16_encode(source, count, out)
    }

    /// `count` bf16 values from `source` widened into `out`.
    public static func decodeBFloat16(_ source: UnsafeRawPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        largevae_bf16_decode(source, count, out)
    }
}
