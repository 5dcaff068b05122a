import Foundation
import Logging
import Tensor
import NN
import VAE
import Training
import Transport
import CKernels

/// Why a worker stopped.
public enum WorkerError: Error, LocalizedError, Equatable {
    /// The coordinator refused this worker, with its reason.
    case refused(String)
    /// No coordinator answered within the connect timeout.
    case noCoordinator(endpoint: String, seconds: Double)
    /// The coordinator's model is not the one this build computes.
    case incompatibleModel(String)

    public var errorDescription: String? {
        switch self {
        case let .refused(reason): return "the coordinator refused this worker: \(reason)"
        case let .noCoordinator(endpoint, seconds):
            return "no coordinator answered at \(endpoint) within \(Int(seconds)) s; check the address, the port and that `largevae coordinator` is running"
        case let .incompatibleModel(reason): return "cannot compute this run's model: \(reason)"
        }
    }
}

/// How a worker runs.
public struct WorkerOptions: Sendable {
    public var endpoint: String
    public var name: String
    /// `ARCH/PRIOR` this worker insists on, or nil for any.
    public var model: String?
    /// BLAS threads per GEMM. Keep 1 for bit-identical results (OpenBLAS's split of long inner
    /// dimensions depends on its thread count); run more workers instead.
    public var blasThreads = 1
    /// How long to wait for a coordinator to answer, at the start or after it went silent.
    public var connectTimeout: Duration = .seconds(120)
    /// Units to hold at once (one computing, the rest queued): 2 hides the round trip.
    public var credits = 2
    /// Scaling simulations: compute each kind and size of unit once, then only sleep that long
    /// and send results of the real size (zeros) through the real protocol.
    public var emulateCompute = false
    /// Fault drills only: overwrite the values of every Nth unit's last result part with NaN
    /// (0: never), to show that the coordinator recomputes such units and quarantines the worker.
    /// The fault is transient: a unit this worker is given again in the same step comes out clean.
    public var injectNaNEvery = 0
    /// Fault drills only: with `injectNaNEvery`, poison only units of this kind, in the last 8
    /// bytes of the result part instead of the first (for a data unit's gradient: the parameters
    /// before the pseudo-inputs, which with the VampPrior the coordinator reduces early).
    public var injectNaNAtEndOf: UnitKind?
    /// Fault drills only: sleep this long before each prior backward unit, so that another
    /// worker's comes back first and the coordinator reduces early meanwhile.
    public var delayPriorBackward: Duration = .zero
    /// CurveZMQ: this worker's key pair and the coordinator's public key (nil: plaintext).
    public var security: CurveClientSecurity?
    /// Use the coordinator's shared-memory segments when it is on this host and offers them.
    public var sharedMemory = true
    /// How long to keep polling the socket, the CPU busy, after a unit or a prefetch before
    /// blocking (zero: block at once). See `largevae worker --poll-ms`.
    public var pollAfterUnit: Duration = .zero

    public init(endpoint: String, name: String) {
        self.endpoint = endpoint
        self.name = name
    }
}

/// A stateless gradient calculator: joins a coordinator, pulls units, computes them with the same
/// `Units` as the in-process trainer, and sends the results back.
///
/// ```
/// worker → hello            coordinator → welcome (model, plan, table) | refuse
/// worker → ready(n)         coordinator → parameters(version)?, work(unit)
/// worker → ready(1), result(unit, part 0[, part 1])
/// coordinator → bye         worker exits 0
/// ```
/// A `prefetch` (the start of a data unit's payload, all but the prior statistics) lets a worker
/// begin the part of that unit that needs none; the unit itself, when it comes, continues from
/// there. Any other unit in between replaces it, and then the unit is computed whole.
public final class Worker {
    public let options: WorkerOptions
    let socket: ZMQSocket
    let log: Logger
    var session: Session?
    /// Where results are written: slots of the shared arena, or pooled send buffers.
    var sink = ResultSink()
    var lastSent = ContinuousClock.now
    var lastHeard = ContinuousClock.now
    public private(set) var unitsDone = 0
    /// Data units begun from a prefetch, and how many of them were then continued.
    public private(set) var unitsBegunAhead = 0, unitsContinued = 0
    /// The units of the current step computed so far (for the fault drill's transient faults).
    var computedThisStep: Set<UInt32> = []
    /// The newest step a work unit came for: units of older steps (replayed) are dropped.
    var newestStep: UInt64 = 0
    /// Until when `nextMessage` polls instead of blocking (set after each unit or prefetch).
    var pollUntil: ContinuousClock.Instant?
    let started = ContinuousClock.now

