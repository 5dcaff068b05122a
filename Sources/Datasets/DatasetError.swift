import Foundation

/// Everything that can go wrong while reading, locating or fetching a dataset.
///
/// Every case that concerns a file carries its path, and every message says what to do
/// about it. A bug in the program is a `precondition`; a bad or missing file is one of these.
public enum DatasetError: Error, LocalizedError, Equatable, Sendable {
    // MARK: Files
    /// A dataset file is not in the data directory.
    case fileMissing(dataset: DatasetName, expected: String, alternatives: [String])
    /// The file exists but cannot be opened or read (permissions, a directory, I/O error).
    case unreadable(path: String, reason: String)
    /// The file ends before the data its header declares.
    case truncated(path: String, detail: String)
    /// The file holds more bytes than its header declares.
    case trailingBytes(path: String, detail: String)
    /// A declared size overflows or cannot fit in the file.
    case absurdSize(path: String, detail: String)
    /// A gzip or zlib stream is damaged.
    case corruptCompression(path: String, reason: String)

    // MARK: Contents
    /// The first bytes are not the expected magic number.
    case badMagic(path: String, expected: String, found: String)
    /// The file stores another element type than unsigned bytes.
    case wrongElementType(path: String, expected: String, found: String)
    /// The array has another shape than the dataset needs.
    case wrongDimensions(path: String, expected: String, found: [Int])
    /// The file holds another number of images than the dataset needs.
    case wrongImageCount(path: String, expected: String, found: Int)

    // MARK: CSV
    /// The CSV file has no images.
    case emptyFile(path: String)
    /// A CSV line has the wrong number of comma-separated fields.
    case csvColumnCount(path: String, line: Int, expected: Int, found: Int)
    /// A CSV field is not a plain non-negative decimal integer.
    case csvNotInteger(path: String, line: Int, column: Int, text: String)
    /// A CSV field is an integer outside the allowed range.
    case csvOutOfRange(path: String, line: Int, column: Int, text: String, range: ClosedRange<Int>)

    // MARK: MAT v5
    /// The file is not a MATLAB Level 5 MAT-file.
    case notMATv5(path: String, reason: String)
    /// The MAT-file has no variable of the wanted name.
    case matVariableMissing(path: String, variable: String, found: [String])
    /// The variable has another MATLAB class than the one needed.
    case matWrongClass(path: String, variable: String, expected: String, found: String)
    /// The element structure of the MAT-file is inconsistent.
    case matMalformed(path: String, offset: Int, reason: String)

    // MARK: Fetching
    /// A file's SHA-256 (of its uncompressed bytes) is not the recorded one.
    case checksumMismatch(path: String, expected: String, actual: String)
    /// An external command (pip, python3, apt-get) failed.
    case commandFailed(command: String, status: Int32, output: String)
    /// The dataset cannot be fetched without a source the user must provide.
    case sourceMissing(dataset: DatasetName, help: String)
    /// A system package must be installed, which needs root.
    case needsRoot(command: String)
    /// A file could not be written into the data directory.
    case writeFailed(path: String, reason: String)

    /// The path of the file the error concerns, if there is one.
    public var path: String? {
        switch self {
        case .fileMissing(_, let expected, _): return expected
        case .unreadable(let p, _), .truncated(let p, _), .trailingBytes(let p, _),
             .absurdSize(let p, _), .corruptCompression(let p, _), .badMagic(let p, _, _),
             .wrongElementType(let p, _, _), .wrongDimensions(let p, _, _),
             .wrongImageCount(let p, _, _), .emptyFile(let p), .csvColumnCount(let p, _, _, _),
             .csvNotInteger(let p, _, _, _), .csvOutOfRange(let p, _, _, _, _),
             .notMATv5(let p, _), .matVariableMissing(let p, _, _),
             .matWrongClass(let p, _, _, _), .matMalformed(let p, _, _),
             .checksumMismatch(let p, _, _), .writeFailed(let p, _):
            return p
        case .commandFailed, .sourceMissing, .needsRoot:
            return nil
        }
    }

    public var errorDescription: String? {
        fileDescription ?? contentDescription ?? fetchDescription
    }

    private static let refetch = "Fetch it again with `largevae data fetch <dataset>` or replace the file."

