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

extension ArraySource: ImageSource {}

/// A worker on a thread of its own, with its own context unless given one.
final class WorkerThread: @unchecked Sendable {
    // @unchecked: `error`, `seconds` and the prefetch counts are written by the thread before it
    // signals `done`, and read only after waiting on `done`.
    var error: Error?
    var seconds = 0.0
    /// Data units it began from a prefetch, and continued.
    var begunAhead = 0, continued = 0
    let done = DispatchSemaphore(value: 0)

    init(_ options: WorkerOptions, context: ZMQContext? = nil) {
        Thread { [self] in
            let start = Date()
            do {
                let worker = try Worker(options: options, context: try context ?? ZMQContext(), logger: Logger(label: options.name))
                defer { (begunAhead, continued) = (worker.unitsBegunAhead, worker.unitsContinued) }
                try worker.run()
            } catch { self.error = error }
            self.seconds = Date().timeIntervalSince(start)
            self.done.signal()
        }.start()
    }
}

/// Worker threads in this process, each with its own socket to the coordinator over tcp. The
/// multi-process tests (CLITests) start real `largevae worker` processes instead.
final class InProcessClusterTests: XCTestCase {
    static func options(_ seed: UInt64 = 1) -> TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 2; o.warmupEpochs = 1; o.batchSize = 10; o.dataUnitSize = 5; o.priorUnitSize = 3
        o.learningRate = 1e-2; o.importanceSamples = 20; o.seed = seed
        return o
    }
    let train = ArraySource(count: 40, pixels: 16, seed: 1), validation = ArraySource(count: 20, pixels: 16, seed: 2)

    static func config(_ a: Architecture, _ p: PriorKind) -> ModelConfig {
        ModelConfig(architecture: a, prior: p, likelihood: .bernoulli, inputSize: 16, hiddenSize: 8, latentSize: 3, components: 6)
    }

    /// Trains two epochs with `workers` worker threads and returns the parameters' bits and the
    /// test report's log-likelihood.
    /// - Parameter poison: worker 0 writes NaN into every `poison`-th result (0: never); it is
    ///   then expected to be quarantined, and its thread to end with that error.
    func clusterRun(_ config: ModelConfig, workers: Int, precision: WirePrecision = .fp32,
                    push: Bool = false, options: TrainingOptions = options(), train: ArraySource? = nil,
                    poison: Int = 0, poisonEndOf: UnitKind? = nil, slowPriorBackward: Bool = false,
                    prefetchDrill: PrefetchDrill = .none,
                    prefetches: ((begun: Int, continued: Int)) -> Void = { _ in },
                    lastStep: (StepMetrics?) -> Void = { _ in }) throws -> ([UInt32], Double) {
        let context = try ZMQContext()
        var coordinatorOptions = CoordinatorOptions(bind: "tcp://127.0.0.1:*")
        coordinatorOptions.precision = precision
        coordinatorOptions.minimumWorkers = workers
        coordinatorOptions.parameterChunk = 97   // many chunks, none aligned to a tensor
        coordinatorOptions.pushParametersDuringUpdate = push
        coordinatorOptions.prefetchDrill = prefetchDrill
        var engine: ClusterEngine?
        let run = try TrainingRun(config: config, options: options, train: train ?? self.train, validation: validation) { model, plan in
            let e = try ClusterEngine(model: model, plan: plan, options: coordinatorOptions, context: context,
                                      logger: Logger(label: "coordinator"))
            engine = e
            return e
        }
        let threads = (0..<workers).map { i -> WorkerThread in
            var o = WorkerOptions(endpoint: engine!.coordinator.endpoint, name: "w\(i)")
            if i == 0 { o.injectNaNEvery = poison; o.injectNaNAtEndOf = poisonEndOf }
            // Every prior-backward unit ends 10 ms or more apart from the others, whichever worker
            // holds which: so one is always in while another still runs.
            if slowPriorBackward { o.delayPriorBackward = .milliseconds(10 + 30 * i) }
            return WorkerThread(o, context: context)
        }
        try engine!.coordinator.waitForWorkers(workers)
        try run.run(observer: nil)
        lastStep(engine!.stepMetrics)
        let report = try run.testReport(validation)
        engine!.coordinator.finish()
        for t in threads { t.done.wait() }
        prefetches((threads.map(\.begunAhead).reduce(0, +), threads.map(\.continued).reduce(0, +)))
        for (i, t) in threads.enumerated() {
            if i == 0 && poison > 0 {
                XCTAssertTrue("\(t.error.map { String(describing: $0) } ?? "none")".contains("quarantined"), "\(String(describing: t.error))")
            } else {
                XCTAssertNil(t.error)
            }
        }
        return (run.trainer.values.storage.scalars.map(\.bitPattern), report.logLikelihood)
    }

    func localRun(_ config: ModelConfig) throws -> ([UInt32], Double) {
        let run = try TrainingRun(config: config, options: Self.options(), train: train, validation: validation)
        try run.run(observer: nil)
        return (run.trainer.values.storage.scalars.map(\.bitPattern), try run.testReport(validation).logLikelihood)
    }

    func testClusterMatchesInProcessBitForBit() throws {
        for (a, p) in [(Architecture.vae, PriorKind.vampprior), (.hvae, .vampprior), (.vae, .standard), (.hvae, .mog)] {
            let config = Self.config(a, p)
            let local = try localRun(config)
            for n in [1, 2, 3] {
                let remote = try clusterRun(config, workers: n, push: n == 2)
                XCTAssertEqual(remote.0, local.0, "\(a)/\(p) with \(n) workers")
                XCTAssertEqual(remote.1, local.1, "\(a)/\(p) test log-likelihood with \(n) workers")
            }
        }
    }

    func testBFloat16WireIsTheSameForAnyWorkerCount() throws {
        let config = Self.config(.vae, .vampprior)
        let one = try clusterRun(config, workers: 1, precision: .bf16)
        let two = try clusterRun(config, workers: 2, precision: .bf16)
        XCTAssertEqual(one.0, two.0)
        XCTAssertNotEqual(one.0, try localRun(config).0, "bf16 rounds what travels")
    }

    /// A worker that writes NaN into every 3rd result. Gradients are not checked on arrival: the
    /// reduction finds the NaN, the parts are checked one by one, the poisoned units are computed
    /// again by the other worker, the poisoner is quarantined, and the weights keep the bits of a
    /// clean run (fp32 and bf16, where the check reads the wire's bf16 bytes).
    /// Workers begin a data unit from its prefetched start; one given another unit than it began
    /// (or whose prefetch was cut short, which it drops) computes that unit whole: the same bits.
    func testPrefetchesMisdirectedOrTruncated_SameBits() throws {
        for a in Architecture.allCases {
            let local = try localRun(Self.config(a, .vampprior))
            for drill in [PrefetchDrill.none, .misdirected, .truncated] {
                var counts = (begun: 0, continued: 0)
                let cluster = try clusterRun(Self.config(a, .vampprior), workers: 2, prefetchDrill: drill) { counts = $0 }
                switch drill {
                case .none: XCTAssertTrue(counts.begun > 0 && counts.continued == counts.begun, "\(a): \(counts)")
                case .misdirected: XCTAssertTrue(counts.begun > 0 && counts.continued == 0, "\(a): \(counts)")
                case .truncated: XCTAssertEqual(counts.begun, 0, "\(a)")
                }
                XCTAssertEqual(cluster.0, local.0, "\(a), \(drill)")
                XCTAssertEqual(cluster.1.bitPattern, local.1.bitPattern, "\(a), \(drill)")
            }
        }
    }

    func testPoisonedGradients_FoundByTheReduction_SameBits() throws {
        for (a, p) in [(Architecture.vae, PriorKind.vampprior), (.hvae, .standard)] {
            for precision in [WirePrecision.fp32, .bf16] {
                let config = Self.config(a, p)
                let clean = try clusterRun(config, workers: 2, precision: precision)
                let poisoned = try clusterRun(config, workers: 2, precision: precision, poison: 3)
                XCTAssertEqual(poisoned.0, clean.0, "\(a)/\(p), \(precision)")
                XCTAssertEqual(poisoned.1, clean.1, "\(a)/\(p), \(precision): test log-likelihood")
            }
        }
    }

    /// With the VampPrior the coordinator reduces the elements only data units touch (the decoder)
    /// while the last prior unit still runs (here the workers sleep 10 and 40 ms before each prior
    /// backward unit, so that one is always back while another runs). A NaN
    /// at the end of a data unit's gradient, in those early blocks, is found all the same: the
    /// unit is computed again by the other worker, and the bits are a clean run's.
    func testEarlyReduction_FindsNaNInEarlyBlocks_SameBits() throws {
        for a in Architecture.allCases {
            let config = Self.config(a, .vampprior)
            let local = try localRun(config)
            var metrics: StepMetrics?
            let slow = try clusterRun(config, workers: 2, slowPriorBackward: true, lastStep: { metrics = $0 })
            XCTAssertGreaterThan(metrics?.earlyReductionSeconds ?? 0, 0, "\(a): no early reduction")
            XCTAssertEqual(slow.0, local.0, "\(a): early reduction")
            let poisoned = try clusterRun(config, workers: 2, poison: 1, poisonEndOf: .data, slowPriorBackward: true)
            XCTAssertEqual(poisoned.0, local.0, "\(a): NaN in an early block")
            XCTAssertEqual(poisoned.1.bitPattern, local.1.bitPattern, "\(a): test log-likelihood")
        }
    }

    /// 70 one-row data units a step, with bf16 so that every result is decoded into scratch
    /// slots: the same bits for 1 and 3 workers.
    func testManyUnitsPerStep_SameForAnyWorkerCount() throws {
        var options = Self.options()
        options.batchSize = 70
        options.dataUnitSize = 1
        options.epochs = 1
        let train = ArraySource(count: 140, pixels: 16, seed: 4)
        let config = Self.config(.vae, .vampprior)
        let one = try clusterRun(config, workers: 1, precision: .bf16, options: options, train: train)
        let three = try clusterRun(config, workers: 3, precision: .bf16, options: options, train: train)
        XCTAssertEqual(one.0, three.0)
    }
}
