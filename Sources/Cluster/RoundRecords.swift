import Foundation
import Transport
import VAE

/// One unit of a round as the coordinator tracks it.
final class Unit {
    let kind: UnitKind
    /// The `work` message: header sealed over `payload[0..<payloadCount]`.
    let header: WireHeader
    let payload: OwnedBuffer
    let payloadCount: Int
    /// Exact payload size of each result part; a result of any other size is dropped.
    let expectedSizes: [Int]
    /// How each result part's values are encoded, for the finiteness check.
    let layouts: [ResultLayout]
    /// Workers whose result for this unit held NaN or infinity, and how many such results came.
    var suspects: Set<[UInt8]> = []
    var nonFiniteResults = 0
    var results: [ResultBytes?]
    /// Workers computing it, with when they got it.
    var holders: [[UInt8]: ContinuousClock.Instant] = [:]
    /// The worker that should get it if it is alive (prior backward: where the forward ran).
    var preferred: [UInt8]?
    /// Who sent each part that is in.
    var senders: [[UInt8]?]

    init(kind: UnitKind, header: WireHeader, payload: OwnedBuffer, payloadCount: Int, expectedSizes: [Int], layouts: [ResultLayout]) {
        precondition(layouts.count == expectedSizes.count, "one layout per result part")
        self.kind = kind
        self.header = header
        self.payload = payload
        self.payloadCount = payloadCount
        self.expectedSizes = expectedSizes
        self.layouts = layouts
        results = Array(repeating: nil, count: expectedSizes.count)
        senders = results.map { _ in nil }
    }

    var firstPartDone: Bool { results[0] != nil }
    /// Who sent part 0.
    var computedBy: [UInt8]? { senders[0] }
    /// Whether result part `p`'s values are checked as they arrive: unless the reduction checks
    /// them, and the unit has not come back non-finite already (then a finite result clears or
    /// quarantines its suspects at once).
    func checksOnArrival(_ p: Int) -> Bool { !layouts[p].checkedByReduction || !suspects.isEmpty }
    var done: Bool { results.allSatisfy { $0 != nil } }

    /// The payload of result part `p` after its result header (from the message or a slot).
    func resultBody(_ p: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: results[p]!.payload[ResultHeader.size...])
    }
}

/// The values of a result part after its result header: optional loss sums (three float64 and a
/// count), then elements of one encoding.
struct ResultLayout {
    var lossSums = false
    var elements: FiniteCheck.Encoding
    /// Values that only the gradient reduction reads, which yields their finiteness as a by-product
    /// (`GradientReduction.reduce`): checked one by one only when that says NaN or infinity is in
    /// the step (`Coordinator.setAsideNonFinite`; see also `Unit.checksOnArrival`).
    var checkedByReduction = false

    /// Whether every value `body` carries is finite.
    func allFinite(_ body: UnsafeRawBufferPointer) -> Bool {
        guard lossSums else { return FiniteCheck.allFinite(body, elements) }
        let sums = LossSums.wireSize
        return FiniteCheck.allFinite(UnsafeRawBufferPointer(rebasing: body[0..<min(24, body.count)]), .float64)
            && FiniteCheck.allFinite(UnsafeRawBufferPointer(rebasing: body[min(sums, body.count)...]), elements)
    }
}

/// A joined worker.
final class WorkerRecord {
    let key: [UInt8]
    let hello: Hello
    let joined = ContinuousClock.now
    var lastSeen = ContinuousClock.now
    var lastSent = ContinuousClock.now
    var credits = 0
    var inFlight = 0
    var parameterVersion: UInt64 = 0
    /// Chunks of `parameterVersion` sent so far.
    var chunksSent = 0
    var unitsDone = 0
    var computeSeconds = 0.0
    var bytesReceived = 0
    var bytesSent = 0
    /// Its shared-memory arena, if it is on this host.
    var shared = SharedState.none

    init(key: [UInt8], hello: Hello) {
        self.key = key
        self.hello = hello
    }
}

/// One parameter version as sealed chunk messages over a shared buffer.
struct ParameterChunks {
    let version: UInt64
    let buffer: OwnedBuffer
    let chunkCount: Int
    var chunks: [(header: WireHeader, bytes: Range<Int>)] = []
}

/// Cumulative traffic and worker compute time, for the progress line and the metrics.
public struct RoundStatistics: Sendable, Equatable {
    public var bytesSent = 0
    public var bytesReceived = 0
    /// Worker compute time summed over the accepted results.
    public var computeSeconds = 0.0
    /// Bytes that moved through shared memory instead: a parameter version per worker told of
    /// it, and the accepted results read from slots.
    public var sharedBytes = 0
    public init() {}
}
