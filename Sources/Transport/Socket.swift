import CZeroMQ
import Foundation

/// A libzmq ROUTER, DEALER or REP socket.
///
/// Thread use: libzmq sockets are **not** thread-safe. A `ZMQSocket` must be used by one
/// thread at a time; hand it to another thread only with a synchronising transfer
/// (e.g. create it on the thread that uses it). It is deliberately not `Sendable`.
///
/// Defaults, chosen for a training cluster where one message can be a 6 MB parameter vector:
/// ```
/// send/receive high-water mark   16 messages   (bounded memory under a slow peer)
/// linger                         0 ms          (close() never blocks on unsent data)
/// maximum message size           256 MB        (total over all frames; also per frame in libzmq)
/// ```
public final class ZMQSocket {
    /// The socket patterns this layer supports.
    public enum Kind: Sendable {
        /// Coordinator side: every received message is prefixed by the sender's routing id.
        case router
        /// Worker side: asynchronous request/reply without envelopes.
        case dealer
        /// Strict request/reply (the ZAP handler's side): receive one request, send one reply.
        case reply

        var rawValue: Int32 {
            switch self {
            case .router: return ZMQ_ROUTER
            case .dealer: return ZMQ_DEALER
            case .reply: return ZMQ_REP
            }
        }
    }

    /// A socket option this wrapper knows how to set.
    public enum Option: Sendable {
        /// `ZMQ_SNDHWM`: queued outgoing messages per peer before send blocks or drops.
        case sendHighWaterMark(Int32)
        /// `ZMQ_RCVHWM`: queued incoming messages per peer.
        case receiveHighWaterMark(Int32)
        /// `ZMQ_ROUTING_ID`: a dealer's identity as seen by the router (1–255 bytes, not starting with 0).
        case routingID([UInt8])
        /// `ZMQ_ROUTER_MANDATORY`: sending to an unknown peer fails with `EHOSTUNREACH` instead of a silent drop.
        case routerMandatory(Bool)
        /// `ZMQ_RCVTIMEO` in milliseconds (-1 = forever) for blocking receives.
        case receiveTimeout(milliseconds: Int32)
        /// `ZMQ_SNDTIMEO` in milliseconds (-1 = forever) for blocking sends.
        case sendTimeout(milliseconds: Int32)
        /// `ZMQ_HEARTBEAT_IVL`: send a ZMTP PING every this many milliseconds (0 = off).
        case heartbeatInterval(milliseconds: Int32)
        /// `ZMQ_HEARTBEAT_TIMEOUT`: drop the connection if no traffic for this long after a PING.
        case heartbeatTimeout(milliseconds: Int32)
        /// `ZMQ_HEARTBEAT_TTL`: ask the peer to drop us after this long without a PING (deciseconds precision).
        case heartbeatTTL(milliseconds: Int32)
        /// `ZMQ_LINGER`: how long `close()` keeps unsent messages (0 = discard).
        case linger(milliseconds: Int32)
        /// `ZMQ_MAXMSGSIZE`: libzmq disconnects a peer that sends a single frame larger than this (-1 = no limit).
        case maximumFrameSize(Int64)
        /// `ZMQ_SNDBUF`: the kernel's send buffer per connection, in bytes (set before connect/bind).
        case sendBuffer(Int32)
        /// `ZMQ_RCVBUF`: the kernel's receive buffer per connection, in bytes (set before connect/bind).
        case receiveBuffer(Int32)
        /// `ZMQ_CURVE_SERVER`: act as a CURVE server (set with the server's secret key, before bind).
        case curveServer(Bool)
        /// `ZMQ_CURVE_SECRETKEY`: this socket's long-term secret key (server and client).
        case curveSecretKey(CurveKey)
        /// `ZMQ_CURVE_PUBLICKEY`: a CURVE client's long-term public key.
        case curvePublicKey(CurveKey)
        /// `ZMQ_CURVE_SERVERKEY`: the server's public key, which a CURVE client checks (before connect).
        case curveServerKey(CurveKey)
        /// `ZMQ_ZAP_DOMAIN`: the domain a server passes to the ZAP handler with each handshake.
        case zapDomain(String)
    }