    private var fileDescription: String? {
        switch self {
        case .fileMissing(let dataset, let expected, let alternatives):
            let others = alternatives.isEmpty ? "" : " (or one of: \(alternatives.joined(separator: ", ")))"
            return "\(dataset.rawValue): expected the file \(expected)\(others), but it does not exist. "
                + "Run `largevae data fetch \(dataset.rawValue)`, or point LARGEVAE_DATA at the directory that holds it."
        case .unreadable(let path, let reason):
            return "\(path): cannot read the file (\(reason)). Check that it exists, is a regular file and is readable."
        case .truncated(let path, let detail):
            return "\(path): the file is truncated: \(detail). \(Self.refetch)"
        case .trailingBytes(let path, let detail):
            return "\(path): unexpected data after the end: \(detail). The file is damaged or not in the format its name says. \(Self.refetch)"
        case .absurdSize(let path, let detail):
            return "\(path): the declared size is impossible: \(detail). The header is damaged. \(Self.refetch)"
        case .corruptCompression(let path, let reason):
            return "\(path): the compressed data is damaged (\(reason)). \(Self.refetch)"
        default:
            return nil
        }
    }

    private var contentDescription: String? {
        switch self {
        case .badMagic(let path, let expected, let found):
            return "\(path): bad magic number \(found), expected \(expected). This is not the file format its name says. \(Self.refetch)"
        case .wrongElementType(let path, let expected, let found):
            return "\(path): the elements are \(found), but only \(expected) images are supported. Convert the file to unsigned bytes (0…255)."
        case .wrongDimensions(let path, let expected, let found):
            return "\(path): the array has dimensions \(found), expected \(expected). Use the original dataset file."
        case .wrongImageCount(let path, let expected, let found):
            return "\(path): the file holds \(found) images, expected \(expected). Use the complete original dataset file."
        case .emptyFile(let path):
            return "\(path): the file holds no images. \(Self.refetch)"
        case .csvColumnCount(let path, let line, let expected, let found):
            return "\(path), line \(line): \(found) comma-separated fields, expected \(expected) (label, then one per pixel). Fix or replace that line."
        case .csvNotInteger(let path, let line, let column, let text):
            return "\(path), line \(line), field \(column): \"\(text)\" is not a non-negative integer. Fix or replace that line."
        case .csvOutOfRange(let path, let line, let column, let text, let range):
            return "\(path), line \(line), field \(column): \(text) is outside \(range.lowerBound)…\(range.upperBound). Fix or replace that line."
        case .notMATv5(let path, let reason):
            return "\(path): not a MATLAB Level 5 MAT-file (\(reason)). Re-save it in MATLAB with `save -v7` or with scipy.io.savemat."
        case .matVariableMissing(let path, let variable, let found):
            let names = found.isEmpty ? "none" : found.joined(separator: ", ")
            return "\(path): no variable named `\(variable)`; the file holds: \(names). Use the original frey_rawface.mat, whose images are in `\(variable)`."
        case .matWrongClass(let path, let variable, let expected, let found):
            return "\(path): variable `\(variable)` is \(found), expected \(expected). Use the original file, or convert the variable with uint8(...)."
        case .matMalformed(let path, let offset, let reason):
            return "\(path): malformed MAT-file at byte \(offset): \(reason). \(Self.refetch)"
        default:
            return nil
        }
    }

    private var fetchDescription: String? {
        switch self {
        case .checksumMismatch(let path, let expected, let actual):
            return "\(path): SHA-256 of the uncompressed data is \(actual), expected \(expected). "
                + "The file is damaged or a different version; delete it and fetch again."
        case .commandFailed(let command, let status, let output):
            return "`\(command)` failed with status \(status). Run it by hand to see why (network, python3 and pip installed?). Output:\n\(output)"
        case .sourceMissing(let dataset, let help):
            return "\(dataset.rawValue): no source to fetch from. \(help)"
        case .needsRoot(let command):
            return "A system package is needed and installing it needs root. Run `\(command)`, then fetch again."
        case .writeFailed(let path, let reason):
            return "\(path): cannot write the file (\(reason)). Check that the data directory is writable and has space, or set LARGEVAE_DATA."
        default:
            return nil
        }
    }
}
