import Foundation
import Logging
import Transport
import Training

/// How the coordinator runs.
public struct CoordinatorOptions: Sendable {
    /// `tcp://0.0.0.0:5555`, `tcp://127.0.0.1:*` or `ipc:///path`.
    public var bind: String
    public var precision: WirePrecision = .fp32
    /// How often idle peers exchange heartbeats.
    public var heartbeat: Duration = .milliseconds(500)
    /// A worker silent for this long is lost; its units go back to the queue.
    public var workerTimeout: Duration = .seconds(20)
    /// A unit in flight for this long is issued to another worker too (the first result wins).
    public var unitDeadline: Duration = .seconds(60)
    /// Workers to wait for before the first step.
    public var minimumWorkers = 1
    /// Threads for the reduction and the optimiser's update (between phases the workers wait,
    /// so the coordinator may use every core then). The result does not depend on it.
    public var threads = Swift.min(4, ProcessInfo.processInfo.activeProcessorCount)
    /// Parameters per chunk of a parameter version (about 1 MB of fp32 by default): workers start
    /// on the first chunks while the optimiser still updates later ones.
    public var parameterChunk = 1 << 18
    /// Push each parameter chunk to every worker as soon as the update has made it (overlapping
    /// the update with the transfer), instead of sending a worker the whole version before its
    /// next unit. Pays when the coordinator has cores to spare; on a machine whose cores all
    /// compute it does not (see README), so it is off by default.
    public var pushParametersDuringUpdate = false
    /// Identifies this run in every message.
    public var runID = UInt64.random(in: 1...UInt64.max)
    /// CurveZMQ: the coordinator's key pair and the workers' public keys it admits (nil: plaintext).
    public var security: CurveServerSecurity?
    /// Move parameters and results through shared memory for workers on this host (same boot,
    /// host name and network namespace); control messages stay on the socket either way.
    public var sharedMemory = true
    /// The most bytes of one worker's result arena: beyond it, units share slots (`SharedMemoryOffer.fold`).
    public var sharedArenaBytes = 64 << 20
    /// A fault drill for tests: prefetches that do not fit the unit their worker is then given.
    public var prefetchDrill = PrefetchDrill.none

    public init(bind: String) { self.bind = bind }
}

/// Prefetches made wrong on purpose, to check that workers compute the unit they are given.
public enum PrefetchDrill: Sendable {
    case none
    /// Each worker is given another data unit than the one it was sent the start of.
    case misdirected
    /// Each prefetch lacks its last four bytes: workers must drop it.
    case truncated
}

/// The coordinator's socket side: a ROUTER that admits workers, hands out units on their
/// credit, collects the first result of each unit, and notices lost workers.
public final class Coordinator {
    public let options: CoordinatorOptions
    let socket: ZMQSocket
    let log: Logger
    var welcome: Welcome
    var workers: [[UInt8]: WorkerRecord] = [:]
    /// The current round's id (the `step` of its messages) and units.
    var roundID: UInt64 = 0
    var units: [Unit] = []
    /// Traffic and worker compute time since the coordinator started (callers take differences).
    var statistics = RoundStatistics()
    /// The current parameter version: sealed chunks over one shared buffer, pushed to every worker as
    /// each is ready, and in full to a worker that joins later.
    var parameters: ParameterChunks?
    var dropped = 0
    /// Routing ids of workers that sent non-finite results another worker computed finite.
    var quarantined: Set<[UInt8]> = []
    var lastWaitingNotice = ContinuousClock.now - .seconds(60)
    /// A stop request (SIGINT, SIGTERM): serving then gives the current round up.
    public var stop: StopRequest?
    /// The endpoint actually bound (with the real port for `*`).
    public let endpoint: String
    /// Checks CURVE clients' keys while this coordinator lives (nil without `options.security`).
    let authenticator: ZAPHandler?
    /// The shared-memory path (see `SharedMemoryOffer`): the parameter segment, this host's
    /// identity, each result slot's size, and arenas made so far.
    let sharedParameters: SharedParameters?
    let hostIdentity = SharedSegment.hostIdentity()
    let resultSlotBytes: [Int]
    let resultUnitSlots: Int
    var arenaCount = 0
    /// The newest parameter version, and buffers for it as a socket message made from its region.
    var currentVersion: UInt64 = 0
    var socketParameterBuffers = BufferPool()

