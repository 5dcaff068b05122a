import Tensor

/// The log-density of an equally weighted mixture of K diagonal Gaussians, built from GEMMs
/// instead of a `[B, K, M]` temporary.
///
/// ```
/// log p(z) = logsumexp_k log N(z; μ_k, e^(lv_k)) − log K
/// log N(z_b; μ_k, ·) = −½·(M·log 2π + c_k + A[b,k] − 2·C[b,k])
///   P = e^(−lv)                            // [K, M] precisions
///   c_k = Σ_m lv_km + μ_km²·P_km           // [K]
///   A − 2C = [z∘z | z] · [P | −2·μ∘P]ᵀ      // one GEMM, [B, 2M]·[2M, K]
/// ```
/// Backward, with `R[b,k] = g_b · softmax_k(log N[b,·])` and `s_k = Σ_b R[b,k]`:
/// ```
/// [RP | RμP] = R · [P | μ∘P]               // [B, K]·[K, 2M]
/// ∂z   += −z∘RP + RμP
/// [RZ² | RZ] = Rᵀ · [z∘z | z]               // [K, B]·[B, 2M]
/// ∂μ   += P∘(RZ − μ·s)
/// ∂lv  += ½·P∘(RZ² − 2μ∘RZ + μ²·s) − ½·s
/// ```
/// One instance keeps the workspaces of one batch; it does not allocate once warmed up.
public final class GaussianMixture<T: Scalar> {
    public let components: Int
    public let dimension: Int
    @usableFromInline let right = Workspace<T>()     // [K, 2M]: [P | −2μP], later [P | μP]
    @usableFromInline let constant = Workspace<T>()  // [K]
    @usableFromInline let left = Workspace<T>()      // [B, 2M]: [z∘z | z]
    @usableFromInline let weights = Workspace<T>()   // [B, K]: log N, then softmax, then R
    @usableFromInline let scratch = Workspace<T>()   // [max(K, 2M)·…]
    @usableFromInline var rows = 0

    public init(components: Int, dimension: Int) {
        precondition(components > 0 && dimension > 0)
        self.components = components
        self.dimension = dimension
    }

    /// Computes `out[b] = log p(z_b)` and keeps what `backward` needs.
    /// - Parameters:
    ///   - z: `[rows, M]`, leading dimension `ldz`.
    ///   - means, logvars: `[K, M]` each, leading dimension `lds`.
    ///   - out: `[rows]`.
    @inlinable
    public func logDensity(rows: Int, z: UnsafePointer<T>, ldz: Int,
                           means: UnsafePointer<T>, logvars: UnsafePointer<T>, lds: Int,
                           into out: UnsafeMutablePointer<T>) {
        let k = components, m = dimension
        self.rows = rows
        let rt = right.reserve(k * 2 * m), c = constant.reserve(k)
        for i in 0..<k {
            let mu = means + i * lds, lv = logvars + i * lds, row = rt + i * 2 * m
            for j in 0..<m { row[j] = -lv[j] }
            T.exp(row, row, count: m)                                   // P
            var s: T = 0
            for j in 0..<m {
                row[m + j] = -2 * mu[j] * row[j]                          // −2μP
                s += lv[j] + mu[j] * mu[j] * row[j]
            }
            c[i] = s
        }
        let lf = left.reserve(rows * 2 * m)
        for b in 0..<rows {
            for j in 0..<m { let v = z[b * ldz + j]; lf[b * 2 * m + j] = v * v; lf[b * 2 * m + m + j] = v }
        }
        let w = weights.reserve(rows * k)
        T.gemm(transA: false, transB: true, m: rows, n: k, k: 2 * m, alpha: -0.5, a: lf, lda: 2 * m,
               b: rt, ldb: 2 * m, beta: 0, c: w, ldc: k)                 // −½(A − 2C), [B, K]
        let base = -T(m) * T(LogDensity.halfLog2Pi)
        for b in 0..<rows { for i in 0..<k { w[b * k + i] += base - c[i] / 2 } }
        Reduce.logSumExp(rows: rows, columns: k, w, into: out, softmax: w, scratch: scratch.reserve(k))
        let logK = T.fastLog(T(k))
        for b in 0..<rows { out[b] -= logK }
    }

