import Foundation
import Tensor
import NN
import VAE

/// The end-of-training numbers on the test set.
public struct TestReport: Codable, Equatable, Sendable {
    /// β = 1 loss parts per image (the negative ELBO is `loss`).
    public var elbo: LossSummary
    /// Mean importance-sampled log-likelihood, nats per image.
    public var logLikelihood: Double
    /// `−logLikelihood / (D · ln 2)`, for grey data.
    public var bitsPerDim: Double?
    public var importanceSamples: Int
    public var images: Int
    /// Histogram of the per-image log-likelihoods: `edges.count == counts.count + 1`.
    public var histogramEdges: [Double]
    public var histogramCounts: [Int]
}

extension TrainingRun {
    /// Test ELBO and importance-sampled log-likelihood under `values` (the best parameters by
    /// default). Images are shared among the threads; each image's S samples are keyed by
    /// (seed, image, evaluation), so the result does not depend on the thread count.
    public func testReport(_ test: ImageSource, values: ParameterVector<Float>? = nil,
                           progress: ((Int, Int) -> Void)? = nil) throws -> TestReport {
        let values = values ?? bestValues
        let n = options.testLimit > 0 ? Swift.min(options.testLimit, test.count) : test.count
        let elbo = try evaluate(test, values: values, limit: n)
        let ll = try logLikelihoods(test, count: n, values: values, progress: progress)
        let mean = ll.reduce(0, +) / Double(Swift.max(n, 1))
        let (edges, counts) = Self.histogram(ll, bins: 30)
        return TestReport(elbo: elbo, logLikelihood: mean,
                          bitsPerDim: config.likelihood == .logistic256 ? -mean / (Double(config.inputSize) * M_LN2) : nil,
                          importanceSamples: options.importanceSamples, images: n,
                          histogramEdges: edges, histogramCounts: counts)
    }

    /// Per-image log p(x) ≈ log (1/S) Σ_s p(x, z_s)/q(z_s|x), in blocks of 10 images that the
    /// engine computes side by side, 40 blocks at a time between progress reports.
    func logLikelihoods(_ test: ImageSource, count n: Int, values: ParameterVector<Float>,
                        progress: ((Int, Int) -> Void)?) throws -> [Double] {
        let d = config.inputSize, block = 10, group = 40
        var result: [Double] = []
        result.reserveCapacity(n)
        var first = 0
        while first < n {
            var blocks: [(x: [Float], firstImage: Int)] = []
            while blocks.count < group && first < n {
                let indices = Array(first..<Swift.min(first + block, n))
                var x = [Float](repeating: 0, count: indices.count * d)
                indices.withUnsafeBufferPointer { idx in
                    x.withUnsafeMutableBufferPointer { test.fill(indices: idx, epoch: 0, into: $0.baseAddress!) }
                }
                blocks.append((x, first))
                first += indices.count
            }
            for ll in try trainer.engine.logLikelihoods(blocks: blocks, samples: options.importanceSamples,
                                                        seed: options.seed, values: values) {
                result += ll
            }
            progress?(result.count, n)
        }
        return result
    }

    /// Equal-width bins between the minimum and the maximum.
    static func histogram(_ values: [Double], bins: Int) -> ([Double], [Int]) {
        guard let lo = values.min(), let hi = values.max(), hi > lo else {
            return ([values.first ?? 0, (values.first ?? 0) + 1], [values.count])
        }
        let width = (hi - lo) / Double(bins)
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[Swift.min(Int((v - lo) / width), bins - 1)] += 1 }
        return ((0...bins).map { lo + Double($0) * width }, counts)
    }
}
