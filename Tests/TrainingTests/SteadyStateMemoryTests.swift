import XCTest
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Tensor
import VAE
import Training
import TestSupport

/// A training step reuses its buffers: after warm-up, 1,000 more steps leave the peak resident
/// set where it was (a leak of even 64 bytes a step would show as 64 KiB). The current resident
/// set is printed too; it can sit a few pages below the peak when glibc has just trimmed its heap.
/// (Counting mallocs directly, with an LD_PRELOAD counter around `largevae bench`, shows one
/// allocation per step: the benchmark's own index array, outside the step.)
final class SteadyStateMemoryTests: XCTestCase {
    #if canImport(Glibc)
    /// A field of /proc/self/status in KiB: VmRSS (resident now) or VmHWM (peak resident).
    func statusKiB(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    func testTrainingStep_MemoryFlatOver1000Steps() throws {
        for architecture in Architecture.allCases {
            let config = ModelConfig(architecture: architecture, prior: .vampprior, likelihood: .bernoulli,
                                     inputSize: 30, hiddenSize: 10, latentSize: 4, components: 12)
            let plan = StepPlan(batchSize: 16, dataUnitSize: 8, priorUnitSize: 4)
            let trainer = Trainer<Float>(config: config, plan: plan, threads: 2, seed: 1)
            var rng = FixtureRandom(seed: 1)
            let x: [Float] = (0..<(16 * 30)).map { _ in rng.uniform() < 0.3 ? 1 : 0 }
            let indices = Array(0..<16)
            func steps(_ n: Int) throws {
                try x.withUnsafeBufferPointer { xp in
                    for _ in 0..<n { try trainer.step(x: xp.baseAddress!, sampleIndices: indices, epoch: 0, beta: 1) }
                }
            }
            try steps(200)   // warm-up: buffers, the thread pool and its malloc arenas
            let rss = statusKiB("VmRSS"), peak = statusKiB("VmHWM")
            try steps(1000)
            let rssAfter = statusKiB("VmRSS"), peakAfter = statusKiB("VmHWM")
            print("\(architecture)/vampprior, 1,000 steps: RSS \(rss) → \(rssAfter) KiB, peak RSS \(peak) → \(peakAfter) KiB")
            XCTAssertGreaterThan(rss, 0, "cannot read /proc/self/status")
            XCTAssertLessThan(peakAfter - peak, 64, "\(architecture): peak resident memory grew over 1,000 steps")
        }
    }
    #endif
}
