import Foundation

/// Admits CURVE clients of one context's servers by their public key: a ZAP handler (ZeroMQ RFC 27).
///
/// libzmq asks `inproc://zeromq.zap.01` of the server socket's context about every CURVE
/// handshake; this answers on a thread of its own, for as long as the handler lives:
/// ```
/// request  ["1.0", request id, domain, address, routing id, "CURVE", client public key (32 bytes)]
/// reply    ["1.0", request id, "200" | "400", text, user id (the key in Z85), metadata (empty)]
/// ```
/// 200 only when the mechanism is CURVE, the domain is the server's and the key is allowed;
/// a refused client never completes its handshake, so nothing it sends reaches the socket.
/// Refusals are reported (address and key), at most `reportBurst` in any minute, so a client
/// that reconnects in a loop cannot flood the log.
///
/// Create it before the server socket binds; keep it alive until that socket is closed (with
/// no handler libzmq would let clients in unauthenticated). Only one per context.
public final class ZAPHandler {
    /// The endpoint libzmq sends ZAP requests to.
    public static let endpoint = "inproc://zeromq.zap.01"
    /// Refusals reported per minute; the rest are counted and summarised.
    public static let reportBurst = 10

    private let state: State
    private let finished = DispatchSemaphore(value: 0)
    private var stopped = false

    /// Binds the handler's socket on `context` and starts answering.
    ///
    /// - Parameters:
    ///   - context: the context of the server socket(s) to authenticate for.
    ///   - allowed: the public keys of the clients to admit.
    ///   - domain: the ZAP domain of the server socket (`CurveServerSecurity.domain`).
    ///   - report: called with each refusal's description (rate-limited), e.g. a warning logger.
    public init(context: ZMQContext, allowed: Set<CurveKey>, domain: String,
                report: @escaping @Sendable (String) -> Void) throws {
        let socket = try ZMQSocket(context: context, kind: .reply, highWaterMark: 1000, maximumMessageSize: 64 << 10)
        try socket.bind(Self.endpoint)
        state = State(socket: socket, allowed: allowed, domain: domain, report: report)
        let thread = Thread { [state, finished] in
            state.serve()
            finished.signal()
        }
        thread.name = "ZAP handler"
        thread.start()
    }

    deinit { stop() }

    /// Stops answering and closes the handler's socket (within about 100 ms). Idempotent.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        state.requestStop()
        finished.wait()
    }

    /// Handshakes admitted and refused so far.
    public var counts: (admitted: Int, refused: Int) { state.counts }

    /// The handler thread's side.
    ///
    /// `@unchecked Sendable` is safe: `socket` is created and bound on the creating thread, then
    /// used only by the handler thread (`Thread.start` orders the hand-over); `allowed`, `domain`
    /// and `report` are immutable (`report` is `@Sendable`); the stop flag, the counters and the
    /// rate limit are read and written only under `lock`.
    final class State: @unchecked Sendable {
        let socket: ZMQSocket
        let allowed: Set<CurveKey>
        let domain: String
        let report: @Sendable (String) -> Void
        private let lock = NSLock()
        private var stop = false
        private var admitted = 0, refused = 0
        private var limit = ReportRateLimit(burst: ZAPHandler.reportBurst, window: .seconds(60))

        init(socket: ZMQSocket, allowed: Set<CurveKey>, domain: String, report: @escaping @Sendable (String) -> Void) {
            self.socket = socket
            self.allowed = allowed
            self.domain = domain
            self.report = report
        }

        var counts: (admitted: Int, refused: Int) { lock.withLock { (admitted, refused) } }

        func requestStop() { lock.withLock { stop = true } }

        var stopRequested: Bool { lock.withLock { stop } }

        /// Answers requests until a stop is requested, polling every 100 ms; then closes the socket.
        func serve() {
            defer { socket.close() }
            while !stopRequested {
                do {
                    guard let request = try socket.receive(timeout: .milliseconds(100)) else { continue }
                    try socket.send(answer(request.map(\.bytes)).map { .bytes($0) })
                } catch {
                    usleep(10_000)   // a failed receive or reply (not expected on inproc): keep serving
                }
            }
        }

        /// The reply frames for one request.
        func answer(_ frames: [[UInt8]]) -> [[UInt8]] {
            let requestID = frames.count > 1 ? frames[1] : []
            let text = { (s: String) in Array(s.utf8) }
            guard frames.count >= 7, frames[0] == text("1.0") else {
                return [text("1.0"), requestID, text("400"), text("malformed ZAP request"), [], []]
            }
            let address = String(decoding: frames[3], as: UTF8.self)
            let key = frames[6].count == 32 ? CurveKey(bytes: frames[6]) : nil
            if frames[5] == text("CURVE"), frames[2] == text(domain), let key, allowed.contains(key) {
                lock.withLock { admitted += 1 }
                return [text("1.0"), requestID, text("200"), text("OK"), text(key.z85), []]
            }
            let reason = frames[5] != text("CURVE") ? "mechanism \(String(decoding: frames[5], as: UTF8.self)) is not CURVE"
                : frames[2] != text(domain) ? "ZAP domain '\(String(decoding: frames[2], as: UTF8.self))' is not '\(domain)'"
                : "its key is not on the allow-list"
            let line: String? = lock.withLock {
                refused += 1
                let (log, suppressed) = limit.admit(now: .now)
                guard log else { return nil }
                let more = suppressed > 0 ? " (\(suppressed) more refusals were not logged)" : ""
                return "refused a CURVE client from \(address.isEmpty ? "an unknown address" : address) with key \(key?.z85 ?? "(none)"): \(reason)\(more)"
            }
            if let line { report(line) }
            return [text("1.0"), requestID, text("400"), text(reason), [], []]
        }
    }
}

/// At most `burst` reports in any `window`; the rest are counted and handed to the next report.
public struct ReportRateLimit: Sendable {
    public let burst: Int
    public let window: Duration
    private var windowStart: ContinuousClock.Instant?
    private var inWindow = 0
    private var suppressed = 0

    public init(burst: Int, window: Duration) {
        precondition(burst > 0, "burst must be positive")
        self.burst = burst
        self.window = window
    }

    /// Whether to report an event at `now`, and how many were suppressed since the last report.
    public mutating func admit(now: ContinuousClock.Instant) -> (report: Bool, suppressed: Int) {
        if windowStart.map({ now - $0 >= window }) ?? true {
            windowStart = now
            inWindow = 0
        }
        inWindow += 1
        guard inWindow <= burst else {
            suppressed += 1
            return (false, 0)
        }
        defer { suppressed = 0 }
        return (true, suppressed)
    }
}
