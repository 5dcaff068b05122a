import Foundation
import Dispatch
import Tensor
import NN
import VAE

/// Training throughput and the fraction of a GEMM roofline measured in the same run.
///
/// ```
/// samples/s        = B / median(step time)
/// roofline         = median GFLOP/s of single-threaded sgemm [100×784]·[784×600] run on
///                    `threads` threads side by side, timed interleaved with the model's runs
/// roofline_fraction = (GEMM FLOPs per step / median step time) / roofline
/// ```
public enum Benchmark {
    public struct Result: Codable, Equatable, Sendable {
        public var model: String
        public var prior: String
        public var threads: Int
        public var samples_per_second: Double
        public var roofline_fraction: Double
        public var gflops_per_step: Double
        public var step_ms: Double
        /// The roofline measured beside this model, GFLOP/s.
        public var roofline_gflops: Double
    }

    /// Median of a sample.
    public static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Seconds `body` takes.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// One timing of single-threaded sgemm `[m, k]·[k, n]` run on `threads` threads side by side:
    /// the aggregate GFLOP/s.
    static func gemmRate(m: Int, n: Int, k: Int, threads: Int) -> Double {
        let reps = 40
        let buffers = (0..<threads).map { _ in
            (Tensor<Float>(shape: [m, k], repeating: 0.5), Tensor<Float>(shape: [k, n], repeating: 0.25), Tensor<Float>(shape: [m, n]))
        }
        func run(_ t: Int) {
            let (a, b, c) = buffers[t]
            for _ in 0..<reps {
                Float.gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.data, lda: k,
                           b: b.data, ldb: n, beta: 0, c: c.data, ldc: n)
            }
        }
        let seconds = time {
            if threads == 1 { run(0) } else { DispatchQueue.concurrentPerform(iterations: threads, execute: run) }
        }
        return Double(2 * m * n * k * reps * threads) / seconds / 1e9
    }

    /// GEMM FLOPs of one training step, counted by running a second step on one thread.
    static func flopsPerStep(config: ModelConfig, plan: StepPlan, x: UnsafePointer<Float>, indices: [Int]) throws -> Double {
        let trainer = Trainer<Float>(config: config, plan: plan, threads: 1)
        try trainer.step(x: x, sampleIndices: indices, epoch: 0, beta: 1)   // a first step may probe (unit stacking)
        BLAS.flopCount = 0
        BLAS.countFlops = true
        defer { BLAS.countFlops = false }
        try trainer.step(x: x, sampleIndices: indices, epoch: 0, beta: 1)
        return Double(BLAS.flopCount)
    }

    /// The benchmarks' batch: `[rows, pixels]` binary pixels, each on with probability 0.3
    /// (xorshift64, fixed seed), the same in every benchmark.
    public static func syntheticBatch(rows: Int, pixels: Int) -> [Float] {
        var state: UInt64 = 0x2545F4914F6CDD1D
        return (0..<(rows * pixels)).map { _ -> Float in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return state % 10 < 3 ? 1 : 0
        }
    }

    /// Median samples/s of `config` at `threads`, with `runs` timings of `steps` steps each.
    public static func measure(config: ModelConfig, plan: StepPlan, threads: Int, runs: Int, steps: Int) throws -> Result {
        let b = plan.batchSize, d = config.inputSize
        let x = syntheticBatch(rows: b, pixels: d)
        let trainer = Trainer<Float>(config: config, plan: plan, threads: threads)
        return try x.withUnsafeBufferPointer { xp in
            let flops = try flopsPerStep(config: config, plan: plan, x: xp.baseAddress!, indices: Array(0..<b))
            var step = 0
            func oneStep() throws {
                try trainer.step(x: xp.baseAddress!, sampleIndices: Array((step * b)..<((step + 1) * b)), epoch: 0, beta: 1)
                step += 1
            }
            for _ in 0..<3 { try oneStep() }                       // warm-up: buffers, caches
            var times: [Double] = [], rates: [Double] = []
            for _ in 0..<runs {   // the roofline and the model alternate, so both see the same machine
                rates.append(gemmRate(m: 100, n: 600, k: 784, threads: threads))
                times.append(try time { for _ in 0..<steps { try oneStep() } } / Double(steps))
            }
            let t = median(times), roofline = median(rates)
            return Result(model: config.architecture.rawValue, prior: config.prior.rawValue, threads: threads,
                          samples_per_second: Double(b) / t, roofline_fraction: flops / t / 1e9 / roofline,
                          gflops_per_step: flops / 1e9, step_ms: t * 1e3, roofline_gflops: roofline)
        }
    }
}