    /// - Parameter resultSlots: the largest result of each (unit, part) of a round, at unit · 2 +
    ///   part, for the arena of a worker on this host (folded to `options.sharedArenaBytes`); empty:
    ///   no shared memory.
    init(options: CoordinatorOptions, welcome: Welcome, context: ZMQContext, logger: Logger, resultSlots: [Int] = []) throws {
        self.options = options
        self.welcome = welcome
        log = logger
        (resultUnitSlots, resultSlotBytes) = SharedMemoryOffer.fold(resultSlots, budget: options.sharedArenaBytes)
        sharedParameters = resultSlots.isEmpty ? nil : Self.makeSharedParameters(options: options, count: welcome.table.totalCount, log: logger)
        let parameterBytes = 4 * welcome.table.totalCount
        socket = try ZMQSocket(context: context, kind: .router, highWaterMark: 64,
                               maximumMessageSize: parameterBytes + (4 << 20))
        try socket.set(.routerMandatory(true))
        try socket.set(.heartbeatInterval(milliseconds: 1000))
        try socket.set(.heartbeatTimeout(milliseconds: 5000))
        try socket.set(.sendBuffer(4 << 20))      // a parameter vector in flight per peer without stalls
        try socket.set(.receiveBuffer(4 << 20))
        if let security = options.security {   // the handler runs before anyone can connect
            authenticator = try ZAPHandler(context: context, allowed: security.allowedClients, domain: security.domain) { [logger] in
                logger.warning("\($0)")
            }
            try socket.makeCurveServer(security)
        } else {
            authenticator = nil
        }
        try socket.bind(options.bind)
        endpoint = try socket.lastEndpoint
    }

    /// Closes the socket before the authenticator stops, so no client is ever let in unchecked.
    deinit {
        socket.close()
        unlinkSegments()
    }

    /// Every joined worker, by name.
    public var workerNames: [String] { workers.values.sorted { $0.joined < $1.joined }.map(\.hello.name) }

    /// Makes the next round's `step` id; older results are dropped from now on.
    /// When the current round began (for trace-level timelines: `LARGEVAE_LOG=trace`).
    var roundStart = ContinuousClock.now

    func beginRound() -> UInt64 {
        roundStart = .now
        log.trace("round \(roundID + 1)")
        roundID += 1
        units.removeAll()
        for w in workers.values { w.inFlight = 0 }
        return roundID
    }

    /// Starts a new parameter version of `chunkCount` chunks in `buffer`; workers get them as
    /// `pushChunk` seals them, and all of them before their next unit. Without a buffer the
    /// version is only in the shared region, and a socket message is made from it when needed.
    func beginParameters(version: UInt64, buffer: OwnedBuffer?, chunkCount: Int) {
        currentVersion = version
        parameters = buffer.map { ParameterChunks(version: version, buffer: $0, chunkCount: chunkCount) }
        for w in workers.values { w.chunksSent = 0 }
    }

