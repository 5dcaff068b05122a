import XCTest
import Foundation
import Tensor
import NN
import VAE
import TestSupport

/// Finite-difference checks, in Double, of each log-density on its own, and the properties
/// that make them distributions.
final class DistributionTests: XCTestCase {
    var rng = FixtureRandom(seed: 17)

    /// Checks a map `inputs → out[rows]` with a vector-Jacobian product `(g, inputs) → ∂(g·out)/∂inputs`.
    func check(_ inputs: [Double], rows: Int, forward: ([Double]) -> [Double], vjp: ([Double], [Double]) -> [Double],
               file: StaticString = #filePath, line: UInt = #line) {
        let g = rng.normals(rows)
        let analytic = vjp(g, inputs)
        let numeric = numericalGradient(at: inputs) { x in zip(forward(x), g).map(*).reduce(0, +) }
        assertClose(analytic, numeric, rtol: 1e-6, atol: 1e-8, file: file, line: line)
    }

    func testNormalDiagonal_Gradients() {
        let rows = 3, m = 4
        let inputs = rng.normals(rows * m) + rng.normals(rows * 2 * m, scale: 0.7)   // x, then [μ | lv]
        func split(_ v: [Double]) -> ([Double], [Double]) { (Array(v[0..<(rows * m)]), Array(v[(rows * m)...])) }
        check(inputs, rows: rows, forward: { v in
            let (x, s) = split(v)
            var out = [Double](repeating: 0, count: rows)
            LogDensity.normalDiagonal(rows: rows, dimension: m, x: x, ldx: m, stats: s, lds: 2 * m, into: &out)
            return out
        }, vjp: { g, v in
            let (x, s) = split(v)
            var dx = [Double](repeating: 0, count: rows * m), ds = [Double](repeating: 0, count: rows * 2 * m)
            LogDensity.normalDiagonalBackward(rows: rows, dimension: m, upstream: g, x: x, ldx: m, stats: s, lds: 2 * m, dx: &dx, dStats: &ds)
            return dx + ds
        })
    }

    func testNormalDiagonal_MatchesClosedForm() {
        var out = [0.0]
        LogDensity.normalDiagonal(rows: 1, dimension: 2, x: [0.5, -1], ldx: 2, stats: [0, 1, 0, log(4)], lds: 4, into: &out)
        // N(0.5; 0, 1)·N(−1; 1, 4)
        let expected = -0.5 * log(2 * .pi) - 0.125 + (-0.5 * log(2 * .pi * 4) - 4.0 / 8)
        assertClose(out[0], expected, rtol: 1e-14)
    }

    func testStandardNormal_Gradients() {
        let rows = 2, m = 3
        check(rng.normals(rows * m), rows: rows, forward: { x in
            var out = [0.0, 0]
            LogDensity.standardNormal(rows: rows, dimension: m, x: x, ldx: m, into: &out)
            return out
        }, vjp: { g, x in
            var dx = [Double](repeating: 0, count: rows * m)
            LogDensity.standardNormalBackward(rows: rows, dimension: m, upstream: g, x: x, ldx: m, dx: &dx)
            return dx
        })
    }

    func testBernoulli_GradientsAndStability() {
        let rows = 2, d = 5
        let x: [Double] = (0..<(rows * d)).map { $0 % 3 == 0 ? 1 : 0 }
        var scratch = [Double](repeating: 0, count: d)
        check(rng.normals(rows * d, scale: 3), rows: rows, forward: { l in
            var out = [0.0, 0]
            LogDensity.bernoulli(rows: rows, dimension: d, x: x, logits: l, into: &out, scratch: &scratch)
            return out
        }, vjp: { g, l in
            var dl = [Double](repeating: 0, count: rows * d)
            LogDensity.bernoulliBackward(rows: rows, dimension: d, upstream: g, x: x, logits: l, dLogits: &dl)
            return dl
        })
        // Large |logit| in Float: finite and exact to the limit (log σ(−100) = −100).
        var out: [Float] = [0]
        var fs = [Float](repeating: 0, count: 2)
        LogDensity.bernoulli(rows: 1, dimension: 2, x: [1, 0], logits: [-100, 100], into: &out, scratch: &fs)
        assertClose(Double(out[0]), -200, rtol: 1e-6)
    }

