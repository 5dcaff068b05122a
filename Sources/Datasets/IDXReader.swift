import Foundation

/// Reads image arrays in the IDX format of LeCun's MNIST files, raw or gzip-compressed.
///
/// ```
/// offset 0   magic   00 00 08 nd        (0x00000800 | type << 8 | nd; type 0x08 = uint8)
/// offset 4   nd big-endian UInt32 dimensions
/// then       d0 · d1 · … pixel bytes, row-major, nothing after them
/// ```
///
/// Images are the 3-dimensional case `[count, height, width]`. A file is gzip'd when it
/// starts with `1f 8b`, whatever its name; it is then inflated with zlib into memory. A raw
/// file larger than `defaultMapThreshold` is memory-mapped instead of copied.
public enum IDXReader {
    /// Raw files larger than this (64 MiB) are memory-mapped.
    public static let defaultMapThreshold = 64 << 20
    /// No real IDX image file comes near 1 TiB; larger declared sizes mean a broken header.
    static let largestPayload = 1 << 40

    /// Reads the images of an IDX file of unsigned bytes.
    ///
    /// ```
    /// result: [dims[0], dims[1], dims[2]] = [count, height, width]
    /// ```
    ///
    /// - Parameters:
    ///   - url: the IDX file, raw or gzip'd.
    ///   - height: rows per image the caller needs, or nil to accept any.
    ///   - width: columns per image the caller needs, or nil to accept any.
    ///   - mapThreshold: raw files above this many bytes are memory-mapped.
    /// - Throws: `DatasetError` naming the file: `.badMagic`, `.wrongElementType`,
    ///   `.wrongDimensions`, `.truncated`, `.trailingBytes`, `.absurdSize`, `.corruptCompression`.
    public static func readImages(at url: URL, height: Int? = nil, width: Int? = nil,
                                  mapThreshold: Int = defaultMapThreshold) throws -> ImageSet {
        let file = try ByteStorage.contentsOfFile(url, mapThreshold: mapThreshold)
        let shape = Shape(path: url.path, height: height, width: width)
        if Inflater.isGzip(file.bytes) {
            return try readCompressed(file, shape: shape)
        }
        return try readRaw(file, shape: shape)
    }

    /// The path and the image size the caller expects.
    struct Shape {
        let path: String
        let height: Int?
        let width: Int?

        /// Checks that `dims` are `[count, height, width]` with the expected sizes.
        func check(_ dims: [Int]) throws {
            let h = height.map(String.init) ?? "height"
            let w = width.map(String.init) ?? "width"
            let expected = "3 dimensions [count, \(h), \(w)]"
            guard dims.count == 3, dims[1] > 0, dims[2] > 0,
                  height == nil || dims[1] == height, width == nil || dims[2] == width else {
                throw DatasetError.wrongDimensions(path: path, expected: expected, found: dims)
            }
        }
    }

    private static func readRaw(_ file: ByteStorage, shape: Shape) throws -> ImageSet {
        let bytes = file.bytes
        let path = shape.path
        let rank = try checkMagic(bytes, path: path)
        let headerLength = 4 + 4 * rank
        guard bytes.count >= headerLength else {
            throw DatasetError.truncated(path: path, detail: "the header needs \(headerLength) bytes for "
                + "\(rank) dimensions, the file has \(bytes.count)")
        }
        let dims = dimensions(UnsafeRawBufferPointer(rebasing: bytes[4..<headerLength]))
        let payload = try payloadSize(dims, path: path)
        let available = bytes.count - headerLength
        guard available >= payload else {
            throw DatasetError.truncated(path: path, detail: "dimensions \(dims) need \(payload) pixel bytes "
                + "after the \(headerLength)-byte header, the file has \(available)")
        }
        guard available == payload else {
            throw DatasetError.trailingBytes(path: path, detail: "\(available - payload) bytes after the "
                + "\(payload) pixel bytes that dimensions \(dims) declare")
        }
        try shape.check(dims)
        return ImageSet(storage: file, offset: headerLength, count: dims[0], height: dims[1], width: dims[2])
    }

