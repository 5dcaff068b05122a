import XCTest
import Foundation
import Logging
import Tensor
import NN
import VAE
import Training
import Transport
import Cluster
import TestSupport

/// Collects a logger's messages (for checking what a coordinator dropped).
final class CapturedLog: @unchecked Sendable {
    // @unchecked: `lines` is only touched under `lock`.
    private let lock = NSLock()
    private var lines: [String] = []

    func append(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return lines.joined(separator: "\n") }

    struct Handler: LogHandler {
        let log: CapturedLog
        var logLevel: Logger.Level = .info
        var metadata: Logger.Metadata = [:]
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { log.append("\(event.level) \(event.message)") }
    }

    var logger: Logger { Logger(label: "coordinator") { _ in Handler(log: self) } }
}

/// The shared-memory path with worker threads in this process (they are on the coordinator's
/// host): mixed with socket workers, against forged slot messages, and its segments' clean-up.
final class SharedMemoryClusterTests: XCTestCase {
    let train = ArraySource(count: 40, pixels: 16, seed: 1), validation = ArraySource(count: 20, pixels: 16, seed: 2)
    /// The engine of the last `run`, for its last step's traffic.
    var lastEngine: ClusterEngine?

    /// Trains two epochs with one worker thread per entry of `workers` (true: may use shared
    /// memory) and returns the parameters' bits.
    func run(_ config: ModelConfig, workers: [Bool], coordinatorShares: Bool = true, precision: WirePrecision = .fp32,
             runID: UInt64 = .random(in: 1...UInt64.max), arenaBytes: Int = 64 << 20, log: CapturedLog = CapturedLog(),
             beforeWorkers: (() throws -> Void)? = nil, during: ((ClusterEngine) throws -> Void)? = nil) throws -> [UInt32] {
        let context = try ZMQContext()
        var options = CoordinatorOptions(bind: "tcp://127.0.0.1:*")
        options.precision = precision
        options.sharedMemory = coordinatorShares
        options.runID = runID
        options.unitDeadline = .milliseconds(500)
        options.sharedArenaBytes = arenaBytes
        var engine: ClusterEngine?
        let run = try TrainingRun(config: config, options: InProcessClusterTests.options(), train: train, validation: validation) { model, plan in
            let e = try ClusterEngine(model: model, plan: plan, options: options, context: context, logger: log.logger)
            engine = e
            return e
        }
        try beforeWorkers?()
        let threads = workers.enumerated().map { i, shares in
            var o = WorkerOptions(endpoint: engine!.coordinator.endpoint, name: "w\(i)")
            o.sharedMemory = shares
            return WorkerThread(o)
        }
        try engine!.coordinator.waitForWorkers(workers.count)
        try during?(engine!)
        try run.run(observer: nil)
        lastEngine = engine
        engine!.coordinator.finish()
        for t in threads {
            t.done.wait()
            XCTAssertNil(t.error)
        }
        return run.trainer.values.storage.scalars.map(\.bitPattern)
    }

    func localBits(_ config: ModelConfig) throws -> [UInt32] {
        let run = try TrainingRun(config: config, options: InProcessClusterTests.options(), train: train, validation: validation)
        try run.run(observer: nil)
        return run.trainer.values.storage.scalars.map(\.bitPattern)
    }

