import Foundation
import Checksums

/// Reads and writes the safetensors format (https://github.com/huggingface/safetensors).
///
/// ```
/// u64 N (little-endian)
/// N bytes of UTF-8 JSON, padded with spaces to a multiple of 8:
///   {"__metadata__": {"k": "v", ...},
///    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
/// data section: the tensors' bytes, back to back; offsets are relative to its start
/// ```
/// On write, `__metadata__["crc32c"]` records the CRC-32C of the data section (8 hex digits);
/// on read it is checked when present, so a corrupted checkpoint is reported, not loaded.
public enum SafeTensors {
    /// The metadata key holding the data section's checksum.
    public static let checksumKey = "crc32c"
    /// The largest header accepted, as in the reference implementation.
    public static let maximumHeaderLength: UInt64 = 100_000_000

    /// Serialises tensors and metadata into the bytes of a safetensors file.
    ///
    /// Tensors are laid out widest dtype first, then by name, so each is naturally aligned.
    ///
    /// - Parameters:
    ///   - tensors: name → tensor; names must be non-empty and not `__metadata__`.
    ///   - metadata: free-form strings; the key `crc32c` is reserved.
    /// - Returns: the file's bytes.
    /// - Throws: `SafeTensorsError.invalidName`.
    public static func encode(_ tensors: [String: SafeTensor], metadata: [String: String] = [:]) throws -> Data {
        if metadata[checksumKey] != nil {
            throw SafeTensorsError.invalidName(name: checksumKey, reason: "the metadata key is reserved for the checksum")
        }
        for name in tensors.keys where name.isEmpty || name == "__metadata__" {
            throw SafeTensorsError.invalidName(name: name, reason: "not a usable tensor name")
        }
        let order = tensors.sorted { a, b in
            a.value.dtype.byteCount != b.value.dtype.byteCount
                ? a.value.dtype.byteCount > b.value.dtype.byteCount : a.key < b.key
        }
        var dataSection = Data()
        var entries: [String] = []
        for (name, tensor) in order {
            let begin = dataSection.count
            dataSection.append(contentsOf: tensor.bytes)
            entries.append(headerEntry(name: name, tensor: tensor, begin: begin, end: dataSection.count))
        }
        var allMetadata = metadata
        allMetadata[checksumKey] = hexDigits(dataSection.withUnsafeBytes { CRC32C.checksum($0) })
        let header = paddedHeader(metadata: allMetadata, entries: entries)
        var file = Data(littleEndianBytes(UInt64(header.count)))
        file.append(header)
        file.append(dataSection)
        return file
    }

    /// Encodes and writes a safetensors file atomically (see `AtomicFile`).
    ///
    /// - Parameters:
    ///   - tensors: name → tensor.
    ///   - metadata: free-form strings; `crc32c` is reserved.
    ///   - url: the destination file.
    /// - Throws: `SafeTensorsError.invalidName` or `.io`.
    public static func write(_ tensors: [String: SafeTensor], metadata: [String: String] = [:], to url: URL) throws {
        let data = try encode(tensors, metadata: metadata)
        do {
            try AtomicFile.write(data, to: url)
        } catch let error as AtomicFileError {
            throw SafeTensorsError.io(path: url.path, reason: error.localizedDescription)
        }
    }

    /// `"name": {"dtype": …, "shape": […], "data_offsets": [begin, end]}`.
    static func headerEntry(name: String, tensor: SafeTensor, begin: Int, end: Int) -> String {
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        return "\(jsonString(name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
            + "\"data_offsets\":[\(begin),\(end)]}"
    }

    /// The JSON header, metadata first, padded with spaces to a multiple of 8 bytes.
    static func paddedHeader(metadata: [String: String], entries: [String]) -> Data {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
        let metadataEntry = "\"__metadata__\":{" + pairs.joined(separator: ",") + "}"
        var json = Array(("{" + ([metadataEntry] + entries).joined(separator: ",") + "}").utf8)
        json.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        return Data(json)
    }

    /// `text` as a JSON string literal.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let digits = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