    /// Adds the gradients of `Σ_b g_b·log p(z_b)`; call after `logDensity` with the same inputs.
    /// - Parameters:
    ///   - upstream: `[rows]`, `g_b`.
    ///   - dz: `[rows, M]` (leading dimension `ldz`), added to.
    ///   - dMeans, dLogvars: `[K, M]` (leading dimension `lds`), added to.
    @inlinable
    public func backward(upstream g: UnsafePointer<T>, z: UnsafePointer<T>, ldz: Int,
                         means: UnsafePointer<T>, lds: Int,
                         dz: UnsafeMutablePointer<T>,
                         dMeans: UnsafeMutablePointer<T>, dLogvars: UnsafeMutablePointer<T>) {
        backward(upstream: g, z: z, ldz: ldz, means: means, lds: lds, dz: dz, groups: 1,
                 rows: { _ in 0..<self.rows }, target: { _ in (dMeans, dLogvars) })
    }

    /// As the single-group form, with the rows cut into `groups` consecutive groups: `∂z` for every
    /// row, and the component gradients of group g (`rows(g)`) added into `target(g)`, summed over
    /// that group's rows only, exactly as a pass over those rows alone would.
    @inlinable
    public func backward(upstream g: UnsafePointer<T>, z: UnsafePointer<T>, ldz: Int,
                         means: UnsafePointer<T>, lds: Int, dz: UnsafeMutablePointer<T>, groups: Int,
                         rows groupRows: (Int) -> Range<Int>,
                         target: (Int) -> (dMeans: UnsafeMutablePointer<T>, dLogvars: UnsafeMutablePointer<T>)) {
        let k = components, m = dimension, rows = self.rows
        let rt = right.data, w = weights.data, lf = left.data
        for b in 0..<rows { for i in 0..<k { w[b * k + i] *= g[b] } }     // R, [B, K]
        for i in 0..<k { for j in 0..<m { rt[i * 2 * m + m + j] *= -0.5 } } // [P | μP]
        let out = scratch.reserve(Swift.max(rows, k) * 2 * m + k)
        T.gemm(transA: false, transB: false, m: rows, n: 2 * m, k: k, alpha: 1, a: w, lda: k,
               b: rt, ldb: 2 * m, beta: 0, c: out, ldc: 2 * m)            // [RP | RμP], [B, 2M]
        for b in 0..<rows {
            for j in 0..<m {
                let o = out + b * 2 * m
                dz[b * ldz + j] += o[m + j] - z[b * ldz + j] * o[j]
            }
        }
        for group in 0..<groups {
            let r = groupRows(group), (dMeans, dLogvars) = target(group)
            let wg = w + r.lowerBound * k
            T.gemm(transA: true, transB: false, m: k, n: 2 * m, k: r.count, alpha: 1, a: wg, lda: k,
                   b: lf + r.lowerBound * 2 * m, ldb: 2 * m, beta: 0, c: out, ldc: 2 * m)  // [RZ² | RZ], [K, 2M]
            let s = out + k * 2 * m
            for i in 0..<k { s[i] = 0 }
            Reduce.addColumnSums(rows: r.count, columns: k, wg, into: s)     // s_k
            for i in 0..<k {
                let p = rt + i * 2 * m, mu = means + i * lds, o = out + i * 2 * m
                for j in 0..<m {
                    let rz2 = o[j], rz = o[m + j], pj = p[j], mj = mu[j]
                    dMeans[i * lds + j] += pj * (rz - mj * s[i])
                    dLogvars[i * lds + j] += pj * (rz2 - 2 * mj * rz + mj * mj * s[i]) / 2 - s[i] / 2
                }
            }
        }
    }
}
