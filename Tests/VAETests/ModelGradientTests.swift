import XCTest
import Tensor
import NN
import VAE
import TestSupport

/// Finite-difference checks, in Double, of the whole loss gradient of every model × prior ×
/// likelihood, including the pseudo-inputs and the MoG components.
final class ModelGradientTests: XCTestCase {
    func testModels_GradientsMatchFiniteDifferences() {
        for config in allConfigurations {
            let name = "\(config.architecture)/\(config.prior)/\(config.likelihood)"
            let f = ModelFixture<Double>(config)
            let beta = 0.7
            let (_, analytic) = f.gradient(beta: beta)
            let theta = f.values.storage.scalars
            let numeric = numericalGradient(at: theta, step: 1e-6) { t in
                for i in 0..<t.count { f.values.data[i] = t[i] }
                return f.loss(beta: beta).loss
            }
            for i in 0..<theta.count { f.values.data[i] = theta[i] }
            assertClose(analytic, numeric, rtol: 1e-5, atol: 1e-6, name)
            // Every parameter group gets a gradient signal somewhere.
            for e in f.model.layout.entries {
                let g = analytic[e.offset..<(e.offset + e.count)]
                XCTAssertTrue(g.contains { $0 != 0 }, "\(name): no gradient reaches \(e.name)")
            }
        }
    }

    /// Splitting the prior pass into chunks does not change the gradient beyond rounding, and
    /// the forward statistics of a chunk do not depend on how the K components were cut.
    func testModels_PriorChunksGiveTheSameGradient() {
        for config in allConfigurations where config.prior == .vampprior {
            let f = ModelFixture<Double>(config)
            let (s1, whole) = f.gradient(beta: 0.5)
            let (s2, chunked) = f.gradient(beta: 0.5, priorChunks: [0..<1, 1..<3, 3..<4])
            XCTAssertEqual(s1, s2)
            assertClose(chunked, whole, rtol: 1e-12, atol: 1e-14)
        }
    }

    /// β scales exactly the KL part: loss = RE + β·KL per row.
    func testModels_LossSplitsIntoReconstructionAndKL() {
        for config in allConfigurations {
            let f = ModelFixture<Double>(config)
            let a = f.loss(beta: 0.25), b = f.loss(beta: 1)
            assertClose(a.loss, a.reconstruction + 0.25 * a.kl, rtol: 1e-12)
            assertClose(b.loss, b.reconstruction + b.kl, rtol: 1e-12)
            assertClose(a.reconstruction, b.reconstruction, rtol: 1e-14)
            XCTAssertGreaterThan(a.reconstruction, 0)
        }
    }
}
