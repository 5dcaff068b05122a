import Foundation

/// MAT v5 data types (the `type` field of an element tag) used here.
enum MATDataType {
    static let int8: UInt32 = 1
    static let uint8: UInt32 = 2
    static let int32: UInt32 = 5
    static let uint32: UInt32 = 6
    static let matrix: UInt32 = 14
    static let compressed: UInt32 = 15
    static let utf8: UInt32 = 16
}

/// MAT v5 array classes (the low byte of the array flags).
enum MATClass {
    static let uint8: UInt8 = 9

    static func name(_ code: UInt8) -> String {
        let names = ["cell", "struct", "object", "char", "sparse", "double", "single", "int8", "uint8",
                     "int16", "uint16", "int32", "uint32", "int64", "uint64"]
        return (1...15).contains(code) ? names[Int(code) - 1] : "unknown class \(code)"
    }
}

/// One data element's tag, decoded.
///
/// ```
/// full:   [type: UInt32][length: UInt32][data, padded to 8 bytes]
/// small:  [length: UInt16 | type: UInt16 as one UInt32][data, 4 bytes]    (length ≤ 4)
/// ```
struct MATTag {
    let type: UInt32
    let length: Int
    /// Offset of the first data byte.
    let dataStart: Int
    /// Offset of the next element.
    let next: Int
}

/// The parts of a miMATRIX element that every array class shares.
struct MATArrayHeader {
    let arrayClass: UInt8
    let isComplex: Bool
    let dimensions: [Int]
    let name: String
    /// Offset of the subelement after the name (the real part, for numeric arrays).
    let bodyStart: Int
}

/// Bounds-checked, byte-order-aware reading of MAT v5 elements in a block of bytes.
///
/// The block is either the file itself or the decompressed contents of one miCOMPRESSED
/// element; offsets in messages refer to the file, and say so when they are inside one.
struct MATElementReader {
    let bytes: UnsafeRawBufferPointer
    let bigEndian: Bool
    let path: String
    /// File offset of the miCOMPRESSED element that `bytes` came from, or nil if `bytes` is the file.
    let compressedElement: Int?

    func uint32(at offset: Int) -> UInt32 {
        let raw = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return bigEndian ? UInt32(bigEndian: raw) : UInt32(littleEndian: raw)
    }

    func malformed(at offset: Int, _ reason: String) -> DatasetError {
        guard let element = compressedElement else {
            return .matMalformed(path: path, offset: offset, reason: reason)
        }
        return .matMalformed(path: path, offset: element,
                             reason: "inside the compressed element, at decompressed byte \(offset): \(reason)")
    }

    /// Decodes the tag at `offset`; its data must end by `end`.
    func tag(at offset: Int, end: Int) throws -> MATTag {
        guard offset + 8 <= end else { throw malformed(at: offset, "an element tag runs past the end of its array") }
        let word = uint32(at: offset)
        if word >> 16 != 0 {  // small data element
            let length = Int(word >> 16)
            guard length <= 4 else { throw malformed(at: offset, "small data element of \(length) bytes (at most 4)") }
            return MATTag(type: word & 0xFFFF, length: length, dataStart: offset + 4, next: offset + 8)
        }
        let length = Int(uint32(at: offset + 4))
        guard length <= end - offset - 8 else {
            throw malformed(at: offset, "an element declares \(length) bytes, only \(end - offset - 8) remain in its array")
        }
        let padded = (length + 7) & ~7
        return MATTag(type: word, length: length, dataStart: offset + 8, next: min(offset + 8 + padded, end))
    }

    /// Reads the array flags, dimensions and name of a miMATRIX whose contents span `start..<end`.
    func arrayHeader(start: Int, end: Int) throws -> MATArrayHeader {
        let flags = try tag(at: start, end: end)
        guard flags.type == MATDataType.uint32, flags.length == 8 else {
            throw malformed(at: start, "array flags must be 8 bytes of miUINT32 (found type \(flags.type), \(flags.length) bytes)")
        }
        let flagWord = uint32(at: flags.dataStart)
        let dims = try dimensions(at: flags.next, end: end)
        let nameTag = try tag(at: dims.next, end: end)
        guard nameTag.type == MATDataType.int8 || nameTag.type == MATDataType.utf8 else {
            throw malformed(at: dims.next, "array name must be miINT8 text (found type \(nameTag.type))")
        }
        let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[nameTag.dataStart..<nameTag.dataStart + nameTag.length])
        return MATArrayHeader(arrayClass: UInt8(flagWord & 0xFF), isComplex: flagWord & 0x0800 != 0,
                              dimensions: dims.values, name: String(decoding: nameBytes, as: UTF8.self),
                              bodyStart: nameTag.next)
    }

    private func dimensions(at offset: Int, end: Int) throws -> (values: [Int], next: Int) {
        let dims = try tag(at: offset, end: end)
        guard dims.type == MATDataType.int32, dims.length % 4 == 0, dims.length >= 8 else {
            throw malformed(at: offset, "dimensions must be at least two miINT32 values (found type \(dims.type), \(dims.length) bytes)")
        }
        let values = stride(from: dims.dataStart, to: dims.dataStart + dims.length, by: 4).map {
            Int(Int32(bitPattern: uint32(at: $0)))
        }
        guard values.allSatisfy({ $0 >= 0 }) else { throw malformed(at: offset, "negative dimension in \(values)") }
        return (values, dims.next)
    }

    /// Checks that an array is a real uint8 matrix of `pixels` rows (one image per column).
    func checkImageMatrix(_ header: MATArrayHeader, pixels: Int, shape: String) throws {
        guard header.arrayClass == MATClass.uint8, !header.isComplex else {
            let found = (header.isComplex ? "complex " : "") + MATClass.name(header.arrayClass)
            throw DatasetError.matWrongClass(path: path, variable: header.name, expected: "uint8", found: found)
        }
        let dims = header.dimensions
        guard dims.count == 2, dims[0] == pixels else {
            throw DatasetError.wrongDimensions(path: path, expected: shape, found: dims)
        }
    }

    /// Locates the uint8 real part of a checked image matrix; returns its offset in `bytes`.
    func imageData(_ header: MATArrayHeader, end: Int) throws -> Int {
        let data = try tag(at: header.bodyStart, end: end)
        guard data.type == MATDataType.uint8 else {
            throw malformed(at: header.bodyStart, "uint8 data stored as element type \(data.type), expected miUINT8 (2)")
        }
        let (count, overflow) = header.dimensions[0].multipliedReportingOverflow(by: header.dimensions[1])
        guard !overflow, data.length == count else {
            throw malformed(at: header.bodyStart, "dimensions \(header.dimensions) need \(count) bytes, the data has \(data.length)")
        }
        return data.dataStart
    }
}
