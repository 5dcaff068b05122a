import Foundation
import Checksums

/// The tensors and metadata read from a safetensors file.
public struct SafeTensorsFile: Sendable {
    public let tensors: [String: SafeTensor]
    /// `__metadata__`, including `crc32c` when the writer recorded one.
    public let metadata: [String: String]

    /// The tensor called `name`, if present.
    public subscript(name: String) -> SafeTensor? { tensors[name] }
}

/// One tensor's header entry, checked against the data section.
struct SafeTensorsEntry {
    let name: String
    let dtype: SafeTensor.DType
    let shape: [Int]
    let begin: Int
    let end: Int
}

extension SafeTensors {
    /// Reads and validates a safetensors file.
    ///
    /// - Parameter url: the file.
    /// - Returns: its tensors and metadata.
    /// - Throws: `SafeTensorsError` naming the file: `.io`, or any of the decoding errors.
    public static func read(from url: URL) throws -> SafeTensorsFile {
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .mappedIfSafe)
        } catch {
            throw SafeTensorsError.io(path: url.path, reason: error.localizedDescription)
        }
        return try decode(data, path: url.path)
    }

    /// Parses and validates the bytes of a safetensors file.
    ///
    /// Checks, in order: the header length against the file size, the JSON, each entry's
    /// dtype, shape and offsets, that the tensors tile the data section exactly (no overlap,
    /// no gap), then the `crc32c` checksum if the metadata has one.
    ///
    /// - Parameters:
    ///   - data: the whole file.
    ///   - path: the name used in errors.
    /// - Returns: its tensors and metadata.
    /// - Throws: `SafeTensorsError`.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> SafeTensorsFile {
        let bytes = data.startIndex == 0 ? data : Data(data)  // index from 0 below
        let headerEnd = try headerEnd(of: bytes, path: path)
        let header = try parseHeader(bytes.subdata(in: 8..<headerEnd), path: path)
        let metadata = try parseMetadata(header["__metadata__"], path: path)
        let dataSize = bytes.count - headerEnd
        var entries: [SafeTensorsEntry] = []
        for (name, value) in header where name != "__metadata__" {
            entries.append(try parseEntry(name: name, value: value, dataSize: dataSize, path: path))
        }
        try checkTiling(&entries, dataSize: dataSize, path: path)
        let dataSection = bytes.subdata(in: headerEnd..<bytes.count)
        try verifyChecksum(metadata: metadata, dataSection: dataSection, path: path)
        var tensors: [String: SafeTensor] = [:]
        for entry in entries {
            let slice = [UInt8](dataSection[entry.begin..<entry.end])
            tensors[entry.name] = try SafeTensor(dtype: entry.dtype, shape: entry.shape, bytes: slice)
        }
        return SafeTensorsFile(tensors: tensors, metadata: metadata)
    }

    /// The offset where the data section starts, `8 + N`, after checking `N`.
    public static func headerEnd(of data: Data, path: String) throws -> Int {
        guard data.count >= 8 else { throw SafeTensorsError.truncated(path: path, fileSize: data.count) }
        let length = data.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard length <= maximumHeaderLength, length <= UInt64(data.count - 8) else {
            throw SafeTensorsError.headerLengthOutOfRange(path: path, headerLength: length, fileSize: data.count)
        }
        return 8 + Int(length)
    }

    /// The header's top-level JSON object.
    static func parseHeader(_ json: Data, path: String) throws -> [String: Any] {
        guard json.first == UInt8(ascii: "{") else {
            throw SafeTensorsError.malformedHeader(path: path, reason: "it does not start with '{'")
        }
        guard String(data: json, encoding: .utf8) != nil else {
            throw SafeTensorsError.malformedHeader(path: path, reason: "it is not UTF-8")
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: json)
        } catch {
            throw SafeTensorsError.malformedHeader(path: path, reason: "invalid JSON (\(error.localizedDescription))")
        }
        guard let header = object as? [String: Any] else {
            throw SafeTensorsError.malformedHeader(path: path, reason: "the top level is not an object")
        }
        return header
    }

    /// `__metadata__` as a string dictionary (empty when absent).
    static func parseMetadata(_ value: Any?, path: String) throws -> [String: String] {
        guard let value else { return [:] }
        guard let object = value as? [String: Any] else {
            throw SafeTensorsError.invalidMetadata(path: path, reason: "not an object")
        }
        var metadata: [String: String] = [:]
        for (key, item) in object {
            guard let text = item as? String else {
                throw SafeTensorsError.invalidMetadata(path: path, reason: "the value of \"\(key)\" is not a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    /// Checks one tensor's entry: field types, dtype, offsets within the data, byte count.
    static func parseEntry(name: String, value: Any, dataSize: Int, path: String) throws -> SafeTensorsEntry {
        func invalid(_ reason: String) -> SafeTensorsError {
            .invalidEntry(path: path, tensor: name, reason: reason)
        }
        guard let fields = value as? [String: Any] else { throw invalid("the entry is not an object") }
        guard let dtypeName = fields["dtype"] as? String else { throw invalid("\"dtype\" is missing or not a string") }
        guard let shape = naturalNumbers(fields["shape"]) else {
            throw invalid("\"shape\" is missing or not a list of non-negative integers")
        }
        guard let offsets = naturalNumbers(fields["data_offsets"]), offsets.count == 2, offsets[0] <= offsets[1] else {
            throw invalid("\"data_offsets\" is not [begin, end] with 0 ≤ begin ≤ end")
        }
        guard let dtype = SafeTensor.DType(rawValue: dtypeName) else {
            throw SafeTensorsError.unsupportedDType(path: path, tensor: name, dtype: dtypeName)
        }
        guard offsets[1] <= dataSize else {
            throw SafeTensorsError.offsetOutOfRange(path: path, tensor: name, end: offsets[1], dataSize: dataSize)
        }
        guard let expected = SafeTensor.byteCount(dtype: dtype, shape: shape) else {
            throw invalid("the shape \(shape) is too large")
        }
        guard expected == offsets[1] - offsets[0] else {
            throw SafeTensorsError.byteCountMismatch(path: path, tensor: name, expected: expected,
                                                     actual: offsets[1] - offsets[0])
        }
        return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, begin: offsets[0], end: offsets[1])
    }

    /// A JSON array of non-negative integers, or nil if `value` is anything else.
    ///
    /// JSON `true`, `1.0` and `1e3` are not integers here (as in the reference reader). The
    /// number's storage type tells them apart: `as? Int` alone would accept all three.
    static func naturalNumbers(_ value: Any?) -> [Int]? {
        guard let items = value as? [Any] else { return nil }
        var numbers: [Int] = []
        for item in items {
            guard let number = item as? NSNumber,
                  integerStorageTypes.contains(String(cString: number.objCType)),
                  let integer = number as? Int, integer >= 0 else { return nil }
            numbers.append(integer)
        }
        return numbers
    }

    /// `NSNumber.objCType` codes of integer storage (`c`, a Bool, and `f`/`d` are left out).
    static let integerStorageTypes: Set<String> = ["s", "i", "l", "q", "S", "I", "L", "Q"]

    /// Sorts the entries by offset and checks that they cover `0..<dataSize` exactly once.
    static func checkTiling(_ entries: inout [SafeTensorsEntry], dataSize: Int, path: String) throws {
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var cursor = 0
        var owner: String?
        for entry in entries {
            if entry.begin < cursor, let owner {
                throw SafeTensorsError.overlappingTensors(path: path, first: owner, second: entry.name)
            }
            if entry.begin > cursor {
                throw SafeTensorsError.unusedBytes(path: path, offset: cursor, before: entry.name)
            }
            if entry.end > entry.begin {
                cursor = entry.end
                owner = entry.name
            }
        }
        if cursor != dataSize {
            throw SafeTensorsError.unusedBytes(path: path, offset: cursor, before: nil)
        }
    }

    /// Compares the data section's CRC-32C with `metadata["crc32c"]`, when that is present.
    static func verifyChecksum(metadata: [String: String], dataSection: Data, path: String) throws {
        guard let recorded = metadata[checksumKey] else { return }
        guard recorded.count == 8, let expected = UInt32(recorded, radix: 16) else {
            throw SafeTensorsError.invalidMetadata(path: path, reason: "\"\(checksumKey)\" is not 8 hex digits")
        }
        let actual = dataSection.withUnsafeBytes { CRC32C.checksum($0) }
        guard actual == expected else {
            throw SafeTensorsError.checksumMismatch(path: path, expected: expected, actual: actual)
        }
    }
}
