import Foundation
import Transport

/// Two sockets handed from the creating thread to one peer thread (`Thread.start` orders the
/// hand-over; only that thread uses them afterwards), hence `@unchecked Sendable`.
final class SocketPair: @unchecked Sendable {
    let front: ZMQSocket?
    let back: ZMQSocket
    init(front: ZMQSocket?, back: ZMQSocket) { self.front = front; self.back = back }
}

/// A stop flag and counters shared between a peer thread and the test (all under `lock`).
class PeerThread: @unchecked Sendable {
    private let lock = NSLock()
    private var stopRequested = false
    private var count = 0
    private let done = DispatchSemaphore(value: 0)

    var stopping: Bool { lock.lock(); defer { lock.unlock() }; return stopRequested }
    func bump() { lock.lock(); count += 1; lock.unlock() }
    var sent: Int { lock.lock(); defer { lock.unlock() }; return count }

    func start(_ body: @escaping @Sendable () -> Void) {
        Thread { [self] in body(); done.signal() }.start()
    }

    /// Asks the thread to stop and waits for it; returns its count.
    @discardableResult
    func finish() -> Int {
        lock.lock(); stopRequested = true; lock.unlock()
        done.wait()
        return sent
    }
}

/// A man in the middle with an allowed key: a worker connects to it (plaintext, on loopback), and
/// it passes the worker's messages to a CURVE coordinator and the answers back, recording every
/// message of the worker. Whenever a result of a new round goes through, it also sends again the
/// results of the round before: replays from an earlier step, with valid checksums and sizes.
final class Relay: PeerThread, @unchecked Sendable {
    let endpoint: String
    private let lock = NSLock()
    private var captured: [[[UInt8]]] = []

    init(coordinator: String, keys: CurveClientSecurity) throws {
        let context = try ZMQContext()
        let front = try ZMQSocket(context: context, kind: .router)
        try front.bind("tcp://127.0.0.1:*")
        endpoint = try front.lastEndpoint
        let back = try ZMQSocket(context: context, kind: .dealer, highWaterMark: 1000)
        try back.makeCurveClient(keys)
        try back.connect(coordinator)
        super.init()
        let sockets = SocketPair(front: front, back: back)
        start { [self] in try? self.serve(sockets.front!, sockets.back) }
    }

    /// Results sent again from an earlier round.
    var replays: Int { sent }

    /// Stops relaying and returns every message the worker sent, in order.
    func stop() -> [[[UInt8]]] {
        finish()
        lock.lock(); defer { lock.unlock() }
        return captured
    }

    private func serve(_ front: ZMQSocket, _ back: ZMQSocket) throws {
        var worker: [UInt8]?
        var round: UInt64 = 0
        var previous: [[[UInt8]]] = [], current: [[[UInt8]]] = []
        while !stopping {
            let ready = try ZMQ.poll([front, back], timeout: .milliseconds(50))
            if ready[0], let frames = try front.receive(timeout: .zero), frames.count > 1 {
                worker = frames[0].bytes
                let message = frames.dropFirst().map(\.bytes)
                lock.lock(); captured.append(message); lock.unlock()
                try back.send(message.map { .bytes($0) })
                if let header = try? WireHeader.decode(message[0]), header.type == .result {
                    if header.step > round {
                        (previous, current, round) = (current, [], header.step)
                        for old in previous {
                            try back.send(old.map { .bytes($0) })
                            bump()
                        }
                    }
                    current.append(message)
                }
            }
            if ready[1], let frames = try back.receive(timeout: .zero), let worker {
                try front.send([.bytes(worker)] + frames.map { .bytes($0.bytes) })
            }
        }
    }
}

/// An allowed peer that joins a coordinator with a captured hello, then sends captured messages
/// over and over until stopped, reading (and ignoring) whatever the coordinator sends.
final class Replayer: PeerThread, @unchecked Sendable {
    init(endpoint: String, keys: CurveClientSecurity, messages: [[[UInt8]]]) throws {
        let dealer = try ZMQSocket(context: try ZMQContext(), kind: .dealer, highWaterMark: 1000)
        try dealer.makeCurveClient(keys)
        try dealer.connect(endpoint)
        super.init()
        let sockets = SocketPair(front: nil, back: dealer)
        start { [self] in try? self.replay(messages, on: sockets.back) }
    }

    func stop() -> Int { finish() }

    private func replay(_ messages: [[[UInt8]]], on socket: ZMQSocket) throws {
        let type = { (m: [[UInt8]]) in (try? WireHeader.decode(m[0]))?.type }
        if let hello = messages.first(where: { type($0) == .hello }) {
            try socket.send(hello.map { .bytes($0) })
        }
        while !stopping {
            for message in messages where type(message) != .hello {
                if (try? socket.send(message.map { .bytes($0) }, dontWait: true)) != nil { bump() }
                while (try? socket.receive(timeout: .zero)) ?? nil != nil {}
            }
            usleep(2_000)
        }
    }
}