    func testDiscretizedLogistic_Gradients() {
        let rows = 2, d = 6
        let x: [Double] = (0..<(rows * d)).map { i in (Double([0, 255, 3, 128, 200, 254][i % d]) + 0.5) / 256 }
        var pre = rng.normals(rows * d, scale: 0.5)                         // mean logits
        pre += (0..<(rows * d)).map { _ in rng.uniform(-4, -0.5) }         // log-scales inside (−4.5, 0)
        // Rows are [ℓ | λ]: interleave the two halves per row.
        var input: [Double] = []
        for r in 0..<rows {
            let means: [Double] = Array(pre[(r * d)..<((r + 1) * d)])
            let scales: [Double] = Array(pre[(rows * d + r * d)..<(rows * d + (r + 1) * d)])
            input += means + scales
        }
        var scratch = [Double](repeating: 0, count: 8 * d)
        check(input, rows: rows, forward: { p in
            var out = [0.0, 0]
            DiscretizedLogistic.logLikelihood(rows: rows, dimension: d, x: x, pre: p, into: &out, upstream: nil, dPre: nil, scratch: &scratch)
            return out
        }, vjp: { g, p in
            var out = [0.0, 0], dp = [Double](repeating: 0, count: rows * 2 * d)
            DiscretizedLogistic.logLikelihood(rows: rows, dimension: d, x: x, pre: p, into: &out, upstream: g, dPre: &dp, scratch: &scratch)
            return dp
        })
    }

    /// The 256 bins sum to 1 for any mean and scale, including the clamped extremes.
    func testDiscretizedLogistic_IsAProperDistribution() {
        for (meanLogit, logScale) in [(0.0, -2.0), (-8.0, -4.5), (8.0, 0.0), (1.3, -0.7), (-0.2, -3.9)] {
            let x = (0..<256).map { (Double($0) + 0.5) / 256 }
            let pre = (0..<256).flatMap { _ in [meanLogit] } + (0..<256).map { _ in logScale }
            var out = [0.0], scratch = [Double](repeating: 0, count: 8 * 256)
            var total = 0.0
            for v in 0..<256 {
                DiscretizedLogistic.logLikelihood(rows: 1, dimension: 1, x: [x[v]], pre: [pre[v], pre[256 + v]], into: &out,
                                                  upstream: nil, dPre: nil, scratch: &scratch)
                total += exp(out[0])
            }
            assertClose(total, 1, rtol: 1e-12, "μ logit \(meanLogit), log-scale \(logScale)")
        }
    }

    /// The GEMM-built mixture log-density equals the direct `[B, K, M]` sum, and its gradient
    /// matches finite differences with respect to z, the means and the log-variances.
    func testGaussianMixture_ValueAndGradients() {
        let rows = 3, k = 4, m = 2
        let mixture = GaussianMixture<Double>(components: k, dimension: m)
        let z = rng.normals(rows * m), mu = rng.normals(k * m), lv = rng.normals(k * m, scale: 0.5)
        func forward(_ v: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: rows)
            let (zz, mm, ll) = (Array(v[0..<(rows * m)]), Array(v[(rows * m)..<(rows * m + k * m)]), Array(v[(rows * m + k * m)...]))
            mixture.logDensity(rows: rows, z: zz, ldz: m, means: mm, logvars: ll, lds: m, into: &out)
            return out
        }
        let direct = (0..<rows).map { b -> Double in
            let terms = (0..<k).map { c -> Double in
                var s = 0.0
                for j in 0..<m {
                    let diff = z[b * m + j] - mu[c * m + j]
                    s -= 0.5 * (log(2 * .pi) + lv[c * m + j] + diff * diff / exp(lv[c * m + j]))
                }
                return s
            }
            let top = terms.max()!
            return top + log(terms.map { exp($0 - top) }.reduce(0, +)) - log(Double(k))
        }
        assertClose(forward(z + mu + lv), direct, rtol: 1e-12)
        check(z + mu + lv, rows: rows, forward: forward, vjp: { g, v in
            _ = forward(v)
            let (zz, mm) = (Array(v[0..<(rows * m)]), Array(v[(rows * m)..<(rows * m + k * m)]))
            var dz = [Double](repeating: 0, count: rows * m), dm = [Double](repeating: 0, count: k * m), dl = dm
            mixture.backward(upstream: g, z: zz, ldz: m, means: mm, lds: m, dz: &dz, dMeans: &dm, dLogvars: &dl)
            return dz + dm + dl
        })
    }

    func testHardtanh_ForwardAndBackward() {
        var x: [Double] = [-7, -6, -1, 2, 3]
        Activation.hardtanh(&x, count: 5, lower: -6, upper: 2)
        XCTAssertEqual(x, [-6, -6, -1, 2, 2])
        var g: [Double] = [1, 1, 1, 1, 1]
        Activation.hardtanhBackward(&g, output: x, count: 5, lower: -6, upper: 2)
        XCTAssertEqual(g, [0, 0, 1, 0, 0])
    }
}
