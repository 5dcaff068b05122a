import Foundation
import Tensor
import VAE
import Training
import Cluster

/// `largevae bench --workers 1,2`: training throughput with N local worker processes (one BLAS
/// thread each) and a coordinator in this process, the worker counts' runs interleaved.
///
/// ```
/// samples/s   = B / median(step time)
/// overhead    = (reduce + Adam + serialisation at the coordinator) / step time
/// ```
/// The reduction done while the last units still run (`early_reduction_ms`) is not in the
/// overhead: it takes no time from the step.
enum ClusterBench {
    struct Result: Codable {
        var model: String
        var prior: String
        var workers: Int
        var samples_per_second: Double
        var step_ms: Double
        var compute_ms: Double
        var communication_ms: Double
        var update_ms: Double
        var early_reduction_ms: Double
        var coordinator_overhead: Double
        var megabytes_sent_per_step: Double
        var megabytes_received_per_step: Double
        /// Parameters and results that moved through shared memory instead of the socket.
        var megabytes_shared_per_step: Double
        var wire_precision: String
    }

    /// A trainer whose engine is `workers` local worker processes.
    final class Setup {
        let session: ClusterSession
        let trainer: Trainer<Float>
        let workers: Int
        var step = 0
        var times: [Double] = []
        var metrics: [StepMetrics] = []

        /// - Parameters:
        ///   - emulated: workers that emulate their compute (`--emulate-compute`).
        ///   - inNamespaces: worker i in network namespace lv-w(i+1), the coordinator on every address.
        init(config: ModelConfig, plan: StepPlan, workers: Int, flags: ClusterFlags, emulated: Bool = false,
             inNamespaces: Bool = false) throws {
            let bind = inNamespaces ? "tcp://0.0.0.0:*" : "tcp://127.0.0.1:*"
            var options = flags.options(bind: bind, minimumWorkers: workers)
            if emulated { options.sharedMemory = false }   // emulated workers stand for other machines: the socket
            session = try ClusterSession(options: options)
            if !inNamespaces && !emulated { session.bindLocally() }   // as `train --workers N` does
            session.localWorkers = workers
            session.pinWorkers = !flags.noPinWorkers
            session.workerArguments = emulated ? ["--emulate-compute"] : []
            session.inNamespaces = inNamespaces
            if inNamespaces { try session.secureLocalWorkers() }   // bound to every address: keys, not --insecure
            trainer = try Trainer<Float>(config: config, plan: plan, threads: 1, engine: session.factory())
            self.workers = workers
            try session.start()
        }

        /// Times `n` steps on `x` (a batch of `b`); with `record`, keeps their mean time and metrics.
        func steps(_ n: Int, x: UnsafePointer<Float>, batch b: Int, record: Bool) throws {
            var seconds = 0.0
            for _ in 0..<n {
                let indices = Array((step * b)..<((step + 1) * b))
                let start = DispatchTime.now().uptimeNanoseconds
                try trainer.step(x: x, sampleIndices: indices, epoch: 0, beta: 1)
                seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if record, let m = trainer.engine.stepMetrics { metrics.append(m) }
                step += 1
            }
            if record { times.append(seconds / Double(n)) }
        }
    }

