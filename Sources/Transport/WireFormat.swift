import Foundation
import Checksums

/// Why a received message was rejected. Every case is a reason to log and drop, never to crash.
public enum WireError: Error, LocalizedError, Equatable {
    case wrongHeaderSize(found: Int, expected: Int)
    /// Not "LVAE": a foreign protocol or garbage.
    case badMagic(found: [UInt8])
    case versionMismatch(found: UInt16, expected: UInt16)
    case unknownMessageType(UInt16)
    case headerChecksumMismatch(found: UInt32, computed: UInt32)
    case payloadLengthMismatch(declared: UInt64, actual: Int)
    case payloadChecksumMismatch(found: UInt32, computed: UInt32)
    case runIDMismatch(found: UInt64, expected: UInt64)
    /// The message belongs to a step older than the one being worked on.
    case staleStep(found: UInt64, minimum: UInt64)
    /// A payload ended before a value it declares.
    case truncated(needed: Int, available: Int)
    /// A payload has the wrong number of elements or a malformed structure.
    case malformedPayload(String)

    public var errorDescription: String? {
        switch self {
        case let .wrongHeaderSize(found, expected): return "Header is \(found) bytes, expected \(expected)."
        case let .badMagic(found): return "Not a LargeVAE message (magic \(found))."
        case let .versionMismatch(found, expected):
            return "Protocol version \(found) is not supported (this build speaks \(expected))."
        case let .unknownMessageType(type): return "Unknown message type \(type)."
        case let .headerChecksumMismatch(found, computed):
            return "Header CRC32C mismatch (sent \(found), computed \(computed))."
        case let .payloadLengthMismatch(declared, actual):
            return "Payload is \(actual) bytes but the header declares \(declared)."
        case let .payloadChecksumMismatch(found, computed):
            return "Payload CRC32C mismatch (sent \(found), computed \(computed))."
        case let .runIDMismatch(found, expected): return "Message for run \(found), this is run \(expected)."
        case let .staleStep(found, minimum): return "Stale message for step \(found) (current step \(minimum))."
        case let .truncated(needed, available): return "Payload truncated: needed \(needed) bytes, \(available) left."
        case let .malformedPayload(reason): return "Malformed payload: \(reason)"
        }
    }
}

/// The kind of a wire message. The raw values are part of the protocol and never change;
/// new kinds get new values, and a removed kind's value is never reused.
public enum WireMessageType: UInt16, Sendable, CaseIterable {
    case hello = 1, welcome = 2, refuse = 3, parameters = 4, work = 5, result = 6, heartbeat = 7, bye = 8
    /// worker → coordinator: send me up to `unitCount` more units.
    case ready = 9
    /// client → coordinator: describe the workers; coordinator → client: the answer.
    case status = 10
    /// coordinator → worker: the start of a `work` payload this worker is about to be given (a
    /// data unit, all but the prior statistics), so that it can begin the part that needs none.
    case prefetch = 11
}

/// Header flags. Bit positions never change; unknown bits are ignored by this version.
public struct WireFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Float payloads are bf16 (2 bytes each) instead of fp32.
    public static let bfloat16 = WireFlags(rawValue: 1 << 0)
    /// The bulk bytes are in a shared-memory segment, not in this message: `parameters` names a
    /// region, `result` a slot, and `ready` says the worker mapped the segment it was offered.
    public static let sharedMemory = WireFlags(rawValue: 1 << 1)
}

/// The fixed-size header frame that precedes every payload frame.
///
/// Layout (56 bytes, all integers little-endian):
/// ```
/// offset size field
///  0     4    magic "LVAE"
///  4     2    protocol version (UInt16, currently 1)
///  6     2    message type (UInt16, WireMessageType)
///  8     2    flags (UInt16, WireFlags)
/// 10     2    reserved (0)
/// 12     4    unit id (UInt32)
/// 16     8    run id (UInt64)
/// 24     8    step (UInt64)
/// 32     4    unit count (UInt32)
/// 36     4    payload CRC32C (UInt32)
/// 40     8    payload length in bytes (UInt64)
/// 48     4    reserved (0)
/// 52     4    header CRC32C of bytes 0..<52 (UInt32)
/// ```
/// Checks on decode, in order: size, magic, version, header CRC, type, payload length,
/// payload CRC, run id, step.
public struct WireHeader: Sendable, Equatable {
    public static let size = 56
    public static let magic: [UInt8] = Array("LVAE".utf8)
    public static let currentVersion: UInt16 = 1

    public var version: UInt16 = WireHeader.currentVersion
    public var type: WireMessageType
    public var flags: WireFlags = []
    public var runID: UInt64
    public var step: UInt64
    public var unitID: UInt32 = 0
    public var unitCount: UInt32 = 0
    public var payloadLength: UInt64 = 0
    public var payloadCRC: UInt32 = 0

    /// Sets the payload length and CRC from a payload that is sent as it is (zero-copy).
    public mutating func seal(payload: UnsafeRawBufferPointer) {
        payloadLength = UInt64(payload.count)
        payloadCRC = CRC32C.checksum(payload)
    }

    /// Creates a header; length and CRC are filled in by `WireMessage` or `seal(payload:)`.
    ///
    /// - Parameters:
    ///   - type: the message kind.
    ///   - runID: the training run this message belongs to.
    ///   - step: the optimizer step it refers to.
    ///   - unitID: the work unit (for `work`/`result`), else 0.
    ///   - unitCount: the number of units in the step, or the units summed in a result.
    ///   - flags: payload encoding flags.
    public init(type: WireMessageType, runID: UInt64, step: UInt64, unitID: UInt32 = 0,
                unitCount: UInt32 = 0, flags: WireFlags = []) {
        self.type = type
        self.runID = runID
        self.step = step
        self.unitID = unitID
        self.unitCount = unitCount
        self.flags = flags
    }

