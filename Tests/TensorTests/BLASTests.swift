import XCTest
import Tensor
import TestSupport

final class BLASTests: XCTestCase {
    /// Every transpose combination of GEMM, with leading dimensions wider than the matrices,
    /// against a naive triple loop.
    func testGemm_AllTransposesMatchNaive() {
        var rng = FixtureRandom(seed: 3)
        let (m, n, k) = (5, 4, 3)
        for transA in [false, true] {
            for transB in [false, true] {
                let (ar, ac) = transA ? (k, m) : (m, k), (br, bc) = transB ? (n, k) : (k, n)
                let lda = ac + 2, ldb = bc + 1, ldc = n + 3
                let a = rng.normals(ar * lda), b = rng.normals(br * ldb)
                var c = rng.normals(m * ldc)
                var expected = c
                for i in 0..<m {
                    for j in 0..<n {
                        var s = 0.0
                        for p in 0..<k {
                            let av = transA ? a[p * lda + i] : a[i * lda + p]
                            let bv = transB ? b[j * ldb + p] : b[p * ldb + j]
                            s += av * bv
                        }
                        expected[i * ldc + j] = 0.5 * s + 2 * c[i * ldc + j]
                    }
                }
                Double.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda,
                            b: b, ldb: ldb, beta: 2, c: &c, ldc: ldc)
                assertClose(c, expected, rtol: 1e-12, atol: 1e-12, "transA \(transA) transB \(transB)")
                let af = a.map(Float.init), bf = b.map(Float.init)
                var cf = expected.map { _ in Float(0) }
                Float.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: af, lda: lda,
                           b: bf, ldb: ldb, beta: 0, c: &cf, ldc: ldc)
                XCTAssertTrue(cf.allSatisfy(\.isFinite))
            }
        }
    }
}

final class ReductionTests: XCTestCase {
    /// Pairwise summation keeps 1e7 copies of 0.1 in Float to ~1e-6 relative; a naive loop drifts by ~1e-1.
    func testSum_PairwiseIsStable() {
        let n = 10_000_000
        let x = [Float](repeating: 0.1, count: n)
        let s = x.withUnsafeBufferPointer { Reduce.sum($0.baseAddress!, count: n) }
        assertClose(Double(s), 1e6, rtol: 1e-6)
    }

    /// log-sum-exp of huge and tiny values, with its softmax, against the closed form.
    func testLogSumExp_StableAndNormalised() {
        let x: [Double] = [1000, 1000 + log(3.0), -1e9, -.infinity]
        var out = [0.0], soft = [Double](repeating: 0, count: 4), scratch = soft
        Reduce.logSumExp(rows: 1, columns: 4, x, into: &out, softmax: &soft, scratch: &scratch)
        assertClose(out[0], 1000 + log(4.0), rtol: 1e-15)
        assertClose(soft, [0.25, 0.75, 0, 0], atol: 1e-15)
        var f: [Float] = [0]
        var fs = [Float](repeating: 0, count: 3)
        Reduce.logSumExp(rows: 1, columns: 3, [Float](arrayLiteral: -200, -200, -200), into: &f, scratch: &fs)
        assertClose(Double(f[0]), -200 + log(3.0), rtol: 1e-6)
    }
}
