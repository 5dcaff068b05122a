import CZeroMQ
import Foundation

/// One frame of an outgoing multipart message.
public enum Frame {
    /// Small bytes, copied into the libzmq message at send time.
    case bytes([UInt8])
    /// A large buffer sent without copying. `owner` keeps `bytes` alive: it is retained until
    /// libzmq has finished with the data (possibly after `send` returns, on a libzmq I/O thread),
    /// then released there. The bytes must not be written to while the send is in flight.
    case zeroCopy(owner: AnyObject & Sendable, bytes: UnsafeRawBufferPointer)

    /// A zero-copy frame over the whole of `buffer`.
    public static func buffer(_ buffer: OwnedBuffer) -> Frame {
        .zeroCopy(owner: buffer, bytes: UnsafeRawBufferPointer(buffer.bytes))
    }

    /// The frame's size in bytes.
    public var count: Int {
        switch self {
        case let .bytes(bytes): return bytes.count
        case let .zeroCopy(_, bytes): return bytes.count
        }
    }
}

/// One frame of a received multipart message (its bytes, copied out of libzmq).
public struct ReceivedFrame: Sendable, Equatable {
    /// The frame's bytes.
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }
}

/// A heap buffer with a stable address, suitable as the owner of a zero-copy frame.
///
/// `@unchecked Sendable`: the pointer and size never change, and the memory is freed only
/// in `deinit`, i.e. after the last owner (including libzmq's retained reference) is gone.
/// Writing the contents while a send of this buffer is in flight is a caller bug.
public final class OwnedBuffer: @unchecked Sendable {
    /// The buffer's memory (16-byte aligned).
    public let bytes: UnsafeMutableRawBufferPointer

    /// Allocates `byteCount` bytes, zeroed unless `zeroed` is false (for a buffer that is
    /// about to be overwritten whole: zeroing megabytes costs as much as writing them).
    ///
    /// - Parameter byteCount: the size in bytes (may be 0).
    public init(byteCount: Int, zeroed: Bool = true) {
        precondition(byteCount >= 0, "byteCount must not be negative")
        bytes = .allocate(byteCount: byteCount, alignment: 16)
        if zeroed { bytes.initializeMemory(as: UInt8.self, repeating: 0) }
    }

    /// Allocates a buffer holding `floats` as little-endian fp32.
    ///
    /// - Parameter floats: the values, `[n]` → `4·n` bytes.
    public convenience init(floats: [Float]) {
        self.init(byteCount: floats.count * MemoryLayout<Float>.size)
        let out = bytes.bindMemory(to: UInt32.self)
        for i in floats.indices { out[i] = floats[i].bitPattern.littleEndian }
    }

    deinit { bytes.deallocate() }
}

/// libzmq's free callback for zero-copy frames: releases the owner retained in `send`.
///
/// Safe because the hint is exactly one `Unmanaged.passRetained` reference made for this
/// message, and libzmq calls the callback exactly once when the message's last reference
/// is closed. The owner is `Sendable`, so releasing it on a libzmq I/O thread is allowed.
private let releaseZeroCopyOwner: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { _, hint in
    guard let hint else { return }
    Unmanaged<AnyObject>.fromOpaque(hint).release()
}

extension ZMQSocket {
    /// Sends a multipart message (all frames are delivered together or not at all).
    ///
    /// ```
    /// router → dealer:  [routing id, frame 0, frame 1, ...]
    /// dealer → router:  [frame 0, frame 1, ...]
    /// ```
    /// - Parameters:
    ///   - frames: the frames; must not be empty.
    ///   - dontWait: if true, fail with `EAGAIN` instead of blocking at the high-water mark.
    public func send(_ frames: [Frame], dontWait: Bool = false) throws {
        precondition(!frames.isEmpty, "a message needs at least one frame")
        let handle = try liveHandle()
        let message = Self.allocateMessage()
        defer { message.deallocate() }
        for (index, frame) in frames.enumerated() {
            try Self.initialise(message, with: frame)
            var flags: Int32 = index < frames.count - 1 ? ZMQ_SNDMORE : 0
            if dontWait { flags |= ZMQ_DONTWAIT }
            while zmq_msg_send(message, handle, flags) < 0 {
                if zmq_errno() == EINTR { continue }   // a signal arrived: the frame is still ours, send it again
                let error = ZMQError.current { .send(errno: $0, message: $1) }
                zmq_msg_close(message)  // releases a zero-copy owner
                throw error
            }
        }
    }

    /// Receives one multipart message with its frames copied out, or nil if none arrives within
    /// `timeout`; see `receiveMessage(timeout:)` for the zero-copy form and the size limit.
    /// - Parameter timeout: how long to wait; `nil` waits forever, `.zero` polls.
    /// - Returns: the frames (for a router, frame 0 is the sender's routing id), or nil on timeout.
    public func receive(timeout: Duration?) throws -> [ReceivedFrame]? {
        guard let message = try receiveMessage(timeout: timeout) else { return nil }
        return (0..<message.count).map { ReceivedFrame(bytes: message.bytes($0)) }
    }

    /// Storage for one `zmq_msg_t`, aligned as libzmq requires (pointer alignment).
    private static func allocateMessage() -> UnsafeMutablePointer<zmq_msg_t> {
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: MemoryLayout<zmq_msg_t>.size,
            alignment: max(MemoryLayout<zmq_msg_t>.alignment, MemoryLayout<UnsafeRawPointer>.alignment))
        return raw.bindMemory(to: zmq_msg_t.self, capacity: 1)
    }

    /// Initialises `message` from `frame`: copy for `.bytes`, zero-copy with a retained owner otherwise.
    private static func initialise(_ message: UnsafeMutablePointer<zmq_msg_t>, with frame: Frame) throws {
        switch frame {
        case let .bytes(bytes):
            if zmq_msg_init_size(message, bytes.count) != 0 {
                throw ZMQError.current { .send(errno: $0, message: $1) }
            }
            if !bytes.isEmpty, let data = zmq_msg_data(message) {
                bytes.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            }
        case let .zeroCopy(owner, bytes):
            guard let base = bytes.baseAddress, bytes.count > 0 else {
                zmq_msg_init(message)
                return
            }
            // One retain per message; balanced by releaseZeroCopyOwner, or below on failure.
            let hint = Unmanaged<AnyObject>.passRetained(owner).toOpaque()
            if zmq_msg_init_data(message, UnsafeMutableRawPointer(mutating: base), bytes.count,
                                 releaseZeroCopyOwner, hint) != 0 {
                Unmanaged<AnyObject>.fromOpaque(hint).release()  // libzmq never took ownership
                throw ZMQError.current { .send(errno: $0, message: $1) }
            }
        }
    }
}