    static func measure(config: ModelConfig, plan: StepPlan, workerCounts: [Int], runs: Int, steps: Int,
                        flags: ClusterFlags) throws -> [Result] {
        let b = plan.batchSize
        let x = Benchmark.syntheticBatch(rows: b, pixels: config.inputSize)
        let setups = try workerCounts.map { try Setup(config: config, plan: plan, workers: $0, flags: flags) }
        defer { setups.forEach { $0.session.finish() } }
        try x.withUnsafeBufferPointer { xp in
            func run(_ s: Setup, steps: Int, record: Bool) throws {
                try s.steps(steps, x: xp.baseAddress!, batch: b, record: record)
                // Workers that poll for their next message (`worker --poll-ms`) stop before the next count runs.
                Thread.sleep(forTimeInterval: Double(ClusterSession.localPollMilliseconds) / 1000 + 0.01)
            }
            for s in setups { try run(s, steps: 3, record: false) }
            for _ in 0..<runs {    // interleaved, so every worker count sees the same machine
                for s in setups { try run(s, steps: steps, record: true) }
            }
        }
        return setups.map { s in
            let t = Benchmark.median(s.times)
            let n = Double(s.metrics.count)
            let mean = s.metrics.reduce(StepMetrics(), +).scaled(by: n)
            return Result(model: config.architecture.rawValue, prior: config.prior.rawValue, workers: s.workers,
                          samples_per_second: Double(b) / t, step_ms: 1e3 * t, compute_ms: 1e3 * mean.computeSeconds,
                          communication_ms: 1e3 * mean.communicationSeconds, update_ms: 1e3 * mean.updateSeconds,
                          early_reduction_ms: 1e3 * mean.earlyReductionSeconds,
                          coordinator_overhead: (mean.updateSeconds + mean.serializationSeconds) / mean.seconds,
                          megabytes_sent_per_step: mean.bytesSent / 1e6, megabytes_received_per_step: mean.bytesReceived / 1e6,
                          megabytes_shared_per_step: mean.sharedBytes / 1e6,
                          wire_precision: flags.wirePrecision.rawValue)
        }
    }
}

/// `largevae bench --simulate 1,2,4,…`: how the coordinator scales to more workers than this
/// machine has cores. Workers compute each kind of unit twice for real, then only sleep that long
/// and return zero results of the real size through the real protocol; the coordinator is real.
///
/// Weak scaling: W workers get a batch of 50·W in data units of 50, and K = 500 pseudo-inputs in
/// ⌈500 / W⌉-sized prior units (at least 16), so every worker has a unit in every phase.
enum ScalingSimulation {
    struct Point: Codable {
        var workers: Int
        var batch: Int
        var step_ms: Double
        var samples_per_second: Double
        var megabytes_per_step: Double
        var coordinator_link_megabytes_per_second: Double
        var compute_ms: Double
        var update_ms: Double
        var early_reduction_ms: Double
    }

    static func plan(workers w: Int) -> StepPlan {
        StepPlan(batchSize: 50 * w, dataUnitSize: 50, priorUnitSize: Swift.max(16, (500 + w - 1) / w))
    }

    static func measure(config: ModelConfig, workers w: Int, runs: Int, steps: Int, flags: ClusterFlags,
                        inNamespaces: Bool) throws -> Point {
        let plan = plan(workers: w), b = plan.batchSize
        let x = Benchmark.syntheticBatch(rows: b, pixels: config.inputSize)
        let setup = try ClusterBench.Setup(config: config, plan: plan, workers: w, flags: flags, emulated: true,
                                           inNamespaces: inNamespaces)
        defer { setup.session.finish() }
        try x.withUnsafeBufferPointer { xp in
            try setup.steps(4, x: xp.baseAddress!, batch: b, record: false)   // warm-up: every worker measures its units
            for _ in 0..<runs { try setup.steps(steps, x: xp.baseAddress!, batch: b, record: true) }
        }
        let times = setup.times, metrics = setup.metrics
        let t = Benchmark.median(times)
        let mean = metrics.reduce(StepMetrics(), +).scaled(by: Double(metrics.count))
        let megabytes = (mean.bytesSent + mean.bytesReceived) / 1e6
        let rate = Double(b) / t, link = megabytes / t
        return Point(workers: w, batch: b, step_ms: 1e3 * t, samples_per_second: rate, megabytes_per_step: megabytes,
                     coordinator_link_megabytes_per_second: link, compute_ms: 1e3 * mean.computeSeconds,
                     update_ms: 1e3 * mean.updateSeconds, early_reduction_ms: 1e3 * mean.earlyReductionSeconds)
    }
}