    public init(options: WorkerOptions, context: ZMQContext, logger: Logger) throws {
        self.options = options
        log = logger
        socket = try ZMQSocket(context: context, kind: .dealer)
        try socket.set(.heartbeatInterval(milliseconds: 1000))
        try socket.set(.heartbeatTimeout(milliseconds: 5000))
        try socket.set(.sendBuffer(4 << 20))
        try socket.set(.receiveBuffer(4 << 20))
        // A dealer's send blocks once its queue to a vanished coordinator is full: give up then.
        try socket.set(.sendTimeout(milliseconds: 30_000))
        if let security = options.security { try socket.makeCurveClient(security) }
        try socket.connect(options.endpoint)
        BLAS.threads = options.blasThreads
    }

    /// Runs until the coordinator says bye (returns) or refuses (throws).
    public func run() throws {
        try join()
        while true {
            guard let message = try nextMessage() else {
                try idle()
                continue
            }
            lastHeard = .now
            log.trace("\(traceStamp(since: started)): received \(message.byteCount) bytes")
            guard message.count == 2 else {
                log.warning("dropped a message of \(message.count) frames (expected 2)")
                continue
            }
            let header: WireHeader
            do {
                header = try WireMessage.validate(header: message.frame(0), payload: message.frame(1),
                                                  expectedRunID: session?.runID)
            } catch {
                log.warning("dropped a message: \(error.localizedDescription)")
                continue
            }
            switch header.type {
            case .bye:
                log.info("the coordinator says the run is over; \(unitsDone) units computed")
                return
            case .refuse:
                throw WorkerError.refused(String(decoding: message.frame(1), as: UTF8.self))
            case .parameters:
                do { try session?.receiveParameters(header, message) } catch {
                    log.warning("dropped parameters: \(error.localizedDescription)")
                }
                log.trace("\(traceStamp(since: started)): parameters v\(header.step) in place")
            case .work:
                guard let session else { continue }
                guard header.step >= newestStep else {
                    log.warning("dropped work unit \(header.unitID) of step \(header.step): step \(newestStep) has begun")
                    continue
                }
                newestStep = header.step
                defer { pollAfterWork() }
                do {
                    try compute(header, message.frame(1), session)
                } catch {
                    log.warning("dropped work unit \(header.unitID) of step \(header.step): \(error.localizedDescription)")
                    try send(WireHeader(type: .ready, runID: session.runID, step: header.step, unitCount: 1))
                }
            case .prefetch:
                guard let session, !options.emulateCompute, header.step >= newestStep else { continue }
                defer { pollAfterWork() }
                do {
                    try prefetch(header, message.frame(1), session)
                } catch {
                    log.warning("dropped a prefetched unit \(header.unitID) of step \(header.step): \(error.localizedDescription)")
                }
            case .heartbeat, .welcome:
                break
            default:
                log.warning("dropped an unexpected \(header.type) message")
            }
        }
    }

    /// After a unit or a prefetch: poll for the next message for `options.pollAfterUnit`.
    func pollAfterWork() {
        if options.pollAfterUnit > .zero { pollUntil = .now + options.pollAfterUnit }
    }

    /// The next message, or nil when none came within a heartbeat interval. Until `pollUntil`
    /// the socket is polled with the CPU kept busy: a virtual CPU with nothing to run halts, and
    /// waking it again for the next message takes the hypervisor from a few hundred microseconds
    /// to several milliseconds.
    func nextMessage() throws -> ReceivedMessage? {
        while let deadline = pollUntil {
            if let message = try socket.receiveMessage(timeout: .zero) { return message }
            if ContinuousClock.now >= deadline { pollUntil = nil } else { largevae_cpu_relax() }
        }
        return try socket.receiveMessage(timeout: .milliseconds(session?.welcome.heartbeatMilliseconds ?? 500))
    }

