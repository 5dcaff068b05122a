import XCTest
import Foundation
import Tensor
import NN
import VAE
import TestSupport

final class EvaluationTests: XCTestCase {
    /// With S = 1 and the training forward's noise, log w = −(RE + KL): the importance weight is
    /// the single-sample ELBO, for every model.
    func testLogLikelihood_SingleSampleIsTheELBO() {
        for config in allConfigurations {
            let f = ModelFixture<Double>(config)
            _ = f.loss(beta: 1)
            let elbo = (0..<f.rows).map { -(f.model.reconstructionPerRow.data[$0] + f.model.klPerRow.data[$0]) }
            let nw = f.model.noiseWidth
            let ll = f.x.withUnsafeBufferPointer { xp in
                f.model.logLikelihood(x: xp.baseAddress!, rows: f.rows, samples: 1, noise: { image, first, count, out in
                    for j in 0..<(count * nw) { out[j] = f.noise[image * nw + first * nw + j] }
                }, f.access)
            }
            assertClose(ll, elbo, rtol: 1e-12, "\(config.architecture)/\(config.prior)/\(config.likelihood)")
        }
    }

    /// S samples in chunks of 3 equal log-mean-exp of the S single-sample weights.
    func testLogLikelihood_ChunkedLogSumExp() {
        for config in allConfigurations where config.likelihood == .logistic256 {
            let f = ModelFixture<Double>(config)
            let s = 20, nw = f.model.noiseWidth
            var rng = FixtureRandom(seed: 5)
            let eps = rng.normals(f.rows * s * nw)
            let noise: LatentModel<Double>.SampleNoise = { image, first, count, out in
                for j in 0..<(count * nw) { out[j] = eps[(image * s + first) * nw + j] }
            }
            let chunked = f.x.withUnsafeBufferPointer {
                f.model.logLikelihood(x: $0.baseAddress!, rows: f.rows, samples: s, chunk: 3, noise: noise, f.access)
            }
            for i in 0..<f.rows {
                let image = Array(f.x[(i * config.inputSize)..<((i + 1) * config.inputSize)])
                let weights = (0..<s).map { k in
                    image.withUnsafeBufferPointer {
                        f.model.logLikelihood(x: $0.baseAddress!, rows: 1, samples: 1, noise: { _, _, count, out in
                            for j in 0..<(count * nw) { out[j] = eps[(i * s + k) * nw + j] }
                        }, f.access)[0]
                    }
                }
                let m = weights.max()!
                let expected = m + log(weights.map { exp($0 - m) }.reduce(0, +) / Double(s))
                assertClose(chunked[i], expected, rtol: 1e-12)
            }
        }
    }

    /// Keyed evaluation noise makes the estimate independent of the chunk size up to Float
    /// rounding: the samples are the same, but OpenBLAS may round a row of a 10-row GEMM
    /// differently from the same row of a 64-row GEMM (seen here: 3e-8 relative).
    func testLogLikelihood_IndependentOfChunkSize() {
        let config = allConfigurations.first { $0.architecture == .hvae && $0.prior == .vampprior }!
        let f = ModelFixture<Float>(config)
        let noise = f.model.evaluationNoise(seed: 9)
        let a = f.x.withUnsafeBufferPointer { f.model.logLikelihood(x: $0.baseAddress!, rows: f.rows, samples: 64, chunk: 64, noise: noise, f.access) }
        let b = f.x.withUnsafeBufferPointer { f.model.logLikelihood(x: $0.baseAddress!, rows: f.rows, samples: 64, chunk: 10, noise: noise, f.access) }
        assertClose(a, b, rtol: 1e-6)
        XCTAssertTrue(a.allSatisfy { $0.isFinite && $0 < 0 })
    }

    func testSampleAndReconstruct_AreImagesAndDeterministic() {
        for config in allConfigurations {
            let f = ModelFixture<Float>(config)
            let d = config.inputSize
            var a = [Float](repeating: -1, count: 4 * d), b = a, c = a, r = [Float](repeating: -1, count: f.rows * d)
            a.withUnsafeMutableBufferPointer { f.model.sample(rows: 4, seed: 1, f.access, into: $0.baseAddress!) }
            b.withUnsafeMutableBufferPointer { f.model.sample(rows: 4, seed: 1, f.access, into: $0.baseAddress!) }
            c.withUnsafeMutableBufferPointer { f.model.sample(rows: 4, seed: 2, f.access, into: $0.baseAddress!) }
            f.x.withUnsafeBufferPointer { xp in
                r.withUnsafeMutableBufferPointer { f.model.reconstruct(x: xp.baseAddress!, rows: f.rows, f.access, into: $0.baseAddress!) }
            }
            XCTAssertEqual(a, b)
            XCTAssertNotEqual(a, c)
            XCTAssertTrue((a + r).allSatisfy { $0 > 0 && $0 < 1 }, "\(config)")
        }
    }
}
