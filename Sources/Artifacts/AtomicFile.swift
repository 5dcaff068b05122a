import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure while replacing a file atomically; each case names the file and the `errno` text.
public enum AtomicFileError: Error, LocalizedError, Equatable {
    /// The temporary file next to the destination could not be created.
    case cannotCreateTemporary(path: String, reason: String)
    /// Writing the bytes to the temporary file failed (disk full, I/O error).
    case writeFailed(path: String, reason: String)
    /// `fsync` of the temporary file or of the directory failed.
    case syncFailed(path: String, reason: String)
    /// The temporary file could not be renamed over the destination.
    case renameFailed(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .cannotCreateTemporary(path, reason):
            return "cannot create a temporary file next to \(path): \(reason)"
        case let .writeFailed(path, reason):
            return "cannot write \(path): \(reason)"
        case let .syncFailed(path, reason):
            return "cannot flush \(path) to disk: \(reason)"
        case let .renameFailed(path, reason):
            return "cannot move the new contents into place at \(path): \(reason)"
        }
    }
}

/// Replaces a file's contents so that a reader, or the file after a crash, sees either
/// the old contents or the new ones, never a mix or a truncated file.
///
/// ```
/// dir/.name.tmp-<pid>-<random>  ← write, fsync
/// rename(tmp, dir/name)          ← atomic on POSIX file systems
/// fsync(dir)                     ← make the rename itself durable
/// ```
public enum AtomicFile {
    /// Writes `data` to `url` atomically and durably.
    ///
    /// - Parameters:
    ///   - data: the complete new contents.
    ///   - url: a file URL; its directory must exist and be writable.
    ///   - permissions: mode bits for a newly created file (the umask applies).
    /// - Throws: `AtomicFileError`; on failure the destination is unchanged and no
    ///   temporary file is left behind.
    public static func write(_ data: Data, to url: URL, permissions: mode_t = 0o644) throws {
        let destination = url.path
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent
            + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, permissions)
        guard fd >= 0 else {
            throw AtomicFileError.cannotCreateTemporary(path: destination, reason: errnoText())
        }
        do {
            try writeAll(data, to: fd, path: destination)
            guard fsync(fd) == 0 else {
                throw AtomicFileError.syncFailed(path: destination, reason: errnoText())
            }
            guard close(fd) == 0 else {
                throw AtomicFileError.writeFailed(path: destination, reason: errnoText())
            }
        } catch {
            _ = close(fd)
            _ = unlink(temporary)
            throw error
        }
        guard rename(temporary, destination) == 0 else {
            let reason = errnoText()
            _ = unlink(temporary)
            throw AtomicFileError.renameFailed(path: destination, reason: reason)
        }
        try syncDirectory(directory)
    }

    /// Writes every byte of `data` to `fd`, retrying short writes and `EINTR`.
    static func writeAll(_ data: Data, to fd: Int32, path: String) throws {
        let ok = data.withUnsafeBytes { writeFully(fd, $0) }
        guard ok else { throw AtomicFileError.writeFailed(path: path, reason: errnoText()) }
    }

    /// Flushes a directory's entries (the rename) to disk. File systems that cannot
    /// sync directories (`EINVAL`) are accepted as they are.
    static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AtomicFileError.syncFailed(path: directory, reason: errnoText())
        }
        defer { _ = close(fd) }
        if fsync(fd) != 0 && errno != EINVAL {
            throw AtomicFileError.syncFailed(path: directory, reason: errnoText())
        }
    }
}

/// Writes all of `buffer` to `fd` with `write(2)`, retrying short writes and `EINTR`.
/// Returns false, with `errno` set, on any other failure.
func writeFully(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
    guard let base = buffer.baseAddress else { return true }
    var offset = 0
    while offset < buffer.count {
        #if canImport(Glibc)
        let written = Glibc.write(fd, base + offset, buffer.count - offset)
        #else
        let written = Darwin.write(fd, base + offset, buffer.count - offset)
        #endif
        if written < 0 {
            if errno == EINTR { continue }
            return false
        }
        offset += written
    }
    return true
}

/// `close(2)`, ignoring its result (used on paths that are already failing or finished).
func closeDescriptor(_ fd: Int32) {
    #if canImport(Glibc)
    _ = Glibc.close(fd)
    #else
    _ = Darwin.close(fd)
    #endif
}

/// The text of the current `errno`, e.g. "No such file or directory (errno 2)".
func errnoText() -> String {
    let code = errno
    return String(cString: strerror(code)) + " (errno \(code))"
}