    func segments(_ runID: UInt64) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: SharedSegment.directory)) ?? []
        return names.filter { $0.hasPrefix("largevae-\(String(runID, radix: 16))") }
    }

    /// Shared-memory workers, a socket worker among them, and a coordinator that shares nothing
    /// all give the bits of one process (fp32), and the same bits as each other in bf16.
    func testSharedMemoryAndSocketWorkers_Mixed_SameBits() throws {
        for (a, p) in [(Architecture.vae, PriorKind.vampprior), (.hvae, .standard)] {
            let config = InProcessClusterTests.config(a, p)
            let local = try localBits(config)
            let log = CapturedLog()
            XCTAssertEqual(try run(config, workers: [true, false], log: log), local, "\(a)/\(p): one shared-memory and one socket worker")
            XCTAssertTrue(log.text.contains("worker w0 exchanges parameters and results through shared memory"), log.text)
            XCTAssertFalse(log.text.contains("worker w1 exchanges"), log.text)
            XCTAssertEqual(try run(config, workers: [true, true, true]), local, "\(a)/\(p): three shared-memory workers")
            XCTAssertEqual(try run(config, workers: [false, false]), local, "\(a)/\(p): a segment, but socket workers only")
            let off = CapturedLog()
            XCTAssertEqual(try run(config, workers: [true, true], coordinatorShares: false, log: off), local, "\(a)/\(p): shared memory off")
            XCTAssertFalse(off.text.contains("shared memory"), off.text)
        }
        let config = InProcessClusterTests.config(.vae, .vampprior)
        let bf16 = try run(config, workers: [true], precision: .bf16)
        XCTAssertEqual(try run(config, workers: [true, false], precision: .bf16), bf16, "bf16: mixed paths")
        XCTAssertEqual(try run(config, workers: [false], precision: .bf16), bf16, "bf16: socket only")
    }

    /// Arenas too small for a slot per unit: every unit of a round shares one pair of slots, so a
    /// worker sends the first result of a round through its slot and the rest over the socket
    /// (never overwriting a slot the coordinator may still read). The bits are unchanged.
    func testUnitsSharingSlots_SameBits() throws {
        for (a, p) in [(Architecture.vae, PriorKind.vampprior), (.hvae, .mog)] {
            let config = InProcessClusterTests.config(a, p)
            let local = try localBits(config)
            for workers in [[true], [true, true, false]] {
                XCTAssertEqual(try run(config, workers: workers, arenaBytes: 1), local, "\(a)/\(p): one slot pair, \(workers.count) worker(s)")
                if workers.count == 1 {   // one worker computes every unit: all but the first of a round use the socket
                    let engine = try XCTUnwrap(lastEngine), gradientBytes = 4.0 * Double(engine.gradient.layout.count) / 2
                    XCTAssertGreaterThan(engine.stepMetrics?.sharedBytes ?? 0, gradientBytes, "results through slots")
                    XCTAssertGreaterThan(engine.stepMetrics?.bytesReceived ?? 0, gradientBytes, "results over the socket")
                }
            }
            XCTAssertEqual(try run(config, workers: [true, true], arenaBytes: 12_000), local, "\(a)/\(p): a few slot pairs")
        }
    }

    /// The segments exist while the run has workers (the parameter segment; arenas lose their
    /// names once the worker has mapped them) and are gone after `finish`; a stale file of the same
    /// name, as a killed coordinator leaves it, is replaced.
    func testSegments_RemovedAfterTheRun_StaleOneReplaced() throws {
        let runID = UInt64.random(in: 1...UInt64.max)
        let stale = "\(SharedSegment.directory)/largevae-\(String(runID, radix: 16))-\(getpid())-parameters"
        XCTAssertTrue(FileManager.default.createFile(atPath: stale, contents: Data(repeating: 7, count: 100)))
        var during: [String] = []
        let config = InProcessClusterTests.config(.vae, .vampprior)
        XCTAssertEqual(try run(config, workers: [true, true], runID: runID, during: { _ in during = self.segments(runID) }), try localBits(config))
        XCTAssertTrue(during.contains("largevae-\(String(runID, radix: 16))-\(getpid())-parameters"), "\(during)")
        XCTAssertEqual(segments(runID), [], "segments left behind")
    }

    /// A parameter segment whose token is not the one offered (as if another file had taken its
    /// name): the workers warn, stay on the socket, and the bits are unchanged.
    func testSegmentWithAnotherToken_WorkersFallBackToTheSocket() throws {
        let runID = UInt64.random(in: 1...UInt64.max)
        let path = "\(SharedSegment.directory)/largevae-\(String(runID, radix: 16))-\(getpid())-parameters"
        let config = InProcessClusterTests.config(.hvae, .vampprior)
        let log = CapturedLog()
        let bits = try run(config, workers: [true, true], runID: runID, log: log, beforeWorkers: {
            let file = try XCTUnwrap(FileHandle(forUpdatingAtPath: path))
            try file.write(contentsOf: [UInt8](repeating: 0xA5, count: SharedSegment.tokenSize))
            try file.close()
        })
        XCTAssertEqual(bits, try localBits(config))
        XCTAssertEqual(log.text.components(separatedBy: "is on this host but uses the socket").count - 1, 2, log.text)
        XCTAssertFalse(log.text.contains("exchanges parameters and results through shared memory"), log.text)
    }

    /// A joined peer on this host that mapped nothing sends result messages naming slots out of
    /// range, other units' slots, sizes past a slot, another arena, and a truncated slot field: each is
    /// dropped and logged, its units are reissued to the honest worker, and the bits are unchanged.
    func testForgedSlotMessages_Dropped_ResultUnchanged() throws {
        let config = InProcessClusterTests.config(.vae, .vampprior)
        let log = CapturedLog()
        var forger: SlotForger?
        let bits = try run(config, workers: [true], log: log, during: { engine in
            forger = try SlotForger(endpoint: engine.coordinator.endpoint)
            try engine.coordinator.waitForWorkers(2)
        })
        let forged = forger?.stop() ?? 0
        XCTAssertEqual(bits, try localBits(config))
        XCTAssertGreaterThan(forged, 5, "forged results were sent")
        XCTAssertTrue(log.text.contains("naming arena"), log.text)
        XCTAssertTrue(log.text.contains("slot 1000000"), log.text)
        XCTAssertTrue(log.text.contains("a shared-memory result of"), "truncated slot field: \(log.text)")
    }
}

