import XCTest
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Tensor
import VAE
import Training
import TestSupport
import MallocCounter

/// A training step reuses its buffers: after warm-up, 1,000 steps call malloc not once (counted
/// by the MallocCounter interposer linked into the test executable), and 1,000 more leave the
/// peak resident set where it was. The current resident set is printed too.
final class SteadyStateMemoryTests: XCTestCase {
    #if canImport(Glibc)
    /// A field of /proc/self/status in KiB: VmRSS (resident now) or VmHWM (peak resident).
    func statusKiB(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// Two threads with a unit each, and one thread with both units (stacked where that keeps the bits).
    func testTrainingStep_MemoryFlatOver1000Steps() throws {
        for (architecture, threads) in Architecture.allCases.flatMap({ a in [(a, 2), (a, 1)] }) {
            let config = ModelConfig(architecture: architecture, prior: .vampprior, likelihood: .bernoulli,
                                     inputSize: 30, hiddenSize: 10, latentSize: 4, components: 12)
            let plan = StepPlan(batchSize: 16, dataUnitSize: 8, priorUnitSize: 4)
            let trainer = Trainer<Float>(config: config, plan: plan, threads: threads, seed: 1)
            var rng = FixtureRandom(seed: 1)
            let x: [Float] = (0..<(16 * 30)).map { _ in rng.uniform() < 0.3 ? 1 : 0 }
            let indices = Array(0..<16)
            func steps(_ n: Int) throws {
                try x.withUnsafeBufferPointer { xp in
                    for _ in 0..<n { try trainer.step(x: xp.baseAddress!, sampleIndices: indices, epoch: 0, beta: 1) }
                }
            }
            try steps(200)   // warm-up: buffers, the thread pool and its malloc arenas
            let calls = largevae_malloc_calls()
            try steps(1000)
            #if DEBUG
            print("malloc count not asserted: debug builds box closures and generics; run `swift test -c release`")
            #else
            if calls >= 0 {
                XCTAssertEqual(largevae_malloc_calls() - calls, 0, "\(architecture), \(threads) threads: 1,000 training steps called malloc")
            }
            #endif
            let rss = statusKiB("VmRSS"), peak = statusKiB("VmHWM")
            try steps(1000)
            let rssAfter = statusKiB("VmRSS"), peakAfter = statusKiB("VmHWM")
            print("\(architecture)/vampprior, \(threads) thread(s)\((trainer.engine as? StepExecutor<Float>)?.ranStacked == true ? ", stacked" : ""), 1,000 steps: RSS \(rss) → \(rssAfter) KiB, peak RSS \(peak) → \(peakAfter) KiB")
            XCTAssertGreaterThan(rss, 0, "cannot read /proc/self/status")
            // Zero mallocs already rules out a leak; this bounds anything else (mmap, stacks) loosely.
            XCTAssertLessThan(peakAfter - peak, 1024, "\(architecture), \(threads) threads: peak resident memory grew over 1,000 steps")
        }
    }
    #endif
}
