import XCTest
import Tensor
import NN
import VAE
import Training
import TestSupport

/// The fixed-order reduction against the tree written out by hand, for the fused one-pass paths
/// (one or two leaves per tree) and the general tree (three data units).
final class GradientReductionTests: XCTestCase {
    func testReduction_MatchesTheTreesWrittenOut() {
        let config = ModelConfig(architecture: .vae, prior: .vampprior, likelihood: .bernoulli,
                                 inputSize: 16, hiddenSize: 8, latentSize: 3, components: 6)
        let model = LatentModel<Float>.make(config)
        let ranges = GradientRanges(model: model), p = model.layout.count, d = config.inputSize
        var rng = FixtureRandom(seed: 9)
        for (dataUnits, priorUnitSize) in [(2, 3), (1, 6), (3, 3), (2, 6)] {
            let plan = StepPlan(batchSize: 10, dataUnitSize: 5, priorUnitSize: priorUnitSize)
            let priorUnits = plan.priorUnits(components: config.components).count
            let leaves = (0..<(dataUnits + priorUnits)).map { _ -> UnsafeMutablePointer<Float> in
                let leaf = UnsafeMutablePointer<Float>.allocate(capacity: p)
                for i in 0..<p { leaf[i] = Float(rng.uniform(-1, 1)) * Float(1 << Int(rng.uniform(0, 20))) }
                return leaf
            }
            defer { leaves.forEach { $0.deallocate() } }
            let dataLeaves = Array(leaves[..<dataUnits]), priorLeaves = Array(leaves[dataUnits...])
            var results = UnitResults<Float>(
                data: { UnsafePointer(dataLeaves[$0]) },
                priorEncoder: { UnsafePointer(priorLeaves[$0] + ranges.priorEncoder.lowerBound) },
                pseudoInputs: { UnsafePointer(priorLeaves[$0] + ranges.pseudoInputs.lowerBound + $0 * priorUnitSize * d) })
            results.dataCount = dataUnits
            results.priorCount = priorUnits
            let reduction = GradientReduction<Float>(ranges: ranges, config: config, plan: plan, threads: 1, maximumUnits: 4)
            var out = [Float](repeating: .nan, count: p)
            let finite = out.withUnsafeMutableBufferPointer {
                reduction.reduce(results, elements: 0..<p, rows: 10, thread: 0, into: $0.baseAddress!)
            }
            XCTAssertEqual(finite, 0)

            /// A binary tree over leaves [lo, lo + size), nodes past the end empty, in Float64.
            func tree(_ xs: [Double], _ lo: Int, _ size: Int) -> Double? {
                if lo >= xs.count { return nil }
                if size == 1 { return xs[lo] }
                let left = tree(xs, lo, size / 2)!
                return tree(xs, lo + size / 2, size / 2).map { left + $0 } ?? left
            }
            func sum(_ xs: [Double]) -> Double {
                var size = 1
                while size < xs.count { size *= 2 }
                return tree(xs, 0, size)!
            }
            for i in 0..<p {
                let data = sum(dataLeaves.map { Double($0[i]) })
                let expected: Double
                if ranges.priorEncoder.contains(i) {
                    expected = data + sum(priorLeaves.map { Double($0[i]) })
                } else if ranges.pseudoInputs.contains(i) {
                    expected = Double(priorLeaves[(i - ranges.pseudoInputs.lowerBound) / (priorUnitSize * d)][i])
                } else {
                    expected = data
                }
                XCTAssertEqual(out[i].bitPattern, Float(expected * (1.0 / 10)).bitPattern,
                               "element \(i), \(dataUnits) data and \(priorUnits) prior units")
                if out[i].bitPattern != Float(expected * (1.0 / 10)).bitPattern { break }
            }
            // One infinity or NaN anywhere a leaf is read is reported (each fused path, any vector lane).
            let enc = ranges.priorEncoder, data = ranges.data, pseudo = ranges.pseudoInputs.lowerBound
            for (leaf, value, at) in [(dataLeaves[0], Float.infinity, [0, 7, enc.lowerBound + 3, data.upperBound - 1]),
                                      (dataLeaves[dataUnits - 1], -.infinity, [1, enc.upperBound - 1]),
                                      (priorLeaves[0], .nan, [enc.lowerBound, enc.lowerBound + 9, pseudo, pseudo + 5])] {
                for i in at {
                    let saved = leaf[i]
                    leaf[i] = value
                    let f = out.withUnsafeMutableBufferPointer {
                        reduction.reduce(results, elements: 0..<p, rows: 10, thread: 0, into: $0.baseAddress!)
                    }
                    XCTAssertNotEqual(f, 0, "\(value) at \(i), \(dataUnits) data and \(priorUnits) prior units")
                    leaf[i] = saved
                }
            }
        }
    }
}
