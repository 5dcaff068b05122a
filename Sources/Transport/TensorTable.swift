/// The list of named tensors (name, element count) that coordinator and worker agree on at join
/// time; a parameter or gradient payload is then the tensors' values concatenated in this order.
///
/// Encoding (little-endian):
/// ```
/// UInt32 entry count E
/// E × { UInt16 name length L, L bytes UTF-8 name, UInt64 element count }
/// ```
/// Decoding rejects truncation, trailing bytes, empty / invalid UTF-8 / duplicate names and
/// counts above `maximumElements`.
public struct TensorTable: Sendable, Equatable {
    /// One named tensor.
    public struct Entry: Sendable, Equatable, Codable {
        public var name: String
        public var count: Int
        public init(name: String, count: Int) {
            self.name = name
            self.count = count
        }
    }

    /// Upper bound on one tensor's or the table's total element count (2^31).
    public static let maximumElements = 1 << 31

    public private(set) var entries: [Entry]

    /// Creates a table; names must be unique and non-empty, counts non-negative (program bugs otherwise).
    ///
    /// - Parameter entries: the tensors, in payload order.
    public init(_ entries: [Entry]) {
        precondition(Set(entries.map(\.name)).count == entries.count, "tensor names must be unique")
        precondition(entries.allSatisfy { !$0.name.isEmpty && $0.name.utf8.count <= Int(UInt16.max) && $0.count >= 0 })
        self.entries = entries
    }

    /// The sum of all counts: the element count of a payload that follows this table.
    public var totalCount: Int { entries.reduce(0) { $0 + $1.count } }

    /// The element offset of each tensor within the concatenated payload, by name.
    public var offsets: [String: Range<Int>] {
        var result: [String: Range<Int>] = [:]
        var start = 0
        for entry in entries {
            result[entry.name] = start..<start + entry.count
            start += entry.count
        }
        return result
    }

    /// The table's bytes.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter()
        writer.append(UInt32(entries.count))
        for entry in entries {
            let name = Array(entry.name.utf8)
            writer.append(UInt16(name.count))
            writer.append(bytes: name)
            writer.append(UInt64(entry.count))
        }
        return writer.bytes
    }

    /// Parses a table, validating every field.
    ///
    /// - Parameter bytes: an encoded table.
    public static func decode(_ bytes: [UInt8]) throws -> TensorTable {
        try bytes.withUnsafeBytes { try decode($0) }
    }

    /// Parses a table in place; see `decode(_:)`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> TensorTable {
        var reader = ByteReader(bytes)
        let entryCount = Int(try reader.read(UInt32.self))
        // Each entry takes at least 2 + 1 + 8 bytes: refuse counts the payload cannot hold.
        guard entryCount <= reader.remaining / 11 else {
            throw WireError.malformedPayload("table declares \(entryCount) entries in \(reader.remaining) bytes")
        }
        var entries: [Entry] = []
        for _ in 0..<entryCount {
            let length = Int(try reader.read(UInt16.self))
            guard let name = String(validating: try reader.read(count: length), as: UTF8.self) else {
                throw WireError.malformedPayload("tensor name is not UTF-8")
            }
            let count = try reader.read(UInt64.self)
            entries.append(Entry(name: name, count: Int(clamping: count)))
        }
        guard reader.remaining == 0 else {
            throw WireError.malformedPayload("\(reader.remaining) trailing bytes after tensor table")
        }
        return try validated(entries)
    }

    /// A table of `entries` from outside the program, checked: names non-empty and unique,
    /// counts within `maximumElements` one by one and in total.
    public static func validated(_ entries: [Entry]) throws -> TensorTable {
        var names = Set<String>()
        var total = 0
        for entry in entries {
            guard !entry.name.isEmpty, entry.name.utf8.count <= Int(UInt16.max) else {
                throw WireError.malformedPayload("empty or over-long tensor name")
            }
            guard entry.count >= 0, entry.count <= maximumElements, total + entry.count <= maximumElements else {
                throw WireError.malformedPayload("tensor \(entry.name) has \(entry.count) elements, over the limit")
            }
            guard names.insert(entry.name).inserted else { throw WireError.malformedPayload("duplicate tensor \(entry.name)") }
            total += entry.count
        }
        return TensorTable(entries)
    }
}

/// JSON form: the entries in order; decoding checks them as `validated` does.
extension TensorTable: Codable {
    public init(from decoder: Decoder) throws {
        self = try Self.validated(try [Entry](from: decoder))
    }

    public func encode(to encoder: Encoder) throws { try entries.encode(to: encoder) }
}
