import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Verified, atomic installation of dataset files, and the external commands that fetch them.
enum FileInstaller {
    /// SHA-256 of the file's bytes, or of the decompressed bytes if it is gzip'd.
    ///
    /// - Parameter url: the file.
    static func uncompressedDigest(of url: URL) throws -> String {
        let file = try ByteStorage.contentsOfFile(url, mapThreshold: IDXReader.defaultMapThreshold)
        return try withExtendedLifetime(file) { try uncompressedDigest(of: file.bytes, path: url.path) }
    }

    /// SHA-256 of `bytes`, or of their decompression if they are gzip'd.
    static func uncompressedDigest(of bytes: UnsafeRawBufferPointer, path: String) throws -> String {
        var hash = SHA256()
        if Inflater.isGzip(bytes) {
            try Inflater(bytes, format: .gzip, path: path).forEachChunk { hash.update($0) }
        } else {
            hash.update(bytes)
        }
        return hash.hexDigest()
    }

    /// Copies `source` to `destination` if its uncompressed SHA-256 is `expected`.
    ///
    /// - Throws: `.checksumMismatch` naming `source`, or a read/write error.
    static func installVerified(from source: URL, to destination: URL, expected: String) throws {
        let file = try ByteStorage.contentsOfFile(source)
        try withExtendedLifetime(file) {
            let actual = try uncompressedDigest(of: file.bytes, path: source.path)
            guard actual == expected else {
                throw DatasetError.checksumMismatch(path: source.path, expected: expected, actual: actual)
            }
            try writeAtomically(file.bytes, to: destination)
        }
    }

    /// Whether `url` exists and its uncompressed SHA-256 is `expected`.
    static func isInstalled(_ url: URL, expected: String) -> Bool {
        guard FileManager.default.fileExists(atPath: url.path) else { return false }
        return (try? uncompressedDigest(of: url)) == expected
    }

    /// Writes `bytes` to a temporary file beside `url`, flushes it, and renames it over `url`,
    /// so that readers see either the old file or the whole new one.
    static func writeAtomically(_ bytes: UnsafeRawBufferPointer, to url: URL) throws {
        let folder = url.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw DatasetError.writeFailed(path: folder.path, reason: error.localizedDescription)
        }
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).partial-\(UUID().uuidString)")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw DatasetError.writeFailed(path: temporary.path, reason: systemError()) }
        var done = false
        defer { if !done { unlink(temporary.path) } }
        do {
            defer { close(fd) }
            try writeAll(fd, bytes, path: temporary.path)
            guard fsync(fd) == 0 else { throw DatasetError.writeFailed(path: temporary.path, reason: systemError()) }
        }
        guard rename(temporary.path, url.path) == 0 else {
            throw DatasetError.writeFailed(path: url.path, reason: systemError())
        }
        done = true
        let dirfd = open(folder.path, O_RDONLY | O_CLOEXEC)  // make the rename durable too
        if dirfd >= 0 { _ = fsync(dirfd); close(dirfd) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var written = 0
        while written < bytes.count {
            let n = write(fd, bytes.baseAddress! + written, min(bytes.count - written, 1 << 30))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw DatasetError.writeFailed(path: path, reason: systemError()) }
            written += n
        }
    }

    /// Runs a command found on `PATH`, and returns its output (stdout and stderr together).
    ///
    /// - Parameters:
    ///   - arguments: the command and its arguments.
    ///   - environment: variables to add to this process's environment.
    /// - Throws: `.commandFailed` with the exit status and the end of the output.
    @discardableResult
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> String {
        let command = arguments.joined(separator: " ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw DatasetError.commandFailed(command: command, status: -1, output: error.localizedDescription)
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw DatasetError.commandFailed(command: command, status: process.terminationStatus,
                                             output: String(output.suffix(4000)))
        }
        return output
    }
}
