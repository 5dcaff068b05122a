import Foundation

/// A minimal protocol-buffer writer: just the wire types the TensorBoard event messages need.
///
/// ```
/// key      = varint(field << 3 | wireType)
/// wireType = 0 varint (int32, int64), 1 fixed 64-bit (double),
///            2 length-delimited (string, bytes, message), 5 fixed 32-bit (float)
/// ```
/// Numbers are little-endian; varints carry 7 bits per byte, low bits first, high bit set on
/// every byte but the last. Negative int32/int64 values take ten bytes (two's complement).
public struct ProtobufEncoder {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    /// Appends an unsigned base-128 varint.
    public mutating func appendVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    public mutating func appendKey(field: Int, wireType: UInt64) {
        appendVarint(UInt64(field) << 3 | wireType)
    }

    /// An `int32`/`int64` field (wire type 0).
    public mutating func int64(field: Int, _ value: Int64) {
        appendKey(field: field, wireType: 0)
        appendVarint(UInt64(bitPattern: value))
    }

    /// A `double` field (wire type 1).
    public mutating func double(field: Int, _ value: Double) {
        appendKey(field: field, wireType: 1)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `float` field (wire type 5).
    public mutating func float(field: Int, _ value: Float) {
        appendKey(field: field, wireType: 5)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A `bytes` or embedded-message field (wire type 2).
    public mutating func lengthDelimited<Bytes: Collection>(field: Int, _ value: Bytes) where Bytes.Element == UInt8 {
        appendKey(field: field, wireType: 2)
        appendVarint(UInt64(value.count))
        bytes.append(contentsOf: value)
    }

    /// A `string` field (wire type 2, UTF-8).
    public mutating func string(field: Int, _ value: String) {
        lengthDelimited(field: field, Array(value.utf8))
    }

    /// An embedded message built by `build`.
    public mutating func message(field: Int, _ build: (inout ProtobufEncoder) -> Void) {
        var inner = ProtobufEncoder()
        build(&inner)
        lengthDelimited(field: field, inner.bytes)
    }
}