    /// Says hello until welcomed (or refused, or the timeout passes), then asks for work.
    func join() throws {
        let hello = Hello(engine: engineFingerprint, name: options.name, model: options.model,
                          blasThreads: options.blasThreads, pid: getpid(),
                          host: options.sharedMemory ? SharedSegment.hostIdentity() : nil, prefetches: !options.emulateCompute)
        let start = ContinuousClock.now
        var lastHello = start - .seconds(10)
        while true {
            if ContinuousClock.now - lastHello > .seconds(2) {
                try send(WireHeader(type: .hello, runID: 0, step: 0), payload: jsonPayload(hello), droppable: true)
                lastHello = .now
            }
            if ContinuousClock.now - start > options.connectTimeout {
                let s = options.connectTimeout.components
                throw WorkerError.noCoordinator(endpoint: options.endpoint, seconds: Double(s.seconds))
            }
            guard let message = try socket.receiveMessage(timeout: .milliseconds(200)), message.count == 2 else { continue }
            let header: WireHeader
            do {
                header = try WireMessage.validate(header: message.frame(0), payload: message.frame(1))
            } catch {
                log.warning("dropped a message while joining: \(error.localizedDescription)")
                continue
            }
            switch header.type {
            case .refuse: throw WorkerError.refused(String(decoding: message.frame(1), as: UTF8.self))
            case .welcome:
                let welcome = try decodeJSON(Welcome.self, message.frame(1))
                let session = try Session(welcome: welcome, runID: header.runID)
                self.session = session
                newestStep = 0
                lastHeard = .now
                var ready = WireHeader(type: .ready, runID: header.runID, step: 0, unitCount: UInt32(options.credits))
                if let offer = welcome.sharedMemory {
                    do {
                        session.shared = try WorkerSharedMemory(offer)
                        ready.flags = .sharedMemory
                        ready.unitID = UInt32(truncatingIfNeeded: offer.arenaID)
                    } catch {
                        log.warning("using the socket instead of shared memory: \(error.localizedDescription)")
                    }
                }
                log.info("joined run \(String(header.runID, radix: 16)): \(welcome.config.architecture)/\(welcome.config.prior), \(welcome.table.entries.count) tensors, wire \(welcome.precision)\(session.shared == nil ? "" : ", shared memory")")
                try send(ready)
                return
            default:
                continue
            }
        }
    }

    /// Between messages: heartbeat, and re-join if the coordinator has gone silent.
    func idle() throws {
        guard let session else { return }
        let interval = Duration.milliseconds(session.welcome.heartbeatMilliseconds)
        if ContinuousClock.now - lastSent >= interval {
            try send(WireHeader(type: .heartbeat, runID: session.runID, step: 0), droppable: true)
        }
        if ContinuousClock.now - lastHeard > interval * 20 {
            log.warning("the coordinator has been silent for \(ContinuousClock.now - lastHeard); joining again")
            self.session = nil
            // A coordinator killed outright leaves its segments' names in /dev/shm (memory, until
            // the next coordinator on this host would remove them).
            removeStaleSegments(log: log)
            try join()
        }
    }

    /// Sends a control message. A `droppable` one (hello, heartbeat) is skipped when the queue
    /// to the coordinator is full, so that a worker whose coordinator has gone keeps running its
    /// timeouts instead of blocking.
    func send(_ header: WireHeader, payload: [UInt8] = [], droppable: Bool = false) throws {
        do {
            try socket.send(header, payload: payload, dontWait: droppable)
            lastSent = .now
        } catch let error as ZMQError where droppable {
            log.debug("skipped a \(header.type) message: \(error.localizedDescription)")
        }
    }

