/// CRC-32C (Castagnoli): the wire format's header and payload checksums, TFRecord framing, and
/// the safetensors data checksum.
///
/// ```
/// polynomial 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF, final xor 0xFFFFFFFF
/// checksum("123456789") == 0xE3069283
/// masked(c) = ((c >> 15) | (c << 17)) &+ 0xA282EAD8      (TFRecord)
/// ```
/// Table-driven, slicing-by-8 (eight 256-entry tables, 8 bytes per step).
public enum CRC32C {
    /// tables[k][b]: the CRC of byte b followed by k zero bytes.
    private static let tables: [[UInt32]] = {
        var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            tables[0][byte] = crc
        }
        for k in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[k - 1][byte]
                tables[k][byte] = (previous >> 8) ^ tables[0][Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// The flat table, `[8 × 256]`, for fast indexing.
    private static let flat: [UInt32] = tables.flatMap { $0 }

    /// The CRC-32C of `bytes`, optionally continuing a previous checksum.
    ///
    /// - Parameters:
    ///   - bytes: the data.
    ///   - previous: the checksum of the data before `bytes` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        var crc = ~previous
        flat.withUnsafeBufferPointer { t in
            var index = 0
            let count = bytes.count
            while index + 8 <= count {
                let low = UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8
                    | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24
                let word = crc ^ low
                crc = t[7 * 256 + Int(word & 0xFF)] ^ t[6 * 256 + Int((word >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((word >> 16) & 0xFF)] ^ t[4 * 256 + Int(word >> 24)]
                    ^ t[3 * 256 + Int(bytes[index + 4])] ^ t[2 * 256 + Int(bytes[index + 5])]
                    ^ t[1 * 256 + Int(bytes[index + 6])] ^ t[Int(bytes[index + 7])]
                index += 8
            }
            while index < count {
                crc = t[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
        }
        return ~crc
    }

    /// The CRC-32C of a byte array.
    ///
    /// - Parameter bytes: the data.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    /// TFRecord's masked form of a CRC, which keeps CRCs of CRCs from being trivial.
    public static func masked(_ crc: UInt32) -> UInt32 {
        ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}