    /// The 56 header bytes, with the header CRC.
    public func encoded() -> [UInt8] {
        var writer = ByteWriter(capacity: Self.size)
        writer.append(bytes: Self.magic)
        writer.append(version)
        writer.append(type.rawValue)
        writer.append(flags.rawValue)
        writer.append(UInt16(0))
        writer.append(unitID)
        writer.append(runID)
        writer.append(step)
        writer.append(unitCount)
        writer.append(payloadCRC)
        writer.append(payloadLength)
        writer.append(UInt32(0))
        writer.append(CRC32C.checksum(writer.bytes))
        return writer.bytes
    }

    /// Parses and checks a header frame (size, magic, version, header CRC, type).
    ///
    /// - Parameter bytes: the header frame.
    public static func decode(_ bytes: [UInt8]) throws -> WireHeader {
        try bytes.withUnsafeBytes { try decode($0) }
    }

    /// Parses and checks a header frame in place; see `decode(_:)`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> WireHeader {
        guard bytes.count == size else { throw WireError.wrongHeaderSize(found: bytes.count, expected: size) }
        guard Array(bytes[0..<4]) == magic else { throw WireError.badMagic(found: Array(bytes[0..<4])) }
        var reader = ByteReader(bytes, offset: 4)
        let version = try reader.read(UInt16.self)
        guard version == currentVersion else {
            throw WireError.versionMismatch(found: version, expected: currentVersion)
        }
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<52]))
        var checksumReader = ByteReader(bytes, offset: 52)
        let stored = try checksumReader.read(UInt32.self)
        guard computed == stored else { throw WireError.headerChecksumMismatch(found: stored, computed: computed) }
        let rawType = try reader.read(UInt16.self)
        guard let type = WireMessageType(rawValue: rawType) else { throw WireError.unknownMessageType(rawType) }
        let flags = WireFlags(rawValue: try reader.read(UInt16.self))
        _ = try reader.read(UInt16.self)
        var header = WireHeader(type: type, runID: 0, step: 0, flags: flags)
        header.unitID = try reader.read(UInt32.self)
        header.runID = try reader.read(UInt64.self)
        header.step = try reader.read(UInt64.self)
        header.unitCount = try reader.read(UInt32.self)
        header.payloadCRC = try reader.read(UInt32.self)
        header.payloadLength = try reader.read(UInt64.self)
        return header
    }
}

/// A complete wire message: a header frame and a payload frame.
///
/// ```
/// frames on the wire: [header (56 B)] [payload (payloadLength B, little-endian values)]
/// ```
public struct WireMessage: Sendable, Equatable {
    public var header: WireHeader
    public var payload: [UInt8]

    /// Creates a message, setting the header's payload length and CRC from `payload`.
    ///
    /// - Parameters:
    ///   - header: the header (its length and CRC fields are overwritten).
    ///   - payload: the payload bytes.
    public init(header: WireHeader, payload: [UInt8] = []) {
        var header = header
        header.payloadLength = UInt64(payload.count)
        header.payloadCRC = CRC32C.checksum(payload)
        self.header = header
        self.payload = payload
    }

    /// The two frames to send: header bytes, payload bytes.
    public func encoded() -> (header: [UInt8], payload: [UInt8]) { (header.encoded(), payload) }

    /// The two frames, ready for `ZMQSocket.send`.
    public var frames: [Frame] { [.bytes(header.encoded()), .bytes(payload)] }

    /// Parses and validates a received message; never traps on any input.
    ///
    /// - Parameters:
    ///   - header: the header frame.
    ///   - payload: the payload frame.
    ///   - expectedRunID: if set, messages of other runs are rejected.
    ///   - minimumStep: if set, messages for earlier steps are rejected as stale.
    public static func decode(header headerBytes: [UInt8], payload: [UInt8],
                              expectedRunID: UInt64? = nil, minimumStep: UInt64? = nil) throws -> WireMessage {
        let header = try headerBytes.withUnsafeBytes { h in
            try payload.withUnsafeBytes { try validate(header: h, payload: $0, expectedRunID: expectedRunID, minimumStep: minimumStep) }
        }
        return WireMessage(checkedHeader: header, payload: payload)
    }

    /// Checks a received message in place (header frame and payload frame, without copying the
    /// payload), exactly as `decode` does, and returns its header.
    public static func validate(header headerBytes: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer,
                                expectedRunID: UInt64? = nil, minimumStep: UInt64? = nil) throws -> WireHeader {
        let header = try WireHeader.decode(headerBytes)
        guard header.payloadLength == UInt64(payload.count) else {
            throw WireError.payloadLengthMismatch(declared: header.payloadLength, actual: payload.count)
        }
        let computed = CRC32C.checksum(payload)
        guard computed == header.payloadCRC else {
            throw WireError.payloadChecksumMismatch(found: header.payloadCRC, computed: computed)
        }
        if let expectedRunID, header.runID != expectedRunID {
            throw WireError.runIDMismatch(found: header.runID, expected: expectedRunID)
        }
        if let minimumStep, header.step < minimumStep {
            throw WireError.staleStep(found: header.step, minimum: minimumStep)
        }
        return header
    }

    private init(checkedHeader: WireHeader, payload: [UInt8]) {
        self.header = checkedHeader
        self.payload = payload
    }
}
