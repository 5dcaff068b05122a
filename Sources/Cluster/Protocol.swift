import Foundation
import Transport
import VAE
import Training

/// What a worker says when it joins (JSON in the hello payload).
struct Hello: Codable, Equatable {
    /// The engine's build fingerprint; a coordinator refuses any other.
    var engine: String
    var name: String
    /// `ARCH/PRIOR` the worker insists on (`--model`), if any.
    var model: String?
    var blasThreads: Int
    var pid: Int32
    /// This worker's host identity (`SharedSegment.hostIdentity`), if it can use shared memory:
    /// a coordinator with the same identity offers it a segment.
    var host: String?
    /// Whether it begins data units from `prefetch` messages (emulated workers do not, and a
    /// peer that does not say so is sent none).
    var prefetches: Bool?
}

/// The coordinator's answer to a hello: everything a worker needs to build the model.
struct Welcome: Codable, Equatable {
    var config: ModelConfig
    var plan: StepPlan
    var precision: WirePrecision
    /// Parameter names and sizes in payload order; the worker checks its own layout against them.
    var table: TensorTable
    /// How often the coordinator expects to hear from an idle worker.
    var heartbeatMilliseconds: Int
    /// The shared-memory segments for a worker on the coordinator's host, if offered.
    var sharedMemory: SharedMemoryOffer?
}

/// The engine fingerprint: protocol version, unit kinds and numerics that must agree.
let engineFingerprint = "largevae-engine/1 units/2 float32"

/// The kinds of work unit, as the first byte of `work` and `result` payloads.
public enum UnitKind: UInt8, CaseIterable, Sendable {
    case priorForward = 1, data = 2, priorBackward = 3, logLikelihood = 4
}

/// One unit of work as the coordinator describes it (decoded by the worker).
///
/// Payload of `work` (little-endian; floats fp32):
/// ```
/// u8 kind, u8 flags (bit 0: compute a gradient), u16 0, u64 parameter version
/// priorForward:   u32 chunk, u32 lo, u32 hi
/// priorBackward:  u32 chunk, u32 lo, u32 hi, f32 G[(hi−lo)·2M]
/// data:           u32 rows, f64 β, u64 seed, u32 epoch, u8 purpose, u8 hasStats, u16 0,
///                 i64 sample[rows], f32 x[rows·D], f32 S[K·2M] if hasStats
/// logLikelihood:  u32 rows, u64 first image, u32 samples, u64 seed, f32 x[rows·D]
/// ```
/// A `prefetch` message carries a data unit's payload up to its statistics: the same bytes the
/// `work` message of that unit (same step and unit id) starts with.
struct WorkHeader: Equatable {
    var kind: UnitKind
    var gradient: Bool
    var parameterVersion: UInt64
    static let size = 12

    func write(_ w: inout PayloadWriter) {
        w.append(kind.rawValue)
        w.append(UInt8(gradient ? 1 : 0))
        w.append(UInt16(0))
        w.append(parameterVersion)
    }

    static func read(_ r: inout ByteReader) throws -> WorkHeader {
        let raw = try r.read(UInt8.self)
        guard let kind = UnitKind(rawValue: raw) else { throw WireError.malformedPayload("unknown unit kind \(raw)") }
        let flags = try r.read(UInt8.self)
        _ = try r.read(UInt16.self)
        return WorkHeader(kind: kind, gradient: flags & 1 != 0, parameterVersion: try r.read(UInt64.self))
    }
}

/// Payload of `result` (little-endian):
/// ```
/// u8 kind, u8 part, u16 0, u32 0, f64 seconds the worker computed
/// priorForward:           f32 S[n·2M]
/// data, part 0:           f64 RE, f64 KL, f64 loss, i64 rows, f32 G_u[K·2M] if VampPrior and gradient
/// data, part 1:           gradient over the data range (fp32 or bf16)
/// priorBackward:          gradient over the top encoder, then pseudo-input rows [n·D] (fp32 or bf16)
/// logLikelihood:          f64 ll[rows]
/// ```
/// A data unit's result comes in two messages so that the small part (which the prior backward
/// phase waits for) is not queued behind the large gradient.
struct ResultHeader: Equatable {
    var kind: UnitKind
    var part: UInt8
    var seconds: Double = 0
    static let size = 16
    /// Where `seconds` sits, so a sender can fill it in after the payload is written.
    static let secondsOffset = 8

    func write(_ w: inout PayloadWriter) {
        w.append(kind.rawValue)
        w.append(part)
        w.append(UInt16(0))
        w.append(UInt32(0))
        w.append(seconds)
    }

    static func read(_ r: inout ByteReader) throws -> ResultHeader {
        let raw = try r.read(UInt8.self)
        guard let kind = UnitKind(rawValue: raw) else { throw WireError.malformedPayload("unknown unit kind \(raw)") }
        let part = try r.read(UInt8.self)
        _ = try r.read(UInt16.self)
        _ = try r.read(UInt32.self)
        let seconds = try r.readDouble()
        guard seconds.isFinite && seconds >= 0 else { throw WireError.malformedPayload("compute time \(seconds)") }
        return ResultHeader(kind: kind, part: part, seconds: seconds)
    }

    /// The buffer (or shared slot) a data unit's gradient part is made in: room for the whole
    /// layout in fp32, which a worker computes into directly, or for the data range in the wire's
    /// encoding, whichever is larger; the header first.
    static func dataGradientCapacity(layoutCount: Int, dataCount: Int, precision: WirePrecision) -> Int {
        size + Swift.max(4 * layoutCount, precision.bytesPerElement * dataCount)
    }
}

extension LossSums {
    func write(_ w: inout PayloadWriter) {
        w.append(reconstruction)
        w.append(kl)
        w.append(loss)
        w.append(Int64(count))
    }

    static func read(_ r: inout ByteReader) throws -> LossSums {
        var s = LossSums()
        s.reconstruction = try r.readDouble()
        s.kl = try r.readDouble()
        s.loss = try r.readDouble()
        let count = try r.read(Int64.self)
        guard count >= 0 && count <= Int64(Int32.max) else { throw WireError.malformedPayload("row count \(count)") }
        s.count = Int(count)
        return s
    }

    static let wireSize = 32
}

/// Encodes a small JSON control payload.
func jsonPayload<V: Encodable>(_ value: V) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return (try? encoder.encode(value)).map { Array($0) } ?? []
}

/// Decodes a JSON control payload, as a wire error on any problem.
func decodeJSON<V: Decodable>(_ type: V.Type, _ bytes: UnsafeRawBufferPointer) throws -> V {
    do {
        return try JSONDecoder().decode(type, from: Data(bytes))
    } catch {
        throw WireError.malformedPayload("bad \(type) JSON: \(error.localizedDescription)")
    }
}