    /// Seals chunk `bytes` (a byte range of the version's buffer: element offset, then values)
    /// and sends it to every worker that has had the chunks before it.
    func pushChunk(_ bytes: Range<Int>) {
        guard var p = parameters else { return }
        var header = WireHeader(type: .parameters, runID: options.runID, step: p.version, unitID: UInt32(p.chunks.count),
                                unitCount: UInt32(p.chunkCount), flags: options.precision.flags)
        header.seal(payload: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p.buffer.bytes)[bytes]))
        p.chunks.append((header, bytes))
        parameters = p
        if options.pushParametersDuringUpdate {
            for w in workers.values { if case .none = w.shared { sendParameters(to: w) } }   // the others once complete
        }
    }

    /// Sends `worker` the chunks of the current version it has not had (a shared-memory worker:
    /// the region's name, once the version is complete there).
    func sendParameters(to worker: WorkerRecord) {
        if case .mapped = worker.shared, let shared = sharedParameters {
            guard ensureSharedRegion(shared) else { return }   // still being written (push mode)
            do { try sendSharedParameters(to: worker, shared) } catch {
                lose(worker, "sending parameters failed: \(error.localizedDescription)")
            }
            return
        }
        guard let p = socketParameters() else { return }
        if worker.parameterVersion != p.version {
            worker.parameterVersion = p.version
            worker.chunksSent = 0
        }
        do {
            while worker.chunksSent < p.chunks.count {
                let (header, range) = p.chunks[worker.chunksSent]
                try socket.send(header, buffer: p.buffer, range: range, to: worker.key)
                count(range.count + WireHeader.size, to: worker)
                worker.chunksSent += 1
            }
        } catch {
            lose(worker, "sending parameters failed: \(error.localizedDescription)")
        }
    }

    /// Adds units to the current round.
    func add(_ new: [Unit]) { units += new }

    /// Serves the socket until `condition()` holds: dispatching, collecting and reissuing.
    /// - Throws: `StepAbandoned` as soon as `stop` is requested.
    func serve(until condition: () -> Bool) throws {
        while !condition() {
            try servePass(waiting: Swift.min(options.heartbeat, .milliseconds(200)))   // so that a stop is seen soon
        }
    }

    /// One round of serving: dispatching, then the messages that arrive within `wait` (zero: only
    /// those already in, between pieces of work the coordinator does while units are out), then
    /// liveness.
    func servePass(waiting wait: Duration) throws {
        if stop?.isRequested == true { throw StepAbandoned() }
        try dispatch()
        if let message = try socket.receiveMessage(timeout: wait) {
            handle(message)
            while let more = try socket.receiveMessage(timeout: .zero) { handle(more) }   // drain before judging liveness
        }
        try housekeeping()
    }

    /// Waits until at least `count` workers have joined.
    public func waitForWorkers(_ count: Int) throws {
        if workers.count < count { log.info("waiting for \(count - workers.count) more worker(s) at \(endpoint)") }
        try serve { workers.count >= count }
    }

    /// Tells every worker the run is over, and removes the shared-memory segments' names.
    public func finish() {
        for w in workers.values { try? socket.send(WireHeader(type: .bye, runID: options.runID, step: roundID), to: w.key) }
        unlinkSegments()
        workers.removeAll()
    }

    // MARK: sending

    /// Gives pending units to workers with credit: a unit's preferred worker if it is alive,
    /// otherwise the worker with the fewest units in flight.
    func dispatch() throws {
        let now = ContinuousClock.now
        for unit in units where !unit.done {
            let live = unit.holders.contains { workers[$0.key] != nil && now - $0.value < options.unitDeadline }
            if live { continue }
            var candidates = workers.values.filter { $0.credits > 0 && unit.holders[$0.key] == nil }
            if candidates.isEmpty && !unit.holders.isEmpty {
                candidates = workers.values.filter { $0.credits > 0 }   // only its overdue holders are left: ask them again
            }
            if candidates.contains(where: { !unit.suspects.contains($0.key) }) {
                candidates.removeAll { unit.suspects.contains($0.key) }
            } else if !unit.suspects.isEmpty && workers.values.contains(where: { !unit.suspects.contains($0.key) }) {
                continue   // another worker will have credit soon
            }
            if let p = unit.preferred, !unit.suspects.contains(p), let owner = workers[p], unit.holders.isEmpty {
                if owner.credits == 0 { continue }   // alive and busy: it asks again when its unit is done
                candidates = [owner]
            }
            guard let worker = candidates.min(by: { ($0.inFlight, $0.joined) < ($1.inFlight, $1.joined) }) else { continue }
            if !unit.holders.isEmpty { log.warning("unit \(unit.header.unitID) of step \(roundID) is overdue; issuing it to \(worker.hello.name) too") }
            try send(unit, to: worker)
        }
    }

    /// Plans which worker gets each of a round's first data units and sends it their payloads'
    /// starts (`prefetch`): one unit per worker that asked for prefetches, to those without a
    /// unit of `busy` first (then in the order they joined). Returns the planned worker of data unit i, for i < the count.
    /// A worker that gets another unit meanwhile simply computes that one whole.
    func prefetch(_ drafts: [(buffer: OwnedBuffer, count: Int, unitID: UInt32)], round: UInt64, besides busy: [Unit]) -> [[UInt8]?] {
        // A worker would begin a prefetched unit before a `busy` unit sent to it later, which then
        // replaces it: none while some are still to be sent (the first step, before the workers'
        // credits are in, or more prior units than credits).
        guard busy.allSatisfy({ !$0.holders.isEmpty }) else { return [] }
        func load(_ w: WorkerRecord) -> Int { busy.filter { $0.holders[w.key] != nil }.count }
        let order = workers.values.filter { $0.hello.prefetches == true }.sorted { (load($0), $0.joined) < (load($1), $1.joined) }
        var planned: [[UInt8]?] = []
        for (draft, worker) in zip(drafts, order) {
            sendParameters(to: worker)   // a worker without a prior unit has not had this version yet
            guard workers[worker.key] === worker else { planned.append(nil); continue }
            let count = options.prefetchDrill == .truncated ? draft.count - 4 : draft.count
            var header = WireHeader(type: .prefetch, runID: options.runID, step: round, unitID: draft.unitID)
            header.seal(payload: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(draft.buffer.bytes)[0..<count]))
            do {
                try socket.send(header, buffer: draft.buffer, count: count, to: worker.key, sealed: true)
            } catch {
                lose(worker, "sending failed: \(error.localizedDescription)")
                planned.append(nil)
                continue
            }
            self.count(count + WireHeader.size, to: worker)
            planned.append(worker.key)
            log.trace("\(traceStamp(since: roundStart)): unit \(draft.unitID) (data) prefetched by \(worker.hello.name)")
        }
        if options.prefetchDrill == .misdirected && planned.count > 1 { planned = Array(planned[1...] + planned[..<1]) }
        return planned
    }

    func send(_ unit: Unit, to worker: WorkerRecord) throws {
        do {
            sendParameters(to: worker)
            guard workers[worker.key] === worker else { return }
            try socket.send(unit.header, buffer: unit.payload, count: unit.payloadCount, to: worker.key, sealed: true)
            count(unit.payloadCount + WireHeader.size, to: worker)
        } catch let error as ZMQError {
            lose(worker, "sending failed: \(error.localizedDescription)")
            return
        }
        log.trace("\(traceStamp(since: roundStart)): unit \(unit.header.unitID) (\(unit.kind)) sent to \(worker.hello.name)")
        worker.credits -= 1
        worker.inFlight += 1
        worker.lastSent = .now
        unit.holders[worker.key] = .now
    }

    func count(_ bytes: Int, to worker: WorkerRecord) {
        worker.bytesSent += bytes
        statistics.bytesSent += bytes
    }

    // MARK: liveness

    func housekeeping() throws {
        let now = ContinuousClock.now
        for w in workers.values where now - w.lastSeen > options.workerTimeout {
            lose(w, "silent for \(now - w.lastSeen)")
        }
        for w in workers.values where now - w.lastSent > options.heartbeat {
            do {
                try socket.send(WireHeader(type: .heartbeat, runID: options.runID, step: roundID), to: w.key)
                w.lastSent = now
            } catch {
                lose(w, "unreachable: \(error.localizedDescription)")
            }
        }
        if workers.isEmpty && units.contains(where: { !$0.done }) && now - lastWaitingNotice > .seconds(10) {
            log.warning("no workers: waiting for one to join at \(endpoint) (start one with `largevae worker --connect \(endpoint)`)")
            lastWaitingNotice = now
        }
    }

    /// Forgets a worker; the units it held go back to the queue. Its arena's name goes (results
    /// already taken from it stay readable) unless a new admission of the same worker reuses it.
    func lose(_ worker: WorkerRecord, _ reason: String, keepArena: Bool = false) {
        guard workers[worker.key] === worker else { return }
        if !keepArena { worker.shared.arena?.segment.unlink() }
        workers[worker.key] = nil
        for unit in units { unit.holders[worker.key] = nil }
        log.warning("lost worker \(worker.hello.name): \(reason); \(workers.count) left")
    }
}

/// A trace line's time: milliseconds since `start` (the round's, or the worker's), and the
/// system's monotonic clock in milliseconds, the same in every process on the host, so that a
/// coordinator's and its workers' traces can be lined up.
func traceStamp(since start: ContinuousClock.Instant) -> String {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let clock = Double(now.tv_sec) * 1000 + Double(now.tv_nsec) / 1e6
    return "\(milliseconds(since: start)) ms (clock \(String(format: "%.3f", clock)) ms)"
}

func milliseconds(since start: ContinuousClock.Instant) -> String {
    String(format: "%.2f", (ContinuousClock.now - start).seconds * 1000)
}
