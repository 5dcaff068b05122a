import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An immutable block of bytes with a stable address: either heap memory it owns, or a
/// read-only memory map of a whole file.
///
/// Image sets point into a storage and keep it alive, so many views (train / validation)
/// can share one block without copying. A storage is written only while it is being
/// filled, before any view of it exists; mapped storage is never written.
@usableFromInline
final class ByteStorage: @unchecked Sendable {
    /// First byte.
    @usableFromInline let base: UnsafeMutableRawPointer
    /// Number of bytes.
    let count: Int
    /// Whether the bytes are a memory map of a file (`PROT_READ`).
    let isMapped: Bool

    /// Allocates `count` uninitialised bytes on the heap.
    init(capacity count: Int) {
        precondition(count >= 0, "negative storage size")
        self.base = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 16)
        self.count = count
        self.isMapped = false
    }

    private init(mapped base: UnsafeMutableRawPointer, count: Int) {
        self.base = base
        self.count = count
        self.isMapped = true
    }

    deinit {
        if isMapped { munmap(base, count) } else { base.deallocate() }
    }

    /// The bytes as a buffer.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Reads a whole regular file, copying it into memory or, above `mapThreshold` bytes,
    /// mapping it read-only.
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - mapThreshold: files larger than this many bytes are memory-mapped.
    /// - Throws: `DatasetError.unreadable` naming the file and the system's reason.
    static func contentsOfFile(_ url: URL, mapThreshold: Int = Int.max) throws -> ByteStorage {
        let path = url.path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw DatasetError.unreadable(path: path, reason: systemError()) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw DatasetError.unreadable(path: path, reason: systemError()) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw DatasetError.unreadable(path: path, reason: "not a regular file")
        }
        let size = Int(info.st_size)
        if size > mapThreshold && size > 0 {
            guard let map = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), map != MAP_FAILED else {
                throw DatasetError.unreadable(path: path, reason: "mmap: \(systemError())")
            }
            return ByteStorage(mapped: map, count: size)
        }
        let storage = ByteStorage(capacity: size)
        try readFully(fd, into: storage.base, count: size, path: path)
        return storage
    }

    /// Reads exactly `count` bytes from `fd`; a shorter file means it changed under us.
    private static func readFully(_ fd: Int32, into base: UnsafeMutableRawPointer, count: Int, path: String) throws {
        var done = 0
        while done < count {
            let n = read(fd, base + done, min(count - done, 1 << 30))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let reason = n < 0 ? systemError() : "the file shrank while being read"
                throw DatasetError.unreadable(path: path, reason: reason)
            }
            done += n
        }
    }
}

/// The current `errno` as text.
func systemError() -> String {
    String(cString: strerror(errno))
}