    private static func readCompressed(_ file: ByteStorage, shape: Shape) throws -> ImageSet {
        let path = shape.path
        return try withExtendedLifetime(file) {
            let inflater = try Inflater(file.bytes, format: .gzip, path: path)
            var magic = [UInt8](repeating: 0, count: 4)
            try magic.withUnsafeMutableBytes { try inflater.readExactly(into: $0, what: "IDX magic number") }
            let rank = try magic.withUnsafeBytes { try checkMagic($0, path: path) }
            var header = [UInt8](repeating: 0, count: 4 * rank)
            try header.withUnsafeMutableBytes { try inflater.readExactly(into: $0, what: "IDX dimensions") }
            let dims = header.withUnsafeBytes { dimensions($0) }
            let payload = try payloadSize(dims, path: path)
            guard payload <= Inflater.expansionLimit(compressedCount: file.count) else {
                throw DatasetError.absurdSize(path: path, detail: "dimensions \(dims) declare \(payload) bytes, "
                    + "more than \(file.count) compressed bytes can hold")
            }
            try shape.check(dims)
            let pixels = ByteStorage(capacity: payload)
            try inflater.readExactly(into: UnsafeMutableRawBufferPointer(start: pixels.base, count: payload),
                                     what: "pixels (dimensions \(dims) declare \(payload) bytes)")
            try inflater.expectEnd(declared: 4 + 4 * rank + payload)
            return ImageSet(storage: pixels, offset: 0, count: dims[0], height: dims[1], width: dims[2])
        }
    }

    /// Validates the 4-byte magic number and returns the number of dimensions.
    static func checkMagic(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Int {
        guard bytes.count >= 4 else {
            throw DatasetError.truncated(path: path, detail: "\(bytes.count) bytes, shorter than the 4-byte IDX magic number")
        }
        guard bytes[0] == 0, bytes[1] == 0 else {
            let found = bytes[0..<4].map { String(format: "%02x", $0) }.joined(separator: " ")
            throw DatasetError.badMagic(path: path, expected: "00 00 08 03 (IDX, unsigned bytes, 3 dimensions)",
                                        found: found)
        }
        guard bytes[2] == 0x08 else {
            throw DatasetError.wrongElementType(path: path, expected: "unsigned byte (IDX type 0x08)",
                                                found: elementTypeName(bytes[2]))
        }
        guard bytes[3] > 0 else {
            throw DatasetError.wrongDimensions(path: path, expected: "3 dimensions [count, height, width]", found: [])
        }
        return Int(bytes[3])
    }

    /// Big-endian `UInt32` dimensions.
    static func dimensions(_ bytes: UnsafeRawBufferPointer) -> [Int] {
        stride(from: 0, to: bytes.count - 3, by: 4).map { i in
            Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
        }
    }

    /// The product of `dims`, or `.absurdSize` when it overflows or exceeds `largestPayload`.
    static func payloadSize(_ dims: [Int], path: String) throws -> Int {
        var product = 1
        for d in dims {
            let (next, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow, next <= largestPayload else {
                throw DatasetError.absurdSize(path: path, detail: "dimensions \(dims) multiply to more than \(largestPayload) bytes")
            }
            product = next
        }
        return product
    }

    private static func elementTypeName(_ code: UInt8) -> String {
        switch code {
        case 0x09: return "signed bytes (IDX type 0x09)"
        case 0x0B: return "16-bit integers (IDX type 0x0B)"
        case 0x0C: return "32-bit integers (IDX type 0x0C)"
        case 0x0D: return "32-bit floats (IDX type 0x0D)"
        case 0x0E: return "64-bit floats (IDX type 0x0E)"
        default: return String(format: "unknown IDX type 0x%02X", code)
        }
    }
}
