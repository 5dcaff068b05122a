import CZeroMQ
import Foundation

/// A received multipart message whose frames stay in libzmq's buffers (no copy).
///
/// Each frame is a `zmq_msg_t` closed when this object is released, so `frame(i)` is valid for
/// the object's lifetime only. For a router socket, frame 0 is the sender's routing id.
/// Not `Sendable`: read it on the thread that received it.
public final class ReceivedMessage {
    private var messages: [UnsafeMutablePointer<zmq_msg_t>] = []

    init() {}

    deinit {
        for message in messages {
            zmq_msg_close(message)
            UnsafeMutableRawPointer(message).deallocate()
        }
    }

    /// Number of frames.
    public var count: Int { messages.count }

    /// Total bytes over all frames.
    public var byteCount: Int { messages.reduce(0) { $0 + zmq_msg_size($1) } }

    /// The bytes of frame `i` (valid while this message lives).
    public func frame(_ i: Int) -> UnsafeRawBufferPointer {
        let message = messages[i]
        let size = zmq_msg_size(message)
        guard size > 0, let data = zmq_msg_data(message) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(data), count: size)
    }

    /// A copy of frame `i`.
    public func bytes(_ i: Int) -> [UInt8] { Array(frame(i)) }

    /// Appends an initialised, empty `zmq_msg_t` and returns it for `zmq_msg_recv`.
    func appendEmpty() -> UnsafeMutablePointer<zmq_msg_t> {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: MemoryLayout<zmq_msg_t>.size,
            alignment: max(MemoryLayout<zmq_msg_t>.alignment, MemoryLayout<UnsafeRawPointer>.alignment))
        let message = raw.bindMemory(to: zmq_msg_t.self, capacity: 1)
        zmq_msg_init(message)
        messages.append(message)
        return message
    }

    /// Drops every frame (after an oversized message has been drained).
    func removeAll() {
        for message in messages {
            zmq_msg_close(message)
            UnsafeMutableRawPointer(message).deallocate()
        }
        messages.removeAll()
    }
}

extension ZMQSocket {
    /// Receives one multipart message without copying its frames, or nil if none arrives within
    /// `timeout`.
    ///
    /// A message whose frames total more than `maximumMessageSize` bytes is read to its end (so
    /// the socket stays in step), discarded, and reported as `.messageTooLarge`.
    /// - Parameter timeout: how long to wait; `nil` waits forever, `.zero` polls.
    public func receiveMessage(timeout: Duration?) throws -> ReceivedMessage? {
        let handle = try liveHandle()
        guard try waitForMessage(timeout: timeout) else { return nil }
        let received = ReceivedMessage()
        var total = 0, tooLarge = false, more = true, first = true
        while more {
            let message = received.appendEmpty()
            // The first frame is known to be ready; later frames of a message arrive with it.
            while zmq_msg_recv(message, handle, first ? ZMQ_DONTWAIT : 0) < 0 {
                let code = zmq_errno()
                if code == EINTR { continue }   // a signal arrived (e.g. the one that asks for a clean stop)
                if code == EAGAIN && first { return nil }
                throw ZMQError.current { .receive(errno: $0, message: $1) }
            }
            first = false
            total += zmq_msg_size(message)
            more = zmq_msg_more(message) != 0
            if total > maximumMessageSize {
                tooLarge = true
                received.removeAll()
            }
        }
        if tooLarge { throw ZMQError.messageTooLarge(limit: maximumMessageSize) }
        return received
    }
}
