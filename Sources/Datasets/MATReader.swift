import Foundation

/// Reads a uint8 image matrix from a MATLAB Level 5 MAT-file, such as `ff` in `frey_rawface.mat`.
///
/// ```
/// bytes 0…115    descriptive text ("MATLAB 5.0 MAT-file …"); the first 4 bytes are non-zero
/// bytes 116…123  subsystem data offset (ignored)
/// bytes 124…125  version 0x0100
/// bytes 126…127  endian indicator: "IM" little-endian, "MI" big-endian
/// then           data elements: miMATRIX (14), or miCOMPRESSED (15) = a zlib stream of one miMATRIX
/// ```
///
/// The matrix is `[height·width, count]` in MATLAB's column-major order, so column i, stored
/// contiguously, is image i as `[height, width]` row-major: the data bytes are exactly the
/// pixels of an IDX file of shape `[count, height, width]`. Both byte orders are read (uint8
/// data needs no swapping). Uncompressed pixels are not copied; compressed ones are inflated
/// with zlib after their declared size has been checked against the compressed size.
public enum MATReader {
    /// Reads the images stored in the uint8 matrix `variable`.
    ///
    /// ```
    /// variable: uint8 [height·width, count]   →   result: [count, height, width]
    /// ```
    ///
    /// - Parameters:
    ///   - url: the MAT-file.
    ///   - variable: the name of the matrix (`ff` for Frey Faces).
    ///   - height: rows per image (28 for Frey Faces).
    ///   - width: columns per image (20 for Frey Faces).
    /// - Throws: `DatasetError` naming the file: `.notMATv5`, `.matVariableMissing` (listing the
    ///   names found), `.matWrongClass`, `.wrongDimensions`, `.matMalformed`, `.truncated`,
    ///   `.absurdSize`, `.corruptCompression`.
    public static func readImages(at url: URL, variable: String = "ff", height: Int = 28, width: Int = 20) throws -> ImageSet {
        precondition(height > 0 && width > 0, "image size must be positive")
        let file = try ByteStorage.contentsOfFile(url, mapThreshold: IDXReader.defaultMapThreshold)
        var search = Search(path: url.path, variable: variable, height: height, width: width)
        return try withExtendedLifetime(file) {
            let bigEndian = try checkHeader(file.bytes, path: url.path)
            let reader = MATElementReader(bytes: file.bytes, bigEndian: bigEndian, path: url.path, compressedElement: nil)
            return try search.run(file: file, reader: reader)
        }
    }

    /// Checks the 128-byte header; returns whether the file is big-endian.
    static func checkHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Bool {
        guard bytes.count >= 128 else {
            if bytes.starts(with: Array("MATLAB".utf8)) {
                throw DatasetError.truncated(path: path, detail: "\(bytes.count) bytes, shorter than the 128-byte MAT-file header")
            }
            throw DatasetError.notMATv5(path: path, reason: "\(bytes.count) bytes, shorter than the 128-byte header")
        }
        guard !bytes[0..<4].contains(0) else {
            throw DatasetError.notMATv5(path: path, reason: "the first bytes are not header text; this may be a MAT v4 file")
        }
        let bigEndian: Bool
        switch (bytes[126], bytes[127]) {
        case (UInt8(ascii: "I"), UInt8(ascii: "M")): bigEndian = false
        case (UInt8(ascii: "M"), UInt8(ascii: "I")): bigEndian = true
        default: throw DatasetError.notMATv5(path: path, reason: "no endian indicator \"IM\" or \"MI\" at byte 126")
        }
        let version = bigEndian ? UInt16(bytes[124]) << 8 | UInt16(bytes[125]) : UInt16(bytes[125]) << 8 | UInt16(bytes[124])
        guard version == 0x0100 else {
            let hint = version == 0x0200 ? "it is a v7.3 (HDF5) file" : String(format: "version 0x%04X, expected 0x0100", version)
            throw DatasetError.notMATv5(path: path, reason: hint)
        }
        return bigEndian
    }
}

/// A walk over the top-level elements of a MAT-file, looking for one variable.
private struct Search {
    let path: String
    let variable: String
    let height: Int
    let width: Int
    /// Names of the variables seen so far, for the message when `variable` is missing.
    var names: [String] = []

    init(path: String, variable: String, height: Int, width: Int) {
        self.path = path
        self.variable = variable
        self.height = height
        self.width = width
    }

    var pixels: Int { height * width }
    var shape: String { "[\(pixels), count] (one \(height)×\(width) image per column)" }

