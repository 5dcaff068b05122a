import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure while writing a TensorBoard event file.
public enum EventWriterError: Error, LocalizedError, Equatable {
    /// The log directory or the event file could not be created.
    case cannotCreate(path: String, reason: String)
    /// Writing or syncing the file failed.
    case writeFailed(path: String, reason: String)
    /// The writer was used after `close()`.
    case closed(path: String)
    /// Image dimensions or channel count are impossible.
    case invalidImage(tag: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case let .cannotCreate(path, reason): return "cannot create event file \(path): \(reason)"
        case let .writeFailed(path, reason): return "cannot write event file \(path): \(reason)"
        case let .closed(path): return "event file \(path) is already closed"
        case let .invalidImage(tag, reason): return "image summary \(tag): \(reason)"
        }
    }
}

/// Writes TensorBoard event files: scalar and image summaries in TFRecord framing.
///
/// ```
/// <directory>/events.out.tfevents.<unix seconds>.<hostname><suffix>
/// record 0: Event { wall_time, step 0, file_version "brain.Event:2" }
/// record i: Event { wall_time, step, summary { value { tag, simple_value | image } } }
/// ```
/// Records are buffered in memory until `flush()` (or 1 MiB of them), then written and
/// fsynced. Not thread-safe: use one writer from one thread.
public final class EventWriter {
    /// The event file being written.
    public let url: URL
    private var fd: Int32
    private var pending: [UInt8] = []
    private let clock: () -> Double

    /// Creates the log directory if needed and starts a new event file in it.
    ///
    /// - Parameters:
    ///   - directory: the run's log directory (TensorBoard's `--logdir` or a child of it).
    ///   - suffix: appended to the file name, to tell apart writers started in the same second.
    ///   - hostname: the host part of the file name.
    ///   - clock: wall time in seconds since 1970, for the records and the file name.
    /// - Throws: `EventWriterError.cannotCreate`.
    public init(directory: URL, suffix: String = "", hostname: String = ProcessInfo.processInfo.hostName,
                clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.clock = clock
        let now = clock()
        let name = "events.out.tfevents.\(Int(now)).\(hostname)\(suffix)"
        url = directory.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw EventWriterError.cannotCreate(path: directory.path, reason: error.localizedDescription)
        }
        fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw EventWriterError.cannotCreate(path: url.path, reason: errnoText()) }
        append(EventProto.fileVersion(wallTime: now))
        try flush()
    }

    deinit {
        if fd >= 0 { try? close() }
    }

    /// Logs a scalar, e.g. a loss, under `tag` at `step`.
    ///
    /// - Parameters:
    ///   - tag: the chart name, e.g. `train/loss`.
    ///   - value: the value (stored as a 32-bit float, as TensorBoard's `simple_value`).
    ///   - step: the x coordinate, e.g. the epoch.
    /// - Throws: `EventWriterError` if the writer is closed or an automatic flush fails.
    public func scalar(tag: String, value: Float, step: Int) throws {
        try ensureOpen()
        append(EventProto.scalar(tag: tag, value: value, step: Int64(step), wallTime: clock()))
        try flushIfLarge()
    }

    /// Logs an already encoded image (PNG) under `tag` at `step`.
    ///
    /// - Parameters:
    ///   - tag: the image card's name.
    ///   - png: the encoded file.
    ///   - height: pixel rows.
    ///   - width: pixel columns.
    ///   - channels: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA (the Summary.Image colorspace).
    ///   - step: the x coordinate, e.g. the epoch.
    /// - Throws: `EventWriterError`.
    public func image(tag: String, png: Data, height: Int, width: Int, channels: Int, step: Int) throws {
        try ensureOpen()
        guard (1...4).contains(channels), height > 0, width > 0,
              height <= Int(Int32.max), width <= Int(Int32.max) else {
            throw EventWriterError.invalidImage(tag: tag, reason: "\(height)×\(width)×\(channels)")
        }
        append(EventProto.image(tag: tag, encoded: png, height: Int32(height), width: Int32(width),
                                colorspace: Int32(channels), step: Int64(step), wallTime: clock()))
        try flushIfLarge()
    }

    /// Encodes `image` as PNG and logs it under `tag` at `step`.
    ///
    /// - Throws: `PNGError` if encoding fails, `EventWriterError` otherwise.
    public func image(tag: String, image: PNGImage, step: Int) throws {
        let png = try PNGWriter.encode(image)
        try self.image(tag: tag, png: png, height: image.height, width: image.width,
                       channels: image.format.channels, step: step)
    }

    /// Writes the buffered records to the file and syncs it to disk.
    ///
    /// - Throws: `EventWriterError.writeFailed` or `.closed`.
    public func flush() throws {
        try ensureOpen()
        let ok = pending.withUnsafeBytes { writeFully(fd, $0) }
        guard ok else { throw EventWriterError.writeFailed(path: url.path, reason: errnoText()) }
        pending.removeAll(keepingCapacity: true)
        guard fsync(fd) == 0 else { throw EventWriterError.writeFailed(path: url.path, reason: errnoText()) }
    }

    /// Flushes and closes the file; later calls other than `close()` throw `.closed`.
    ///
    /// - Throws: `EventWriterError.writeFailed` if the last flush fails (the file is closed anyway).
    public func close() throws {
        guard fd >= 0 else { return }
        defer {
            closeDescriptor(fd)
            fd = -1
        }
        try flush()
    }

    private func append(_ event: [UInt8]) {
        pending.append(contentsOf: TFRecord.frame(event))
    }

    private func flushIfLarge() throws {
        if pending.count >= 1 << 20 { try flush() }
    }

    private func ensureOpen() throws {
        guard fd >= 0 else { throw EventWriterError.closed(path: url.path) }
    }
}
