import Foundation
import Transport

/// Sending wire messages: small payloads copied, large ones zero-copy from an `OwnedBuffer`.
///
/// Sends to a peer (a router's) never block: a full or vanished peer fails with `EAGAIN` or
/// `EHOSTUNREACH` at once, and the coordinator drops that worker instead of stalling the run.
extension ZMQSocket {
    /// Sends `header` (length and CRC filled in) and a small payload, to `peer` on a router.
    func send(_ header: WireHeader, payload: [UInt8] = [], to peer: [UInt8]? = nil, dontWait: Bool = false) throws {
        let message = WireMessage(header: header, payload: payload)
        try send((peer.map { [Frame.bytes($0)] } ?? []) + message.frames, dontWait: dontWait || peer != nil)
    }

    /// Sends `header` and the first `count` bytes of `buffer` without copying them; the header is
    /// sealed with their length and CRC unless `sealed` says it already is.
    func send(_ header: WireHeader, buffer: OwnedBuffer, count: Int, to peer: [UInt8]? = nil, sealed: Bool = false) throws {
        let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer.bytes)[0..<count])
        var header = header
        if !sealed { header.seal(payload: bytes) }
        try send((peer.map { [Frame.bytes($0)] } ?? []) + [.bytes(header.encoded()), .zeroCopy(owner: buffer, bytes: bytes)],
                 dontWait: peer != nil)
    }
}

extension ZMQSocket {
    /// Sends a sealed `header` and bytes `range` of `buffer` without copying them.
    func send(_ header: WireHeader, buffer: OwnedBuffer, range: Range<Int>, to peer: [UInt8]? = nil) throws {
        let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer.bytes)[range])
        try send((peer.map { [Frame.bytes($0)] } ?? []) + [.bytes(header.encoded()), .zeroCopy(owner: buffer, bytes: bytes)],
                 dontWait: peer != nil)
    }
}

/// Reuses send buffers once libzmq has released them, so that steady-state sends do not
/// allocate (and zero) megabytes per message.
struct BufferPool {
    private var buffers: [OwnedBuffer] = []

    /// A buffer of at least `byteCount` bytes that no send still holds.
    mutating func take(_ byteCount: Int) -> OwnedBuffer {
        for i in buffers.indices where buffers[i].bytes.count >= byteCount && isKnownUniquelyReferenced(&buffers[i]) {
            return buffers[i]
        }
        let buffer = OwnedBuffer(byteCount: byteCount, zeroed: false)   // callers write what they send
        buffers.append(buffer)
        if buffers.count > 16 { buffers.removeFirst() }   // bounded: old in-flight ones free themselves
        return buffer
    }
}
