/// Appends little-endian fixed-width integers to a byte array.
public struct ByteWriter {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    public mutating func append<T: FixedWidthInteger>(_ value: T) {
        var le = value.littleEndian
        withUnsafeBytes(of: &le) { bytes.append(contentsOf: $0) }
    }

    public mutating func append(bytes other: [UInt8]) { bytes.append(contentsOf: other) }
}

/// Reads little-endian values from bytes in place, never past their end: every read throws
/// `WireError.truncated` instead of trapping when too few bytes remain. The bytes must outlive
/// the reader (it does not copy them).
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw WireError.truncated(needed: size, available: remaining) }
        defer { offset += size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// The next `count` bytes, in place.
    public mutating func section(count: Int) throws -> UnsafeRawBufferPointer {
        guard count >= 0, remaining >= count else { throw WireError.truncated(needed: count, available: remaining) }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count])
    }

    /// A copy of the next `count` bytes.
    public mutating func read(count: Int) throws -> [UInt8] { Array(try section(count: count)) }
}
