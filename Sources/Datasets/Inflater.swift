import CZlib
import Foundation

/// Streaming decompression of a gzip (RFC 1952) or zlib (RFC 1950) stream held in memory,
/// through zlib's `inflate`.
///
/// The caller pulls decompressed bytes in pieces, so it can read a header, check the size it
/// declares, and only then allocate the payload. zlib verifies the CRC-32 (gzip) or Adler-32
/// (zlib) at the end of the stream. Concatenated gzip members are read as one stream.
final class Inflater {
    /// The framing around the deflate data.
    enum Format {
        /// gzip (`1f 8b` …), as in `.gz` files.
        case gzip
        /// zlib (`78 xx` …), as in MAT v5 `miCOMPRESSED` elements.
        case zlib
    }

    /// Deflate never expands more than about 1032 : 1; a declared size above
    /// `compressedSize · maximumExpansion + slack` cannot come from the stream.
    static let maximumExpansion = 1032

    /// Whether `bytes` start with the gzip magic `1f 8b`.
    static func isGzip(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// The most bytes a valid stream of `compressedCount` bytes can inflate to.
    static func expansionLimit(compressedCount: Int) -> Int {
        let (product, overflow) = compressedCount.multipliedReportingOverflow(by: maximumExpansion)
        return overflow ? Int.max : product + 4096
    }

    private let stream: UnsafeMutablePointer<z_stream>
    private let input: UnsafeRawBufferPointer
    private let format: Format
    private let path: String
    private var consumed = 0
    /// Total decompressed bytes handed out so far.
    private(set) var produced = 0
    /// Whether the end of the (last) stream has been reached.
    private(set) var isFinished = false

    /// Prepares to inflate `input`, which must stay valid while the inflater is used.
    ///
    /// - Parameters:
    ///   - input: the whole compressed stream.
    ///   - format: gzip or zlib framing.
    ///   - path: the file, for error messages.
    init(_ input: UnsafeRawBufferPointer, format: Format, path: String) throws {
        self.input = input
        self.format = format
        self.path = path
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let windowBits: Int32 = format == .gzip ? 15 + 16 : 15
        let status = inflateInit2_(stream, windowBits, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw DatasetError.corruptCompression(path: path, reason: "zlib could not start (status \(status))")
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Inflates into `output` until it is full or the stream ends.
    ///
    /// - Parameter output: where the decompressed bytes go.
    /// - Returns: the number of bytes written; less than `output.count` only at the end.
    /// - Throws: `DatasetError.truncated` if the input ends inside the stream,
    ///   `DatasetError.corruptCompression` for damaged data or a failed checksum.
    func read(into output: UnsafeMutableRawBufferPointer) throws -> Int {
        var written = 0
        while written < output.count && !isFinished {
            let inChunk = min(input.count - consumed, 1 << 30)
            let outChunk = min(output.count - written, 1 << 30)
            stream.pointee.next_in = inChunk == 0 ? nil
                : UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self) + consumed)
            stream.pointee.avail_in = uInt(inChunk)
            stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self) + written
            stream.pointee.avail_out = uInt(outChunk)
            let status = inflate(stream, Z_NO_FLUSH)
            consumed += inChunk - Int(stream.pointee.avail_in)
            let delta = outChunk - Int(stream.pointee.avail_out)
            written += delta
            produced += delta
            try handle(status)
        }
        return written
    }

    /// Reads exactly `output.count` bytes, or throws `truncated`.
    func readExactly(into output: UnsafeMutableRawBufferPointer, what: String) throws {
        let n = try read(into: output)
        guard n == output.count else {
            throw DatasetError.truncated(path: path, detail: "the decompressed data ends inside the \(what) "
                + "(\(produced) bytes in all)")
        }
    }

    /// Checks that nothing follows: no more decompressed bytes, and no bytes after the stream.
    ///
    /// - Parameter declared: the size the header declared, for the message.
    func expectEnd(declared: Int) throws {
        var extra: UInt8 = 0
        let more = try withUnsafeMutableBytes(of: &extra) { try read(into: $0) }
        guard more == 0 else {
            throw DatasetError.trailingBytes(path: path, detail: "the decompressed data is longer than the "
                + "\(declared) bytes its header declares")
        }
        guard consumed == input.count else {
            throw DatasetError.trailingBytes(path: path, detail: "\(input.count - consumed) bytes follow the "
                + "end of the compressed stream")
        }
    }

    /// Calls `body` with successive pieces of the decompressed stream, to its end.
    func forEachChunk(size: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        while !isFinished {
            let n = try read(into: buffer)
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        try expectEnd(declared: produced)
    }

    private func handle(_ status: Int32) throws {
        switch status {
        case Z_OK:
            return
        case Z_STREAM_END:
            let rest = UnsafeRawBufferPointer(rebasing: input[consumed...])
            if format == .gzip && Self.isGzip(rest) {
                inflateReset(stream)  // another gzip member follows
            } else {
                isFinished = true
            }
        case Z_BUF_ERROR where consumed == input.count:
            throw DatasetError.truncated(path: path, detail: "the compressed stream stops before its end "
                + "(after \(produced) decompressed bytes)")
        default:
            let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib status \(status)"
            throw DatasetError.corruptCompression(path: path, reason: message)
        }
    }
}
