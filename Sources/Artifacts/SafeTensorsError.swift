import Foundation

/// A failure to build, write or read a safetensors file. Read errors name the file
/// (`path`, or `<memory>` for bytes decoded in memory) and, where one is at fault, the tensor.
public enum SafeTensorsError: Error, LocalizedError, Equatable {
    /// A tensor's byte count disagrees with its dtype and shape.
    case shapeMismatch(dtype: String, shape: [Int], byteCount: Int)
    /// A typed accessor was used on a tensor of another dtype.
    case dtypeMismatch(requested: String, actual: String)
    /// A tensor name or metadata key cannot be written.
    case invalidName(name: String, reason: String)
    /// The file could not be read or written.
    case io(path: String, reason: String)
    /// The file is shorter than its 8-byte header-length field.
    case truncated(path: String, fileSize: Int)
    /// The header length is past the end of the file or over the 100 MB limit.
    case headerLengthOutOfRange(path: String, headerLength: UInt64, fileSize: Int)
    /// The header is not UTF-8 JSON with an object at the top.
    case malformedHeader(path: String, reason: String)
    /// `__metadata__` is not an object of strings, or its checksum is unreadable.
    case invalidMetadata(path: String, reason: String)
    /// A tensor's entry lacks or mistypes `dtype`, `shape` or `data_offsets`.
    case invalidEntry(path: String, tensor: String, reason: String)
    /// A dtype this module does not handle (it handles F32, F64, I64, U8).
    case unsupportedDType(path: String, tensor: String, dtype: String)
    /// `data_offsets` end past the data section.
    case offsetOutOfRange(path: String, tensor: String, end: Int, dataSize: Int)
    /// `data_offsets` span a different number of bytes than dtype × shape needs.
    case byteCountMismatch(path: String, tensor: String, expected: Int, actual: Int)
    /// Two tensors' byte ranges overlap.
    case overlappingTensors(path: String, first: String, second: String)
    /// Bytes of the data section belong to no tensor (before `tensor`, or at the end if nil).
    case unusedBytes(path: String, offset: Int, before: String?)
    /// The data section's CRC-32C differs from `__metadata__["crc32c"]`: the file is corrupt.
    case checksumMismatch(path: String, expected: UInt32, actual: UInt32)

    public var errorDescription: String? {
        switch self {
        case let .shapeMismatch(dtype, shape, count):
            return "a \(dtype) tensor of shape \(shape) cannot hold \(count) bytes"
        case let .dtypeMismatch(requested, actual):
            return "asked for \(requested) elements of a \(actual) tensor"
        case let .invalidName(name, reason):
            return "cannot write safetensors entry \"\(name)\": \(reason)"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .truncated(path, size):
            return "\(path): \(size) bytes is too short for a safetensors file"
        case let .headerLengthOutOfRange(path, length, size):
            return "\(path): header length \(length) does not fit in a file of \(size) bytes (or exceeds 100 MB)"
        case let .malformedHeader(path, reason):
            return "\(path): malformed safetensors header: \(reason)"
        case let .invalidMetadata(path, reason):
            return "\(path): invalid __metadata__: \(reason)"
        case let .invalidEntry(path, tensor, reason):
            return "\(path): tensor \"\(tensor)\": \(reason)"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): tensor \"\(tensor)\" has unsupported dtype \(dtype)"
        case let .offsetOutOfRange(path, tensor, end, size):
            return "\(path): tensor \"\(tensor)\" ends at byte \(end) of a \(size)-byte data section"
        case let .byteCountMismatch(path, tensor, expected, actual):
            return "\(path): tensor \"\(tensor)\" needs \(expected) bytes but its offsets span \(actual)"
        case let .overlappingTensors(path, first, second):
            return "\(path): tensors \"\(first)\" and \"\(second)\" overlap"
        case let .unusedBytes(path, offset, before):
            return "\(path): unused bytes at data offset \(offset)" + (before.map { " before tensor \"\($0)\"" } ?? " at the end")
        case let .checksumMismatch(path, expected, actual):
            return "\(path): data checksum \(hex(actual)) differs from the recorded \(hex(expected)); the file is corrupt"
        }
    }
}

/// `0x` and eight lower-case hex digits.
func hex(_ value: UInt32) -> String {
    "0x" + hexDigits(value)
}

/// Eight lower-case hex digits, zero-padded.
func hexDigits(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
}
