import CKernels

/// CRC-32C (Castagnoli): the wire format's header and payload checksums, TFRecord framing, and
/// the safetensors data checksum.
///
/// ```
/// polynomial 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF, final xor 0xFFFFFFFF
/// checksum("123456789") == 0xE3069283
/// masked(c) = ((c >> 15) | (c << 17)) &+ 0xA282EAD8      (TFRecord)
/// ```
/// Computed by a C kernel with the SSE4.2 `crc32` instruction on three interleaved streams (the
/// wire format checks every payload, megabytes a step), or a byte table without SSE4.2.
public enum CRC32C {
    /// The CRC-32C of `bytes`, optionally continuing a previous checksum.
    ///
    /// - Parameters:
    ///   - bytes: the data.
    ///   - previous: the checksum of the data before `bytes` (0 to start).
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing previous: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return previous }
        return ~largevae_crc32c_update(~previous, base, bytes.count)
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
