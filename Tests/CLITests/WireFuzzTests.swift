import XCTest
import Foundation
import Artifacts
import Transport
import Checksums
import Datasets

/// Frame mutations for fuzzing live processes: random bytes, bit flips, truncations, extra or
/// missing frames, and re-sealed headers (valid checksums) with bad lengths, unknown or wrong
/// types, other runs, stale steps, huge declared sizes and NaN payloads.
struct FrameFuzzer {
    var random: SplitMix64
    /// Message types a re-sealed mutation may take (a man in the middle who can forge a valid
    /// `bye`, `parameters` or `welcome` is what CURVE, not checksums, keeps out).
    var forgeableTypes: [UInt16]

    init(seed: UInt64, forgeableTypes: [UInt16]) {
        random = SplitMix64(seed: seed)
        self.forgeableTypes = forgeableTypes
    }

    mutating func next() -> UInt64 { random.next() }

    mutating func below(_ n: Int) -> Int { Int(random.next(below: UInt64(max(n, 1)))) }

    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }

    /// Re-seals header bytes 0..<52 with a correct header CRC.
    static func reseal(_ h: inout [UInt8]) {
        let crc = CRC32C.checksum(Array(h[0..<52]))
        for i in 0..<4 { h[52 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
    }

    static func put<T: FixedWidthInteger>(_ value: T, _ h: inout [UInt8], at offset: Int) {
        for i in 0..<MemoryLayout<T>.size { h[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }

    /// One mutated message (its frames) made from the real message `header` + `payload`.
    mutating func mutate(header: [UInt8], payload: [UInt8]) -> [[UInt8]] {
        var h = header.count == WireHeader.size ? header : bytes(WireHeader.size)
        var p = payload
        switch below(10) + (below(200) == 0 ? 1 : 0) * 10 {
        case 0: return (0...below(3)).map { _ in bytes(below(600)) }
        case 1:
            for _ in 0...below(4) {
                if p.isEmpty || below(2) == 0 { h[below(h.count)] ^= UInt8(1 << below(8)) } else { p[below(p.count)] ^= UInt8(1 << below(8)) }
            }
            return [h, p]
        case 2: return [Array(h.prefix(below(h.count))), p]
        case 3:
            let lengths: [UInt64] = [0, 1, UInt64(p.count) + 1, UInt64(max(p.count - 1, 0)), 1 << 32, UInt64.max, 1 << 62]
            Self.put(lengths[below(lengths.count)], &h, at: 40)
            Self.reseal(&h)
            return [h, p]
        case 4:
            let types = forgeableTypes + [0, 11, 99, UInt16.max]
            Self.put(types[below(types.count)], &h, at: 6)
            Self.reseal(&h)
            return [h, p]
        case 5:
            Self.put(next(), &h, at: 16)            // another run
            Self.reseal(&h)
            return [h, p]
        case 6:
            let step = h[24..<32].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            Self.put(step - min(step, UInt64(1 + below(3))), &h, at: 24)   // a replay of an older step
            Self.reseal(&h)
            return [h, p]
        case 7:
            var nan = [UInt8](repeating: 0xFF, count: max(p.count, 8))
            if below(2) == 0 { for i in stride(from: 0, to: nan.count - 3, by: 4) { Self.put(Float.nan.bitPattern, &nan, at: i) } }
            var m = WireMessage(header: (try? WireHeader.decode(h)) ?? WireHeader(type: .result, runID: 0, step: 0), payload: nan)
            m.header.type = WireMessageType(rawValue: forgeableTypes[below(forgeableTypes.count)]) ?? .heartbeat
            return m.frames.map { if case let .bytes(b) = $0 { return b } else { return [] } }
        case 8: return [h, p, bytes(below(64))]
        case 9: return [h]
        default:
            // A large frame (a few MB) with a header that claims it.
            let big = bytes(1 << (20 + below(2)))
            var m = WireMessage(header: (try? WireHeader.decode(h)) ?? WireHeader(type: .result, runID: 0, step: 0), payload: big)
            m.header.type = .result
            return [m.header.encoded(), big]
        }
    }
}

/// Fuzzing live processes during training: at least 10,000 mutated frames at the coordinator
/// and at a worker. Nothing crashes, memory stays bounded, and the weights are the same bits as
/// an undisturbed run. `LARGEVAE_FUZZ_SCALE=N` multiplies the frame counts (the long run).
final class WireFuzzTests: XCTestCase {
    let scale = Int(ProcessInfo.processInfo.environment["LARGEVAE_FUZZ_SCALE"] ?? "") ?? 1

    override class func setUp() {
        super.setUp()
        CLITests.makeFixtures()
    }

    func args(epochs: Int) -> [String] {
        ["--dataset", "frey", "--model", "vae", "--prior", "vampprior", "--hidden", "24", "--latent", "4", "--components", "12",
         "--warmup", "1", "--epochs", String(epochs), "--train-limit", "400", "--batch-size", "40", "--data-unit", "10",
         "--prior-unit", "4", "--importance-samples", "20", "--test-limit", "16"]
    }

    func reference(epochs: Int) throws -> URL {
        let dir = CLITests.work.appendingPathComponent("fuzz-reference-\(epochs)")
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("test.json").path) {
            let r = try Spawned(["train"] + args(epochs: epochs) + ["--threads", "1", "--run-dir", dir.path])
            XCTAssertEqual(r.finish(seconds: 300), 0, r.output)
        }
        return dir
    }

    func tensors(_ dir: URL) throws -> [String: SafeTensor] {
        try SafeTensors.read(from: dir.appendingPathComponent("last.safetensors")).tensors
    }

    /// A process's resident memory in kB from `/proc/PID/status`: `VmRSS` (all of it), `RssAnon`
    /// (its private memory) or `RssShmem` (pages of shared segments it has mapped and touched).
    static func residentKB(_ pid: Int32, _ field: String = "VmRSS") -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// A joined peer and an anonymous one send mutated frames at the coordinator while a real
    /// worker trains.
    func testFuzzCoordinator_DuringTraining_ResultUnchanged() throws {
        let frames = 10_000 * scale, epochs = 40 * scale
        let reference = try reference(epochs: epochs), dir = CLITests.work.appendingPathComponent("fuzz-coordinator")
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20_000..<60_000))"
        let coordinator = try Spawned(["coordinator", "--bind", endpoint, "--unit-deadline", "2"] + args(epochs: epochs)
                                      + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        XCTAssertTrue(coordinator.waitFor("listening on"), coordinator.output)
        let worker = try Spawned(["worker", "--connect", endpoint, "--name", "honest"])
        XCTAssertTrue(coordinator.waitFor("epoch 1 "), coordinator.output)
        let startKB = Self.residentKB(coordinator.process.processIdentifier)

        let context = try ZMQContext()
        let joined = try ZMQSocket(context: context, kind: .dealer), anonymous = try ZMQSocket(context: context, kind: .dealer)
        for s in [joined, anonymous] { try s.set(.sendTimeout(milliseconds: 2000)); try s.connect(endpoint) }
        let hello = Array(#"{"blasThreads":1,"engine":"largevae-engine/1 units/2 float32","name":"fuzzer","pid":1}"#.utf8)
        try joined.send(WireMessage(header: WireHeader(type: .hello, runID: 0, step: 0), payload: hello).frames)
        var runID: UInt64 = 0, step: UInt64 = 0
        // No `ready`: a peer that takes units and sits on them is the straggler drill's case
        // (ClusterProcessTests), and would only make this run wait out unit deadlines.
        var fuzzer = FrameFuzzer(seed: 0xF022, forgeableTypes: [1, 2, 3, 4, 5, 6, 7, 8, 10])
        var sent = 0
        while sent < frames && coordinator.process.isRunning {
            while let m = try joined.receive(timeout: .zero) {
                if m.count == 2, let h = try? WireHeader.decode(m[0].bytes) { runID = h.runID; step = max(step, h.step) }
            }
            let templates: [WireHeader] = [WireHeader(type: .result, runID: runID, step: step, unitID: UInt32(fuzzer.below(40))),
                                           WireHeader(type: .heartbeat, runID: runID, step: step),
                                           WireHeader(type: .status, runID: runID, step: step),
                                           WireHeader(type: .hello, runID: 0, step: 0)]
            let template = WireMessage(header: templates[fuzzer.below(templates.count)], payload: fuzzer.bytes(fuzzer.below(300)))
            let socket = fuzzer.below(4) == 0 ? anonymous : joined
            do { try socket.send(fuzzer.mutate(header: template.header.encoded(), payload: template.payload).map { .bytes($0) }) } catch {}
            sent += 1
        }
        let endKB = Self.residentKB(coordinator.process.processIdentifier)
        XCTAssertEqual(coordinator.finish(seconds: 300), 0, coordinator.output)
        XCTAssertEqual(worker.finish(seconds: 30), 0, worker.output)
        XCTAssertGreaterThanOrEqual(sent, frames, "training ended before the fuzzer was done")
        XCTAssertFalse(coordinator.output.contains("Fatal error"))
        print("coordinator fuzz: \(sent) frames; coordinator RSS \(startKB) kB at the start, \(endKB) kB at the end")
        XCTAssertLessThan(endKB - startKB, 200_000, "coordinator memory grew by more than 200 MB")
        XCTAssertEqual(try tensors(dir), try tensors(reference))
    }

    /// A proxy between the coordinator and a worker forwards the real traffic and, after each
    /// message to the worker, injects mutated copies of it.
    func testFuzzWorker_ThroughAProxy_ResultUnchanged() throws {
        let frames = 10_000 * scale, epochs = 7 * scale
        let reference = try reference(epochs: epochs), dir = CLITests.work.appendingPathComponent("fuzz-worker")
        let port = Int.random(in: 20_000..<60_000)
        let endpoint = "tcp://127.0.0.1:\(port)", front = "tcp://127.0.0.1:\(port + 1)"
        let coordinator = try Spawned(["coordinator", "--bind", endpoint] + args(epochs: epochs) + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        XCTAssertTrue(coordinator.waitFor("listening on"), coordinator.output)
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, kind: .router), dealer = try ZMQSocket(context: context, kind: .dealer)
        // Real messages wait for room in the worker's queue (a plain router would drop them when
        // the injected frames fill it); injected ones are sent without waiting and may be dropped.
        try router.set(.routerMandatory(true))
        try router.set(.sendTimeout(milliseconds: 30_000))
        try router.bind(front)
        try dealer.connect(endpoint)
        let worker = try Spawned(["worker", "--connect", front, "--name", "fuzzed"])
        defer { if worker.process.isRunning { worker.process.terminate() } }
        // Forgeable toward a worker: types it must drop (a worker never receives them) and work/heartbeat.
        var fuzzer = FrameFuzzer(seed: 0xF023, forgeableTypes: [1, 5, 6, 7, 9, 10])
        var peer: [UInt8]?
        var injected = 0, forwarded = 0
        var startKB = 0, endKB = 0
        while coordinator.process.isRunning {
            if let m = try router.receive(timeout: .milliseconds(1)) {
                peer = m[0].bytes
                try dealer.send(m.dropFirst().map { .bytes($0.bytes) })
            }
            while let m = try dealer.receive(timeout: .zero), let id = peer {
                try router.send([.bytes(id)] + m.map { .bytes($0.bytes) })
                forwarded += 1
                if forwarded == 10 { startKB = Self.residentKB(worker.process.processIdentifier) }
                guard m.count == 2, injected < frames else { continue }
                for _ in 0..<(m[1].bytes.count > 100_000 ? 2 : 25) where injected < frames {
                    let frames = fuzzer.mutate(header: m[0].bytes, payload: m[1].bytes)
                    do {
                        try router.send([.bytes(id)] + frames.map { .bytes($0) }, dontWait: true)
                        injected += 1
                    } catch {
                        usleep(1_000)   // the worker's queue is full: let it catch up
                    }
                }
                if injected >= frames && endKB == 0 { endKB = Self.residentKB(worker.process.processIdentifier) }
            }
        }
        XCTAssertEqual(coordinator.finish(seconds: 10), 0, coordinator.output)
        XCTAssertGreaterThanOrEqual(injected, frames, "training ended before the fuzzer was done (\(forwarded) forwarded)")
        XCTAssertFalse(worker.output.contains("Fatal error"), worker.output)
        XCTAssertTrue(worker.output.contains("dropped"), "the worker never saw a bad frame")
        print("worker fuzz: \(injected) frames injected among \(forwarded) forwarded; worker RSS \(startKB) kB at the start, \(endKB) kB after the fuzz")
        XCTAssertLessThan(endKB - startKB, 200_000, "worker memory grew by more than 200 MB")
        XCTAssertEqual(try tensors(dir), try tensors(reference))
    }
}