    /// The pattern of this socket.
    public let kind: Kind
    /// The context; kept alive until this socket is released.
    public let context: ZMQContext
    /// Largest accepted total size, in bytes, of one received multipart message.
    public private(set) var maximumMessageSize: Int
    private var handle: UnsafeMutableRawPointer?

    /// Creates a socket with bounded queues, zero linger and a message-size limit.
    ///
    /// - Parameters:
    ///   - context: the context whose I/O threads serve this socket.
    ///   - kind: `.router` or `.dealer`.
    ///   - highWaterMark: send and receive high-water mark, in messages.
    ///   - maximumMessageSize: largest accepted received message (sum of frames), in bytes.
    public init(context: ZMQContext, kind: Kind, highWaterMark: Int32 = 16,
                maximumMessageSize: Int = 256 << 20) throws {
        precondition(maximumMessageSize > 0, "maximumMessageSize must be positive")
        guard let handle = zmq_socket(context.handle, kind.rawValue) else {
            throw ZMQError.current { .socket(errno: $0, message: $1) }
        }
        self.kind = kind
        self.context = context
        self.handle = handle
        self.maximumMessageSize = maximumMessageSize
        try set(.linger(milliseconds: 0))
        try set(.sendHighWaterMark(highWaterMark))
        try set(.receiveHighWaterMark(highWaterMark))
        try setMaximumMessageSize(maximumMessageSize)
    }

    deinit { close() }

    /// Closes the socket; later calls throw `ZMQError.socket(errno: ENOTSOCK, ...)`. Idempotent.
    public func close() {
        guard let handle else { return }
        zmq_close(handle)
        self.handle = nil
    }

    /// The open libzmq handle, or a typed error if the socket has been closed.
    func liveHandle() throws -> UnsafeMutableRawPointer {
        guard let handle else {
            throw ZMQError.socket(errno: ENOTSOCK, message: String(cString: zmq_strerror(ENOTSOCK)))
        }
        return handle
    }

    /// Binds to an endpoint such as `tcp://127.0.0.1:*` or `ipc:///tmp/x.sock`.
    ///
    /// - Parameter endpoint: a libzmq endpoint; with `*` as port, read the result from `lastEndpoint`.
    public func bind(_ endpoint: String) throws {
        let handle = try liveHandle()
        if zmq_bind(handle, endpoint) != 0 {
            throw ZMQError.current { .bind(endpoint: endpoint, errno: $0, message: $1) }
        }
    }

    /// Connects to an endpoint; libzmq connects (and reconnects) in the background.
    ///
    /// - Parameter endpoint: a libzmq endpoint such as `tcp://10.0.0.2:5555`.
    public func connect(_ endpoint: String) throws {
        let handle = try liveHandle()
        if zmq_connect(handle, endpoint) != 0 {
            throw ZMQError.current { .connect(endpoint: endpoint, errno: $0, message: $1) }
        }
    }

    /// Whether a message is ready to receive now (`ZMQ_EVENTS` has `ZMQ_POLLIN`): a check that
    /// neither waits nor allocates.
    public var hasMessage: Bool {
        get throws {
            let handle = try liveHandle()
            var events: Int32 = 0
            var size = MemoryLayout<Int32>.size
            while zmq_getsockopt(handle, ZMQ_EVENTS, &events, &size) != 0 {
                if zmq_errno() == EINTR { continue }
                throw ZMQError.current { .receive(errno: $0, message: $1) }
            }
            return events & Int32(ZMQ_POLLIN) != 0
        }
    }