    /// Computes one unit and sends `ready(1)` then its result messages.
    func compute(_ header: WireHeader, _ payload: UnsafeRawBufferPointer, _ s: Session) throws {
        var reader = ByteReader(payload)
        let work = try WorkHeader.read(&reader)
        guard work.parameterVersion == s.parameterVersion else {
            throw WireError.malformedPayload("unit needs parameters v\(work.parameterVersion), this worker has v\(s.parameterVersion)")
        }
        if work.kind == .priorBackward && options.delayPriorBackward > .zero {
            Thread.sleep(forTimeInterval: options.delayPriorBackward.seconds)
        }
        let start = ContinuousClock.now
        // A unit begun ahead continues where it stopped; any other unit replaces it on the model.
        let ahead = s.continuesPrefetched(header, payload) ? s.prefetched!.seconds : nil
        if ahead == nil { s.prefetched = nil } else { unitsContinued += 1 }
        aimSink(at: header, s)
        var reply = WireHeader(type: .result, runID: s.runID, step: header.step, unitID: header.unitID)
        reply.flags = s.welcome.precision.flags
        let early = { [unowned self] (target: ResultTarget, count: Int) throws in
            try self.sendResult(reply, target, count: count, seconds: (ContinuousClock.now - start).seconds + (ahead ?? 0))
        }
        let results = options.emulateCompute ? try s.emulate(work, &reader, out: &sink, early: early)
                                             : try s.compute(work, &reader, out: &sink, early: early)
        s.prefetched = nil
        let seconds = (ContinuousClock.now - start).seconds + (ahead ?? 0)
        try send(WireHeader(type: .ready, runID: s.runID, step: header.step, unitCount: 1))
        let drillKind = options.injectNaNAtEndOf
        if options.injectNaNEvery > 0, drillKind == nil || drillKind == work.kind,
           computedThisStep.insert(header.unitID).inserted,   // a unit given again comes out clean
           (unitsDone + 1) % options.injectNaNEvery == 0, let (target, count) = results.last {
            let at = drillKind == nil ? ResultHeader.size : Swift.max(ResultHeader.size, count - 8)
            for i in 0..<8 { target.base.storeBytes(of: 0xFF, toByteOffset: at + i, as: UInt8.self) }
            log.warning("fault drill: NaN written into unit \(header.unitID) of step \(header.step)")
        }
        for (target, count) in results { try sendResult(reply, target, count: count, seconds: seconds) }
        lastSent = .now
        unitsDone += 1
        log.trace("\(traceStamp(since: started)): unit \(header.unitID) of step \(header.step) computed in \(seconds * 1000) ms and sent")
    }
}

extension Worker {
    /// Points the result sink at the unit of `header` (its slots in this session's arena, if any).
    func aimSink(at header: WireHeader, _ s: Session) {
        sink.shared = s.shared
        sink.unit = Int(header.unitID)
        if header.step != sink.step { computedThisStep.removeAll(keepingCapacity: true) }
        sink.step = header.step
    }

    /// Begins the data unit whose payload starts with `payload` (a `prefetch`): the part that
    /// needs no prior statistics, kept in the session until the unit itself comes.
    func prefetch(_ header: WireHeader, _ payload: UnsafeRawBufferPointer, _ s: Session) throws {
        let start = ContinuousClock.now
        s.prefetched = nil   // whatever comes of this one, an earlier one is gone
        var reader = ByteReader(payload)
        let work = try WorkHeader.read(&reader)
        guard work.kind == .data, work.parameterVersion == s.parameterVersion else {
            throw WireError.malformedPayload("a prefetched \(work.kind) unit on parameters v\(work.parameterVersion), this worker has v\(s.parameterVersion)")
        }
        try s.beginData(&reader)
        s.prefetchedBytes.removeAll(keepingCapacity: true)
        s.prefetchedBytes.append(contentsOf: payload)
        s.prefetched = Session.Prefetched(step: header.step, unit: header.unitID, version: s.parameterVersion,
                                          seconds: (ContinuousClock.now - start).seconds)
        unitsBegunAhead += 1
        log.trace("\(traceStamp(since: started)): unit \(header.unitID) of step \(header.step) begun ahead in \(s.prefetched!.seconds * 1000) ms")
    }

    /// Sends one result part, stamped with the unit's compute time so far.
    func sendResult(_ reply: WireHeader, _ target: ResultTarget, count: Int, seconds: Double) throws {
        target.base.storeBytes(of: seconds.bitPattern.littleEndian, toByteOffset: ResultHeader.secondsOffset, as: UInt64.self)
        if let buffer = target.buffer {
            try socket.send(reply, buffer: buffer, count: count)
        } else {
            try sendShared(reply, target, count: count)
        }
    }

    /// Names the slot `target` that a result was written to: the result header, then `u32 arena
    /// id, u32 slot, u64 bytes`. The slot is lent to the coordinator for this step from now on.
    func sendShared(_ reply: WireHeader, _ target: ResultTarget, count: Int) throws {
        guard let shared = sink.shared else { preconditionFailure("a slot without an arena") }
        var payload = Array(UnsafeRawBufferPointer(start: target.base, count: ResultHeader.size))
        for v in [UInt32(truncatingIfNeeded: shared.offer.arenaID), UInt32(target.slot)] { withUnsafeBytes(of: v.littleEndian) { payload += $0 } }
        withUnsafeBytes(of: UInt64(count).littleEndian) { payload += $0 }
        shared.lent[target.slot] = reply.step
        var header = reply
        header.flags.formUnion(.sharedMemory)
        try socket.send(header, payload: payload)
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