/// A peer that joins with this host's identity, claims (in `ready`) to have mapped its arena
/// without doing so, and answers every unit it gets with forged shared-memory result messages.
final class SlotForger: PeerThread, @unchecked Sendable {
    init(endpoint: String) throws {
        let dealer = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
        try dealer.connect(endpoint)
        super.init()
        let sockets = SocketPair(front: nil, back: dealer)
        start { [self] in try? self.forge(on: sockets.back) }
    }

    func stop() -> Int { finish() }

    private func forge(on socket: ZMQSocket) throws {
        let hello: [String: Any] = ["engine": "largevae-engine/1 units/2 float32", "name": "forger", "blasThreads": 1, "pid": 1,
                                    "host": SharedSegment.hostIdentity() ?? ""]
        let helloBytes = Array(try JSONSerialization.data(withJSONObject: hello))
        try socket.send(WireMessage(header: WireHeader(type: .hello, runID: 0, step: 0), payload: helloBytes).frames)
        var runID: UInt64 = 0, arena = 0, slots = 0
        while !stopping {
            guard let frames = try socket.receive(timeout: .milliseconds(20)), frames.count == 2,
                  let header = try? WireHeader.decode(frames[0].bytes) else { continue }
            switch header.type {
            case .welcome:
                let welcome = try JSONSerialization.jsonObject(with: Data(frames[1].bytes)) as? [String: Any]
                let offer = welcome?["sharedMemory"] as? [String: Any]
                arena = offer?["arenaID"] as? Int ?? 0
                slots = (offer?["slotBytes"] as? [Int])?.count ?? 0
                runID = header.runID
                let ready = WireHeader(type: .ready, runID: runID, step: 0, unitID: UInt32(arena), unitCount: 1, flags: .sharedMemory)
                try socket.send(WireMessage(header: ready).frames)
            case .work:
                let kind = frames[1].bytes[0]
                for (a, slot, size, tail) in [(arena, 1_000_000, 64, 16), (arena, slots, 64, 16), (arena, Int(header.unitID) * 2 + 1, 64, 16),
                                              (arena, Int(header.unitID) * 2, 1 << 40, 16), (arena + 1, Int(header.unitID) * 2, 64, 16),
                                              (arena, Int(header.unitID) * 2, 64, 10)] {
                    var payload = [kind, 0, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
                    for v in [UInt32(a), UInt32(slot)] { withUnsafeBytes(of: v.littleEndian) { payload += $0 } }
                    withUnsafeBytes(of: UInt64(size).littleEndian) { payload += $0 }
                    payload = Array(payload.prefix(16 + tail))
                    let result = WireHeader(type: .result, runID: runID, step: header.step, unitID: header.unitID, flags: .sharedMemory)
                    try socket.send(WireMessage(header: result, payload: payload).frames)
                    bump()
                }
                try socket.send(WireMessage(header: WireHeader(type: .ready, runID: runID, step: header.step, unitCount: 1)).frames)
            default:
                break
            }
        }
    }
}
