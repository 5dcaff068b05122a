import Tensor

/// Log-densities the models use, each with its gradient beside it. All work row-wise on
/// `[rows, M]` matrices with an explicit leading dimension and sum over the M columns.
public enum LogDensity {
    /// `½·log 2π`.
    public static let halfLog2Pi = 0.91893853320467274178

    /// Diagonal Gaussian, summed over a row:
    /// ```
    /// log N(x; μ, e^lv) = Σ_m −½·(log 2π + lv_m + (x_m − μ_m)² · e^(−lv_m))
    /// ```
    /// Backward, given `g_r = ∂L/∂out[r]`, adds into `dx`, `dMean`, `dLogvar` (each may be nil):
    /// ```
    /// ∂/∂x = −g·(x − μ)·e^(−lv),  ∂/∂μ = +g·(x − μ)·e^(−lv),  ∂/∂lv = g·(−½ + ½·(x − μ)²·e^(−lv))
    /// ```
    /// - Parameters:
    ///   - x: `[rows, M]` with leading dimension `ldx`.
    ///   - stats: `[rows, 2M]`: each row is `μ` then `lv`, leading dimension `lds`.
    ///   - out: `[rows]`.
    @inlinable
    public static func normalDiagonal<T: Scalar>(rows: Int, dimension m: Int,
                                                 x: UnsafePointer<T>, ldx: Int,
                                                 stats: UnsafePointer<T>, lds: Int,
                                                 into out: UnsafeMutablePointer<T>) {
        let c = T(halfLog2Pi)
        for r in 0..<rows {
            let xr = x + r * ldx, mu = stats + r * lds, lv = mu + m
            var s: T = 0
            for j in 0..<m {
                let d = xr[j] - mu[j]
                s -= c + lv[j] / 2 + d * d * T.fastExp(-lv[j]) / 2
            }
            out[r] = s
        }
    }

    /// Backward of `normalDiagonal`; see there. `dStats` rows are `∂μ` then `∂lv`.
    @inlinable
    public static func normalDiagonalBackward<T: Scalar>(rows: Int, dimension m: Int,
                                                         upstream g: UnsafePointer<T>,
                                                         x: UnsafePointer<T>, ldx: Int,
                                                         stats: UnsafePointer<T>, lds: Int,
                                                         dx: UnsafeMutablePointer<T>?,
                                                         dStats: UnsafeMutablePointer<T>?) {
        for r in 0..<rows {
            let xr = x + r * ldx, mu = stats + r * lds, lv = mu + m, gr = g[r]
            for j in 0..<m {
                let d = xr[j] - mu[j]
                let p = T.fastExp(-lv[j])
                let dd = gr * d * p
                if let dx = dx { dx[r * ldx + j] -= dd }
                if let ds = dStats {
                    ds[r * lds + j] += dd
                    ds[r * lds + m + j] += gr * (d * d * p - 1) / 2
                }
            }
        }
    }

    /// Standard normal, summed over a row: `log N(x; 0, I) = Σ_m −½·(log 2π + x_m²)`.
    @inlinable
    public static func standardNormal<T: Scalar>(rows: Int, dimension m: Int, x: UnsafePointer<T>, ldx: Int,
                                                 into out: UnsafeMutablePointer<T>) {
        let c = T(halfLog2Pi)
        for r in 0..<rows {
            var s: T = 0
            for j in 0..<m { let v = x[r * ldx + j]; s -= c + v * v / 2 }
            out[r] = s
        }
    }

    /// Backward of `standardNormal`: `dx += −g·x`.
    @inlinable
    public static func standardNormalBackward<T: Scalar>(rows: Int, dimension m: Int, upstream g: UnsafePointer<T>,
                                                         x: UnsafePointer<T>, ldx: Int, dx: UnsafeMutablePointer<T>) {
        for r in 0..<rows { for j in 0..<m { dx[r * ldx + j] -= g[r] * x[r * ldx + j] } }
    }

    /// Bernoulli from logits, summed over a row, stable for any |ℓ|:
    /// ```
    /// log p(x | ℓ) = Σ_d x_d·ℓ_d − softplus(ℓ_d)
    /// ```
    /// Backward: `∂/∂ℓ = g·(x − σ(ℓ))`, written (not added) into `dLogits` when given.
    /// - Parameters:
    ///   - x: `[rows, D]` targets in [0, 1].
    ///   - logits: `[rows, D]`.
    ///   - scratch: `[D]`.
    @inlinable
    public static func bernoulli<T: Scalar>(rows: Int, dimension d: Int, x: UnsafePointer<T>,
                                            logits: UnsafePointer<T>, into out: UnsafeMutablePointer<T>,
                                            scratch: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            let xr = x + r * d, lr = logits + r * d
            T.softplus(lr, scratch, count: d)
            var s: T = 0
            for j in 0..<d { s += xr[j] * lr[j] - scratch[j] }
            out[r] = s
        }
    }

    /// Gradient of `bernoulli`: `dLogits[r, d] = g_r·(x − σ(ℓ))`.
    @inlinable
    public static func bernoulliBackward<T: Scalar>(rows: Int, dimension d: Int, upstream g: UnsafePointer<T>,
                                                    x: UnsafePointer<T>, logits: UnsafePointer<T>,
                                                    dLogits: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            let o = r * d
            T.sigmoid(logits + o, dLogits + o, count: d)
            for j in 0..<d { dLogits[o + j] = g[r] * (x[o + j] - dLogits[o + j]) }
        }
    }
}
