import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why a shared-memory segment could not be made or used. The caller then stays on the socket
/// path, so every case is a reason to warn, never to stop.
public enum SharedSegmentError: Error, LocalizedError, Equatable {
    case unsupported(String)
    case system(call: String, path: String, errno: Int32)
    case invalid(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .unsupported(why): return "shared memory is unavailable: \(why)"
        case let .system(call, path, code): return "\(call) \(path) failed: \(String(cString: strerror(code)))"
        case let .invalid(path, reason): return "\(path) is not this run's segment: \(reason)"
        }
    }
}

/// A file in `/dev/shm` mapped into this process: the bulk path between a coordinator and the
/// workers on its host.
///
/// ```
/// bytes [0, 16)      a random 128-bit token, which an opener must know
/// bytes [4096, size) the regions its creator lays out (page-aligned)
/// ```
/// The creator reserves every page (`posix_fallocate`), so a full `/dev/shm` fails here rather
/// than as a SIGBUS at a later write. Mode 0600: only the same user can open it.
public final class SharedSegment: @unchecked Sendable {
    // @unchecked: the mapping never moves; who writes which bytes when is the protocol's business
    // (see `Coordinator+SharedMemory.swift`).
    public static let directory = "/dev/shm"
    /// Where the creator's regions may begin: the token's page is never handed out.
    public static let dataOffset = 4096
    public static let tokenSize = 16

    public let path: String
    public let base: UnsafeMutableRawPointer
    public let size: Int
    public let token: [UInt8]
    /// Whether this process made the file, and so removes its name.
    private let owner: Bool
    private let lock = NSLock()
    private var linked: Bool

    private init(path: String, base: UnsafeMutableRawPointer, size: Int, token: [UInt8], owner: Bool) {
        self.path = path
        self.base = base
        self.size = size
        self.token = token
        self.owner = owner
        linked = owner
    }

    deinit {
        unlink()
        munmap(base, size)
    }

    /// Creates `path` (a name directly under `/dev/shm`) of `size` bytes with a fresh token, mapped
    /// read-write. A stale file of the same name (a killed run's) is removed first.
    public static func create(path: String, size: Int) throws -> SharedSegment {
        try checkName(path)
        guard size > dataOffset else { throw SharedSegmentError.invalid(path: path, reason: "size \(size)") }
        _ = Glibc.unlink(path)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SharedSegmentError.system(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        let reserved = posix_fallocate(fd, 0, off_t(size))
        guard reserved == 0 else {
            _ = Glibc.unlink(path)
            throw SharedSegmentError.system(call: "posix_fallocate", path: path, errno: reserved)
        }
        guard let base = map(fd, size: size, writable: true) else {
            let code = errno
            _ = Glibc.unlink(path)
            throw SharedSegmentError.system(call: "mmap", path: path, errno: code)
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<tokenSize).map { _ in UInt8.random(in: 0...255, using: &generator) }
        base.copyMemory(from: token, byteCount: tokenSize)
        return SharedSegment(path: path, base: base, size: size, token: token, owner: true)
    }

    /// Opens a segment another process made, checking that it is a regular file of exactly `size`
    /// bytes, owned by this user, that starts with `token`.
    public static func open(path: String, size: Int, token: [UInt8], writable: Bool) throws -> SharedSegment {
        try checkName(path)
        guard token.count == tokenSize, size > dataOffset else { throw SharedSegmentError.invalid(path: path, reason: "malformed offer") }
        let fd = Glibc.open(path, (writable ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SharedSegmentError.system(call: "open", path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SharedSegmentError.system(call: "fstat", path: path, errno: errno) }
        guard info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(), Int(info.st_size) == size else {
            throw SharedSegmentError.invalid(path: path, reason: "a file of \(info.st_size) bytes, mode \(String(info.st_mode, radix: 8)), owner \(info.st_uid)")
        }
        guard let base = map(fd, size: size, writable: writable) else {
            throw SharedSegmentError.system(call: "mmap", path: path, errno: errno)
        }
        guard memcmp(base, token, tokenSize) == 0 else {
            munmap(base, size)
            throw SharedSegmentError.invalid(path: path, reason: "its token differs")
        }
        return SharedSegment(path: path, base: base, size: size, token: token, owner: false)
    }

    /// Removes the name (the creator's, once); mappings stay valid until released.
    public func unlink() {
        lock.lock(); defer { lock.unlock() }
        guard owner && linked else { return }
        linked = false
        _ = Glibc.unlink(path)
    }

    /// The `count` bytes at `offset`, which the caller has checked lie inside the segment.
    public func bytes(at offset: Int, count: Int) -> UnsafeMutableRawBufferPointer {
        precondition(offset >= Self.dataOffset && count >= 0 && offset + count <= size, "region outside the segment")
        return UnsafeMutableRawBufferPointer(start: base + offset, count: count)
    }

    /// Names are plain files directly under `/dev/shm` that start with `largevae-`: an offer can
    /// never point a worker at any other file.
    static func checkName(_ path: String) throws {
        let prefix = directory + "/largevae-"
        let name = path.dropFirst(directory.count + 1)
        guard path.hasPrefix(prefix), !name.contains("/"), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
            throw SharedSegmentError.invalid(path: path, reason: "not a largevae name under \(directory)")
        }
        var info = stat()
        guard stat(directory, &info) == 0 else { throw SharedSegmentError.unsupported("\(directory) does not exist") }
    }

    /// Removes the names of `largevae-RUN-PID-…` segments of this user whose creator (process
    /// PID) is gone, as a killed coordinator leaves them; returns them. A live process's
    /// segments are never touched (in another PID namespace a live creator may look gone: its
    /// later workers then only fall back to the socket).
    public static func removeStale() -> [String] {
        removeNames { pid in pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH }
    }

    /// Removes the names of this process's own segments (a process about to exit without running
    /// its deinitialisers, on a second stop signal); returns them.
    public static func removeOwn() -> [String] {
        removeNames { $0 == getpid() }
    }

    /// Removes the names of `largevae-RUN-PID-…` regular files of this user whose PID `matches`.
    private static func removeNames(creator matches: (Int32) -> Bool) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { name in
            let fields = name.split(separator: "-")
            guard fields.count >= 4, fields[0] == "largevae", let pid = Int32(fields[2]), pid > 0, matches(pid) else { return false }
            let path = directory + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else { return false }
            return Glibc.unlink(path) == 0
        }
    }

    private static func map(_ fd: Int32, size: Int, writable: Bool) -> UnsafeMutableRawPointer? {
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard let p = mmap(nil, size, protection, MAP_SHARED, fd, 0), p != UnsafeMutableRawPointer(bitPattern: -1) else { return nil }
        return p
    }

    /// What makes two processes "on the same host" for shared memory: the kernel's boot id, the
    /// host name and the network namespace. A worker in another namespace (or container, or
    /// machine) gets another identity and stays on the socket path. Nil where there is no
    /// `/proc` (then nothing is shared).
    public static func hostIdentity() -> String? {
        guard let boot = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else { return nil }
        var buffer = [CChar](repeating: 0, count: 256)
        let namespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) ?? "net:?"
        gethostname(&buffer, buffer.count - 1)
        let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return "\(boot.trimmingCharacters(in: .whitespacesAndNewlines)) \(host) \(namespace)"
    }
}

extension Array where Element == UInt8 {
    /// Lower-case hex digits.
    public var hexString: String { map { String(format: "%02x", $0) }.joined() }

    /// Bytes from hex digits, or nil if `hex` is not an even number of them.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        self = out
    }
}