    /// Whether a message is ready within `timeout` (`nil` waits for one). Nothing is allocated,
    /// and `.zero` is `hasMessage`, without a system call: for callers that poll in a loop.
    public func waitForMessage(timeout: Duration?) throws -> Bool {
        if timeout == .zero { return try hasMessage }
        var item = zmq_pollitem_t(socket: try liveHandle(), fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        try ZMQ.poll(&item, count: 1, timeout: timeout)
        return item.revents & Int16(ZMQ_POLLIN) != 0
    }

    /// The endpoint of the last `bind`/`connect` (`ZMQ_LAST_ENDPOINT`), with the real port for `*`.
    public var lastEndpoint: String {
        get throws {
            let handle = try liveHandle()
            var buffer = [CChar](repeating: 0, count: 1024)
            var size = buffer.count
            if zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size) != 0 {
                throw ZMQError.current { .socket(errno: $0, message: $1) }
            }
            let bytes = buffer.prefix(min(size, buffer.count)).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Sets the received-message size limit, here and (per frame) in libzmq's `ZMQ_MAXMSGSIZE`.
    ///
    /// - Parameter bytes: the new limit; a single larger frame makes libzmq drop the connection,
    ///   a multipart message whose frames together exceed it is drained and rejected by `receive`.
    public func setMaximumMessageSize(_ bytes: Int) throws {
        precondition(bytes > 0, "maximum message size must be positive")
        try set(.maximumFrameSize(Int64(bytes)))
        maximumMessageSize = bytes
    }

    /// Sets one socket option. High-water marks and routing ids must be set before bind/connect.
    ///
    /// - Parameter option: the option and its value.
    public func set(_ option: Option) throws {
        switch option {
        case let .sendHighWaterMark(value): try setInt32(ZMQ_SNDHWM, value)
        case let .receiveHighWaterMark(value): try setInt32(ZMQ_RCVHWM, value)
        case let .routingID(bytes): try setBytes(ZMQ_ROUTING_ID, bytes)
        case let .routerMandatory(on): try setInt32(ZMQ_ROUTER_MANDATORY, on ? 1 : 0)
        case let .receiveTimeout(ms): try setInt32(ZMQ_RCVTIMEO, ms)
        case let .sendTimeout(ms): try setInt32(ZMQ_SNDTIMEO, ms)
        case let .heartbeatInterval(ms): try setInt32(ZMQ_HEARTBEAT_IVL, ms)
        case let .heartbeatTimeout(ms): try setInt32(ZMQ_HEARTBEAT_TIMEOUT, ms)
        case let .heartbeatTTL(ms): try setInt32(ZMQ_HEARTBEAT_TTL, ms)
        case let .linger(ms): try setInt32(ZMQ_LINGER, ms)
        case let .maximumFrameSize(bytes): try setInt64(ZMQ_MAXMSGSIZE, bytes)
        case let .sendBuffer(bytes): try setInt32(ZMQ_SNDBUF, bytes)
        case let .receiveBuffer(bytes): try setInt32(ZMQ_RCVBUF, bytes)
        case let .curveServer(on): try setInt32(ZMQ_CURVE_SERVER, on ? 1 : 0)
        case let .curveSecretKey(key): try setBytes(ZMQ_CURVE_SECRETKEY, key.bytes)
        case let .curvePublicKey(key): try setBytes(ZMQ_CURVE_PUBLICKEY, key.bytes)
        case let .curveServerKey(key): try setBytes(ZMQ_CURVE_SERVERKEY, key.bytes)
        case let .zapDomain(domain): try setBytes(ZMQ_ZAP_DOMAIN, Array(domain.utf8))
        }
    }

    private func setInt32(_ name: Int32, _ value: Int32) throws {
        var value = value
        try setRaw(name, &value, MemoryLayout<Int32>.size)
    }

    private func setInt64(_ name: Int32, _ value: Int64) throws {
        var value = value
        try setRaw(name, &value, MemoryLayout<Int64>.size)
    }

    private func setBytes(_ name: Int32, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try setRaw(name, $0.baseAddress, $0.count) }
    }

    private func setRaw(_ name: Int32, _ value: UnsafeRawPointer?, _ size: Int) throws {
        let handle = try liveHandle()
        if zmq_setsockopt(handle, name, value, size) != 0 {
            throw ZMQError.current { .socket(errno: $0, message: $1) }
        }
    }
}
