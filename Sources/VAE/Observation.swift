import Tensor
import NN

/// p(x | h): the decoder's last affine map and the likelihood of the pixels.
///
/// ```
/// bernoulli:    ℓ = h·W_meanᵀ + b                      log p(x|h) = Σ_d x_d·ℓ_d − softplus(ℓ_d)
/// logistic256:  [ℓ | λ] = h·[W_mean; W_logscale]ᵀ + b   log p(x|h) = Σ_d log P_disc(x_d; ℓ_d, λ_d)
/// ```
public final class Observation<T: Scalar> {
    public let likelihood: Likelihood
    public let head: Linear<T>
    @usableFromInline let preGradient = Workspace<T>()   // [B, width]
    @usableFromInline let scratch = Workspace<T>()
    @usableFromInline let ones = Workspace<T>()

    /// Registers `prefix.mean` (and `prefix.logscale` for the logistic).
    public init(_ prefix: String, hidden: Int, pixels: Int, likelihood: Likelihood, layout: ParameterLayout) {
        self.likelihood = likelihood
        head = Linear(prefix, inputs: hidden, outputs: pixels,
                      heads: likelihood == .bernoulli ? ["mean"] : ["mean", "logscale"], layout: layout)
    }

    public init(sharing other: Observation<T>) {
        likelihood = other.likelihood
        head = Linear(sharing: other.head)
    }

    @inlinable public var pixels: Int { head.outputs }

    /// `out[r] = log p(x_r | h_r)`; with `gradient`, also keeps `−∂out[r]/∂pre` for `backward`
    /// (the reconstruction term enters the loss with a minus sign).
    /// - Parameters:
    ///   - x: `[rows, D]`; h: `[rows, H]`, valid until `backward`; out: `[rows]`.
    @inlinable
    public func forward(x: UnsafePointer<T>, h: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>,
                        into out: UnsafeMutablePointer<T>, gradient: Bool) {
        let d = pixels
        let pre = head.forward(h, rows: rows, p).data
        let tmp = scratch.reserve(8 * d)
        let dPre = gradient ? preGradient.reserve(rows * head.width) : nil
        switch likelihood {
        case .bernoulli:
            LogDensity.bernoulli(rows: rows, dimension: d, x: x, logits: pre, into: out, scratch: tmp)
            if let dp = dPre {
                let g = ones.reserve(rows)
                for r in 0..<rows { g[r] = -1 }
                LogDensity.bernoulliBackward(rows: rows, dimension: d, upstream: g, x: x, logits: pre, dLogits: dp)
            }
        case .logistic256:
            let g = ones.reserve(rows)
            for r in 0..<rows { g[r] = -1 }
            DiscretizedLogistic.logLikelihood(rows: rows, dimension: d, x: x, pre: pre, into: out,
                                              upstream: g, dPre: dPre, scratch: tmp)
        }
    }

    /// Adds the head's parameter gradients and writes `∂L/∂h` for `L = −Σ_r log p(x_r|h_r)`.
    @inlinable
    public func backward(_ p: ParameterAccess<T>, hiddenGradient: UnsafeMutablePointer<T>) {
        head.backward(preGradient.data, p, inputGradient: hiddenGradient)
    }

    /// The mean image E[x | h] after the last `forward`, written into `out` `[rows, D]`:
    /// `σ(ℓ)`, clamped to [1/512, 1 − 1/512] for the logistic.
    @inlinable
    public func mean(into out: UnsafeMutablePointer<T>) {
        let d = pixels, rows = head.rows, w = head.width, pre = head.output.data
        for r in 0..<rows { T.sigmoid(pre + r * w, out + r * d, count: d) }
        if likelihood == .logistic256 {
            let lo = T(DiscretizedLogistic.halfBin), hi = 1 - lo
            for i in 0..<(rows * d) { out[i] = Swift.min(Swift.max(out[i], lo), hi) }
        }
    }
}