    mutating func run(file: ByteStorage, reader: MATElementReader) throws -> ImageSet {
        var offset = 128
        while offset < file.count {
            let remaining = file.count - offset
            guard remaining >= 8 else {
                if file.bytes[offset...].allSatisfy({ $0 == 0 }) { break }  // zero padding at the end
                throw DatasetError.truncated(path: path, detail: "\(remaining) stray bytes at the end, too few for an element tag")
            }
            let type = reader.uint32(at: offset)
            let length = Int(reader.uint32(at: offset + 4))
            guard length <= remaining - 8 else {
                throw DatasetError.truncated(path: path, detail: "the element at byte \(offset) declares \(length) bytes, "
                    + "only \(remaining - 8) remain")
            }
            let found: ImageSet?
            switch type {
            case MATDataType.matrix: found = try matrix(file: file, reader: reader, start: offset + 8, end: offset + 8 + length)
            case MATDataType.compressed: found = try compressed(file: file, reader: reader, element: offset, length: length)
            default: throw reader.malformed(at: offset, "top-level element of type \(type); expected miMATRIX (14) or miCOMPRESSED (15)")
            }
            if let found { return found }
            offset += 8 + length
        }
        throw DatasetError.matVariableMissing(path: path, variable: variable, found: names)
    }

    /// An uncompressed miMATRIX: the image set points into the file's bytes.
    private mutating func matrix(file: ByteStorage, reader: MATElementReader, start: Int, end: Int) throws -> ImageSet? {
        let header = try reader.arrayHeader(start: start, end: end)
        names.append(header.name)
        guard header.name == variable else { return nil }
        try reader.checkImageMatrix(header, pixels: pixels, shape: shape)
        let data = try reader.imageData(header, end: end)
        return ImageSet(storage: file, offset: data, count: header.dimensions[1], height: height, width: width)
    }

    /// A miCOMPRESSED element: inflate enough to read the name, and all of it only if it is `variable`.
    private mutating func compressed(file: ByteStorage, reader: MATElementReader, element: Int, length: Int) throws -> ImageSet? {
        let input = UnsafeRawBufferPointer(rebasing: file.bytes[(element + 8)..<(element + 8 + length)])
        let inflater = try Inflater(input, format: .zlib, path: path)
        let size = try innerMatrixSize(inflater, reader: reader, element: element, length: length)
        var prefix = [UInt8](repeating: 0, count: min(size, 4096))
        try prefix.withUnsafeMutableBytes { try inflater.readExactly(into: $0, what: "array header") }
        let header = try prefix.withUnsafeBytes {
            let r = MATElementReader(bytes: $0, bigEndian: reader.bigEndian, path: path, compressedElement: element)
            let header = try r.arrayHeader(start: 0, end: $0.count)
            names.append(header.name)
            if header.name == variable { try r.checkImageMatrix(header, pixels: pixels, shape: shape) }
            return header
        }
        guard header.name == variable else { return nil }
        let body = ByteStorage(capacity: size)
        let buffer = UnsafeMutableRawBufferPointer(start: body.base, count: size)
        prefix.withUnsafeBytes { buffer.copyMemory(from: $0) }
        try inflater.readExactly(into: UnsafeMutableRawBufferPointer(rebasing: buffer[prefix.count...]), what: "array data")
        try inflater.expectEnd(declared: 8 + size)
        let full = MATElementReader(bytes: UnsafeRawBufferPointer(buffer), bigEndian: reader.bigEndian,
                                    path: path, compressedElement: element)
        let data = try full.imageData(header, end: size)
        return ImageSet(storage: body, offset: data, count: header.dimensions[1], height: height, width: width)
    }

    /// Inflates the tag inside a compressed element; returns the miMATRIX size it declares.
    private func innerMatrixSize(_ inflater: Inflater, reader: MATElementReader, element: Int, length: Int) throws -> Int {
        var tag = [UInt8](repeating: 0, count: 8)
        try tag.withUnsafeMutableBytes { try inflater.readExactly(into: $0, what: "compressed element's tag") }
        let (type, size) = tag.withUnsafeBytes { bytes in
            let r = MATElementReader(bytes: bytes, bigEndian: reader.bigEndian, path: path, compressedElement: element)
            return (r.uint32(at: 0), Int(r.uint32(at: 4)))
        }
        guard type == MATDataType.matrix else {
            throw reader.malformed(at: element, "a compressed element holds type \(type), expected miMATRIX (14)")
        }
        guard size <= Inflater.expansionLimit(compressedCount: length) else {
            throw DatasetError.absurdSize(path: path, detail: "the compressed element at byte \(element) declares "
                + "\(size) bytes, more than its \(length) compressed bytes can hold")
        }
        return size
    }
}
