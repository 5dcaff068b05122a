/// CRC-32C (Castagnoli), as used by TFRecord framing and the safetensors checksum here.
///
/// ```
/// reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF
/// CRC32C("123456789") = 0xE3069283
/// masked(c) = ((c >> 15) | (c << 17)) &+ 0xA282EAD8      (TFRecord)
/// ```
public struct CRC32C: Sendable {
    /// The running register (before the final XOR).
    private var state: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// Feeds more bytes into the checksum.
    ///
    /// - Parameter bytes: any bytes: `[UInt8]`, `Data`, or (fastest) an `UnsafeRawBufferPointer`.
    public mutating func update<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        var crc = state
        let table = CRC32C.table
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        state = crc
    }

    /// The checksum of everything fed so far.
    public var value: UInt32 { state ^ 0xFFFF_FFFF }

    /// The checksum of `bytes` in one call.
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc = CRC32C()
        crc.update(bytes)
        return crc.value
    }

    /// TFRecord's masked form of a CRC, which keeps CRCs of CRCs from being trivial.
    ///
    /// ```
    /// masked(c) = ((c >> 15) | (c << 17)) &+ 0xA282EAD8
    /// ```
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }

    /// The 256-entry lookup table for the reflected Castagnoli polynomial.
    static let table: [UInt32] = (0..<256).map { index -> UInt32 in
        var entry = UInt32(index)
        for _ in 0..<8 {
            entry = entry & 1 != 0 ? (entry >> 1) ^ 0x82F6_3B78 : entry >> 1
        }
        return entry
    }
}
