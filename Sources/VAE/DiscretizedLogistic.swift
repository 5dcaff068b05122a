import Tensor

/// The 256-bin discretized logistic likelihood for grey images, as a proper distribution.
///
/// Pixel values are `x = (v + ½)/256` for `v ∈ 0…255`; bin `v` covers `[v/256, (v+1)/256]`.
/// ```
/// μ = clamp(σ(ℓ), 1/512, 1 − 1/512)          // mean, from the decoder's "mean" head
/// s = hardtanh(λ, −4.5, 0)                    // log-scale, from the "logscale" head
/// a = (x + 1/512 − μ)·e^(−s),  b = (x − 1/512 − μ)·e^(−s)
/// P(v) = σ(a) − σ(b)          for 0 < v < 255
/// P(0) = σ(a),  P(255) = 1 − σ(b)              // the edge bins take the tail mass
/// log P(v) = b + log(expm1(a − b)) − softplus(a) − softplus(b)     (stable form)
/// ```
/// So `Σ_v P(v) = 1` exactly. This differs from the authors' `log_Logistic_256`, which floors x,
/// gives the edge bins no tail mass (so the bins sum to less than 1) and adds 1e-7 inside the log.
public enum DiscretizedLogistic {
    public static let logScaleRange: ClosedRange<Double> = -4.5 ... 0
    public static let halfBin = 1.0 / 512

    /// Log-likelihood per row and, when `dPre` is given, its gradient with respect to the
    /// pre-activations scaled by `upstream[r]`.
    /// - Parameters:
    ///   - x: `[rows, D]` pixel values `(v + ½)/256`.
    ///   - pre: `[rows, 2D]`: each row is the mean logits ℓ then the log-scale pre-activations λ.
    ///   - out: `[rows]`, `Σ_d log P(x_d)`.
    ///   - dPre: `[rows, 2D]` written with `upstream[r] · ∂out[r]/∂pre`, or nil.
    ///   - scratch: at least `8·D` elements.
    @inlinable
    public static func logLikelihood<T: Scalar>(rows: Int, dimension d: Int, x: UnsafePointer<T>,
                                                pre: UnsafePointer<T>, into out: UnsafeMutablePointer<T>,
                                                upstream: UnsafePointer<T>?, dPre: UnsafeMutablePointer<T>?,
                                                scratch: UnsafeMutablePointer<T>) {
        let lo = T(halfBin), hi = 1 - T(halfBin)
        let sMin = T(logScaleRange.lowerBound), sMax = T(logScaleRange.upperBound)
        let mu = scratch, inv = scratch + d, a = scratch + 2 * d, b = scratch + 3 * d
        let spa = scratch + 4 * d, spb = scratch + 5 * d, em = scratch + 6 * d, t = scratch + 7 * d
        for r in 0..<rows {
            let xr = x + r * d, l = pre + r * 2 * d, lam = l + d
            T.sigmoid(l, mu, count: d)
            for j in 0..<d {
                mu[j] = Swift.min(Swift.max(mu[j], lo), hi)
                inv[j] = -Swift.min(Swift.max(lam[j], sMin), sMax)
            }
            T.exp(inv, inv, count: d)                                   // e^(−s)
            for j in 0..<d {
                a[j] = (xr[j] + lo - mu[j]) * inv[j]
                b[j] = (xr[j] - lo - mu[j]) * inv[j]
                em[j] = a[j] - b[j]
            }
            T.softplus(a, spa, count: d)
            T.softplus(b, spb, count: d)
            T.expm1(em, em, count: d)                                   // expm1(a − b)
            T.log(em, t, count: d)                                      // log expm1(a − b)
            var s: T = 0
            for j in 0..<d {
                let v = binIndex(xr[j])
                if v == 0 { s -= spa[j] - a[j] }                          // log σ(a) = −softplus(−a)
                else if v == 255 { s -= spb[j] }                           // log(1 − σ(b))
                else { s += b[j] + t[j] - spa[j] - spb[j] }
            }
            out[r] = s
            guard let dp = dPre, let g = upstream?[r] else { continue }
            backwardRow(d: d, x: xr, l: l, lam: lam, scratch: scratch, g: g,
                        dMean: dp + r * 2 * d, dScale: dp + r * 2 * d + d)
        }
    }

    /// The bin of a pixel value `x = (v + ½)/256`.
    @inlinable static func binIndex<T: Scalar>(_ x: T) -> Int {
        let v = (x * 256 - T(0.5)).rounded()
        return v <= 0 ? 0 : (v >= 255 ? 255 : Int(v))
    }

    /// One row's gradient, reusing the forward's scratch (μ, e^(−s), a, b, expm1(a − b)).
    /// ```
    /// interior: ∂/∂a = e^d/expm1(d) − σ(a),  ∂/∂b = 1 − e^d/expm1(d) − σ(b),  d = a − b
    /// v = 0:    ∂/∂a = 1 − σ(a);   v = 255:  ∂/∂b = −σ(b)
    /// ∂/∂μ = −(∂a + ∂b)·e^(−s),   ∂/∂s = −(∂a·a + ∂b·b)
    /// ```
    @inlinable
    static func backwardRow<T: Scalar>(d: Int, x: UnsafePointer<T>, l: UnsafePointer<T>, lam: UnsafePointer<T>,
                                       scratch: UnsafeMutablePointer<T>, g: T,
                                       dMean: UnsafeMutablePointer<T>, dScale: UnsafeMutablePointer<T>) {
        let lo = T(halfBin), hi = 1 - T(halfBin)
        let sMin = T(logScaleRange.lowerBound), sMax = T(logScaleRange.upperBound)
        let inv = scratch + d, a = scratch + 2 * d, b = scratch + 3 * d
        let sa = scratch + 4 * d, sb = scratch + 5 * d, em = scratch + 6 * d, sl = scratch + 7 * d
        T.sigmoid(a, sa, count: d)                                      // overwrites softplus(a)
        T.sigmoid(b, sb, count: d)
        T.sigmoid(l, sl, count: d)                                      // σ(ℓ) before the clamp
        for j in 0..<d {
            let v = binIndex(x[j])
            var da: T = 0, db: T = 0
            if v == 0 { da = 1 - sa[j] }
            else if v == 255 { db = -sb[j] }
            else {
                let ratio = (em[j] + 1) / em[j]                             // e^d / expm1(d)
                da = ratio - sa[j]
                db = 1 - ratio - sb[j]
            }
            let s = sl[j]
            let dmu = -(da + db) * inv[j]
            dMean[j] = (s >= lo && s <= hi) ? g * dmu * s * (1 - s) : 0
            let ds = -(da * a[j] + db * b[j])
            dScale[j] = (lam[j] > sMin && lam[j] < sMax) ? g * ds : 0
        }
    }
}
