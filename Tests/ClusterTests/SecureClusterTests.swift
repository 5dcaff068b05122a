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

/// A coordinator with CurveZMQ keys, and the peers it must shut out: a worker whose key is not
/// on the allow-list, a plaintext client, and an allowed peer replaying captured messages.
final class SecureClusterTests: XCTestCase {
    let train = ArraySource(count: 40, pixels: 16, seed: 1), validation = ArraySource(count: 20, pixels: 16, seed: 2)
    let config = InProcessClusterTests.config(.vae, .vampprior)

    func options(_ endpoint: String, _ name: String, keys: CurveKeyPair?, server: CurveKeyPair, timeout: Duration = .seconds(20)) -> WorkerOptions {
        var o = WorkerOptions(endpoint: endpoint, name: name)
        o.connectTimeout = timeout
        o.security = keys.map { CurveClientSecurity(keyPair: $0, serverKey: server.publicKey) }
        return o
    }

    /// A CURVE coordinator admitting `allowed`, as the engine of a two-epoch run.
    func secureRun(server: CurveKeyPair, allowed: [CurveKey]) throws -> (TrainingRun, ClusterEngine) {
        var options = CoordinatorOptions(bind: "tcp://127.0.0.1:*")
        options.security = CurveServerSecurity(keyPair: server, allowedClients: Set(allowed))
        let context = try ZMQContext()
        var engine: ClusterEngine?
        let run = try TrainingRun(config: config, options: InProcessClusterTests.options(), train: train, validation: validation) { model, plan in
            let e = try ClusterEngine(model: model, plan: plan, options: options, context: context, logger: Logger(label: "coordinator"))
            engine = e
            return e
        }
        return (run, engine!)
    }

    /// The run's parameters are `reference`, bit for bit (a failure says how many differ, not which).
    func assertSameBits(_ run: TrainingRun, _ reference: [UInt32], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        let bits = run.trainer.values.storage.scalars.map(\.bitPattern)
        let differing = zip(bits, reference).filter { $0 != $1 }.count
        XCTAssertTrue(bits == reference, "\(message): \(differing) of \(reference.count) parameters differ", file: file, line: line)
    }

    func localBits() throws -> [UInt32] {
        let run = try TrainingRun(config: config, options: InProcessClusterTests.options(), train: train, validation: validation)
        try run.run(observer: nil)
        return run.trainer.values.storage.scalars.map(\.bitPattern)
    }

    /// An allowed worker trains; a worker with an unknown key and a plaintext worker never join
    /// (the coordinator never lists them, and they report that no coordinator answered within
    /// their connect timeout); a plaintext status request gets no answer while a keyed one does.
    /// The weights are the bits of one process.
    func testUnknownKeyAndPlaintextWorkers_CannotJoin_ResultUnchanged() throws {
        let server = try CurveKeyPair.generate(), friend = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let (run, engine) = try secureRun(server: server, allowed: [friend.publicKey])
        let endpoint = engine.coordinator.endpoint
        let first = WorkerThread(options(endpoint, "friend", keys: friend, server: server))
        try engine.coordinator.waitForWorkers(1)
        let intruder = WorkerThread(options(endpoint, "intruder", keys: stranger, server: server, timeout: .seconds(2)))
        let plaintext = WorkerThread(options(endpoint, "plaintext", keys: nil, server: server, timeout: .seconds(2)))

        // Status requests while the coordinator serves (it waits for a second worker, started after them).
        let queries = StatusQueries(endpoint: endpoint, keys: CurveClientSecurity(keyPair: friend, serverKey: server.publicKey),
                                    then: options(endpoint, "friend-2", keys: friend, server: server))
        try engine.coordinator.waitForWorkers(2)
        queries.done.wait()
        XCTAssertNotNil(queries.plaintextError, "a plaintext client gets no status")
        XCTAssertEqual(queries.keyed?.workers.map(\.name), ["friend"], String(describing: queries.keyedError))

        try run.run(observer: nil)
        XCTAssertEqual(engine.coordinator.workerNames, ["friend", "friend-2"])
        for (thread, name) in [(intruder, "intruder"), (plaintext, "plaintext")] {
            thread.done.wait()
            guard case .noCoordinator? = thread.error as? WorkerError else {
                return XCTFail("\(name): \(String(describing: thread.error))")
            }
            XCTAssertLessThan(thread.seconds, 8, "\(name) gave up after its connect timeout")
        }
        engine.coordinator.finish()
        for w in [first, queries.second!] {
            w.done.wait()
            XCTAssertNil(w.error)
        }
        assertSameBits(run, try localBits(), "with an intruder and a plaintext worker")
    }

