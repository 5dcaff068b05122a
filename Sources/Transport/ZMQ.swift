import CZeroMQ
import Foundation

/// An error from libzmq, carrying `errno` and libzmq's own text for it.
///
/// Every libzmq call that can fail is mapped to one of these cases; network trouble
/// is always thrown, never trapped on.
public enum ZMQError: Error, LocalizedError, Equatable {
    /// Creating a context or socket, or setting/reading a socket option, failed.
    case socket(errno: Int32, message: String)
    /// `zmq_bind` failed (address in use, bad endpoint, ...).
    case bind(endpoint: String, errno: Int32, message: String)
    /// `zmq_connect` failed (malformed endpoint, unknown transport, ...).
    case connect(endpoint: String, errno: Int32, message: String)
    /// Sending a message failed (e.g. `EHOSTUNREACH` with `ZMQ_ROUTER_MANDATORY`).
    case send(errno: Int32, message: String)
    /// Receiving or polling failed.
    case receive(errno: Int32, message: String)
    /// A peer sent a multipart message whose total size exceeds `limit` bytes; it was dropped.
    case messageTooLarge(limit: Int)
    /// A blocking call was interrupted by a signal (`EINTR`) or the context is shutting down (`ETERM`).
    case interrupted

    public var errorDescription: String? {
        switch self {
        case let .socket(errno, message):
            return "ZeroMQ socket error \(errno): \(message)"
        case let .bind(endpoint, errno, message):
            return "Could not bind to \(endpoint) (errno \(errno)): \(message)"
        case let .connect(endpoint, errno, message):
            return "Could not connect to \(endpoint) (errno \(errno)): \(message)"
        case let .send(errno, message):
            return "ZeroMQ send failed (errno \(errno)): \(message)"
        case let .receive(errno, message):
            return "ZeroMQ receive failed (errno \(errno)): \(message)"
        case let .messageTooLarge(limit):
            return "Dropped a message larger than the \(limit)-byte limit."
        case .interrupted:
            return "A ZeroMQ call was interrupted (signal or context shutdown)."
        }
    }

    /// The current `zmq_errno()` and its `zmq_strerror` text.
    static func lastError() -> (errno: Int32, message: String) {
        let code = zmq_errno()
        return (code, String(cString: zmq_strerror(code)))
    }

    /// Builds an error from the current `zmq_errno()`, mapping `EINTR`/`ETERM` to `.interrupted`.
    static func current(_ make: (Int32, String) -> ZMQError) -> ZMQError {
        let (code, message) = lastError()
        if code == EINTR || code == ETERM { return .interrupted }
        return make(code, message)
    }
}

/// A libzmq context: the I/O threads that all of its sockets share.
///
/// Sockets hold a strong reference to their context, so `zmq_ctx_term` in `deinit`
/// runs only after every socket of the context has been closed and released
/// (otherwise `zmq_ctx_term` would block forever).
///
/// `@unchecked Sendable`: libzmq contexts are documented thread-safe, and the only
/// stored property is an immutable handle.
public final class ZMQContext: @unchecked Sendable {
    /// The raw `void *` returned by `zmq_ctx_new`.
    let handle: UnsafeMutableRawPointer

    /// Creates a context with `ioThreads` libzmq I/O threads (a coordinator with several
    /// workers streams to them in parallel with 2 or more).
    public init(ioThreads: Int32 = 1) throws {
        guard let handle = zmq_ctx_new() else {
            let (code, message) = ZMQError.lastError()
            throw ZMQError.socket(errno: code, message: message)
        }
        self.handle = handle
        if ioThreads != 1 && zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) != 0 {
            let (code, message) = ZMQError.lastError()
            throw ZMQError.socket(errno: code, message: message)
        }
    }

    deinit {
        // Retry on EINTR; any other failure cannot be reported from deinit.
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}

/// Namespace for libzmq calls that are not tied to one socket.
public enum ZMQ {
    /// Waits until at least one socket has a message to read.
    ///
    /// ```
    /// readable[i] == true  ⇔  sockets[i].receive(timeout: .zero) would not return nil
    /// ```
    /// - Parameters:
    ///   - sockets: the sockets to watch (all must be open).
    ///   - timeout: how long to wait; `nil` waits forever, `.zero` returns at once.
    /// - Returns: one flag per socket, in order; all false on timeout.
    public static func poll(_ sockets: [ZMQSocket], timeout: Duration?) throws -> [Bool] {
        var items = try sockets.map { socket in
            zmq_pollitem_t(socket: try socket.liveHandle(), fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        }
        try poll(&items, count: items.count, timeout: timeout)
        return items.map { ($0.revents & Int16(ZMQ_POLLIN)) != 0 }
    }

    /// `zmq_poll` on `count` items; a signal ends the wait as a timeout would (callers loop).
    static func poll(_ items: UnsafeMutablePointer<zmq_pollitem_t>, count: Int, timeout: Duration?) throws {
        if zmq_poll(items, Int32(count), Int(milliseconds(timeout))) < 0 && zmq_errno() != EINTR {
            throw ZMQError.current { .receive(errno: $0, message: $1) }
        }
    }

    /// Converts a timeout to libzmq milliseconds: `nil` → -1 (forever), rounded up, clamped.
    public static func milliseconds(_ timeout: Duration?) -> Int32 {
        guard let timeout else { return -1 }
        let (seconds, attoseconds) = timeout.components
        if seconds < 0 { return 0 }
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        if ms.overflow || ms.partialValue >= Int64(Int32.max) { return Int32.max }
        let fraction = (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(min(Int64(Int32.max), ms.partialValue + fraction))
    }
}