    /// A plaintext status request, then one with keys; then a second worker.
    final class StatusQueries: @unchecked Sendable {
        // @unchecked: the fields are written by the thread before it signals `done`, read after.
        var plaintextError: Error?, keyed: ClusterStatus?, keyedError: Error?
        var second: WorkerThread?
        let done = DispatchSemaphore(value: 0)

        init(endpoint: String, keys: CurveClientSecurity, then worker: WorkerOptions) {
            Thread { [self] in
                do {
                    let plain = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
                    try plain.connect(endpoint)
                    _ = try ClusterStatusClient.query(plain, timeout: .seconds(1))
                } catch { plaintextError = error }
                do {
                    let socket = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
                    try socket.makeCurveClient(keys)
                    try socket.connect(endpoint)
                    keyed = try ClusterStatusClient.query(socket, timeout: .seconds(10))
                } catch { keyedError = error }
                second = WorkerThread(worker)
                done.signal()
            }.start()
        }
    }

    /// An allowed but malicious peer relays a real worker's messages to the coordinator, and
    /// after each round replays that worker's results of the round before (an earlier step).
    /// Then, in a second run with the same keys, it joins and replays everything it captured in
    /// the first (an earlier run id). Both runs end with the bits of one process.
    func testReplayedMessages_EarlierStepAndEarlierRun_Dropped() throws {
        let server = try CurveKeyPair.generate(), relayKeys = try CurveKeyPair.generate(), honest = try CurveKeyPair.generate()
        let reference = try localBits()

        let (first, firstEngine) = try secureRun(server: server, allowed: [relayKeys.publicKey])
        let relay = try Relay(coordinator: firstEngine.coordinator.endpoint, keys: CurveClientSecurity(keyPair: relayKeys, serverKey: server.publicKey))
        let relayed = WorkerThread(options(relay.endpoint, "relayed", keys: nil, server: server))
        try firstEngine.coordinator.waitForWorkers(1)
        try first.run(observer: nil)
        firstEngine.coordinator.finish()
        relayed.done.wait()
        XCTAssertNil(relayed.error)
        let captured = relay.stop()
        XCTAssertGreaterThan(relay.replays, 10, "results of earlier steps were replayed")
        assertSameBits(first, reference, "earlier-step replays were dropped")

        let (second, secondEngine) = try secureRun(server: server, allowed: [relayKeys.publicKey, honest.publicKey])
        let worker = WorkerThread(options(secondEngine.coordinator.endpoint, "honest", keys: honest, server: server))
        let replayer = try Replayer(endpoint: secondEngine.coordinator.endpoint, keys: CurveClientSecurity(keyPair: relayKeys, serverKey: server.publicKey),
                                    messages: captured)
        try secondEngine.coordinator.waitForWorkers(2)   // the replayer joined with the captured hello
        try second.run(observer: nil)
        let sent = replayer.stop()
        secondEngine.coordinator.finish()
        worker.done.wait()
        XCTAssertNil(worker.error)
        XCTAssertGreaterThan(sent, 2 * captured.count, "the first run's messages were replayed during the second")
        assertSameBits(second, reference, "earlier-run replays were dropped")
    }
}
