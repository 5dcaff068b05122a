import Foundation
import Tensor
import CKernels

/// Adam (Kingma & Ba 2015) with PyTorch's exact update, over a whole flat parameter vector.
///
/// ```
/// g ← g / (‖g‖₂ + 1e-7)        per parameter tensor, only with normalizeGradients ("AdamNormGrad")
/// g ← g + λ·θ                  only with weightDecay λ > 0 (L2, as torch.optim.Adam)
/// m ← m + (1 − β₁)·(g − m)   (torch's lerp form)
/// v ← β₂·v + (1 − β₂)·g²
/// θ ← θ − (η / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// ```
public final class Adam<T: Scalar> {
    public struct Options: Equatable, Sendable {
        public var learningRate: Double = 5e-4
        public var beta1: Double = 0.9
        public var beta2: Double = 0.999
        public var epsilon: Double = 1e-8
        public var weightDecay: Double = 0
        /// Divide each parameter tensor's gradient by its L2 norm first, as the authors' "AdamNormGrad".
        public var normalizeGradients = false
        public init() {}
    }

    public var options: Options
    /// Exponential moving average of gradients, laid out like the parameters.
    public let firstMoments: ParameterVector<T>
    /// Exponential moving average of squared gradients.
    public let secondMoments: ParameterVector<T>
    /// Number of updates applied so far.
    public var step: Int = 0

    public init(layout: ParameterLayout, options: Options = Options()) {
        self.options = options
        firstMoments = ParameterVector(layout: layout)
        secondMoments = ParameterVector(layout: layout)
    }

    /// Applies one update to `parameters` with `gradient` (normalised in place with
    /// `normalizeGradients`).
    public func update(_ parameters: ParameterVector<T>, gradient: ParameterVector<T>) {
        precondition(gradient.layout === firstMoments.layout, "Adam: gradient uses another layout")
        let c = beginStep(gradient: gradient.data)
        apply(c, parameters, gradient: gradient.data, range: 0..<parameters.layout.count)
    }

    /// The per-step constants of an update.
    public struct StepCoefficients {
        let b1: T, b2: T, stepSize: T, bc2Sqrt: T, eps: T, wd: T
    }

    /// Starts update t+1: counts the step, normalises each tensor's gradient if asked, and
    /// returns the constants that `apply` uses on any split of the elements.
    public func beginStep(gradient: UnsafeMutablePointer<T>) -> StepCoefficients {
        step += 1
        if options.normalizeGradients {
            for e in firstMoments.layout.entries { normalize(gradient + e.offset, count: e.count) }
        }
        let bc1 = 1 - pow(options.beta1, Double(step))
        let bc2 = 1 - pow(options.beta2, Double(step))
        return StepCoefficients(b1: T(options.beta1), b2: T(options.beta2), stepSize: T(options.learningRate / bc1),
                                bc2Sqrt: T(bc2.squareRoot()), eps: T(options.epsilon), wd: T(options.weightDecay))
    }

    /// The update of elements `range`; disjoint ranges may run on different threads.
    public func apply(_ c: StepCoefficients, _ parameters: ParameterVector<T>, gradient: UnsafePointer<T>,
                      range: Range<Int>) {
        precondition(parameters.layout === firstMoments.layout, "Adam: parameters use another layout")
        let n = range.count, o = range.lowerBound
        let theta = parameters.data + o, m = firstMoments.data + o, v = secondMoments.data + o, g = gradient + o
        if T.self == Float.self {
            theta.withMemoryRebound(to: Float.self, capacity: n) { th in
                m.withMemoryRebound(to: Float.self, capacity: n) { mf in
                    v.withMemoryRebound(to: Float.self, capacity: n) { vf in
                        g.withMemoryRebound(to: Float.self, capacity: n) { gf in
                            largevae_adam_f32(n, gf, th, mf, vf, Float(c.b1), Float(c.b2), Float(c.stepSize),
                                              Float(c.bc2Sqrt), Float(c.eps), Float(c.wd))
                        }
                    }
                }
            }
            return
        }
        for i in 0..<n {
            var gi = g[i]
            if c.wd != 0 { gi += c.wd * theta[i] }
            m[i] += (1 - c.b1) * (gi - m[i])
            v[i] = v[i] * c.b2 + (1 - c.b2) * gi * gi
            let denom = v[i].squareRoot() / c.bc2Sqrt + c.eps
            theta[i] -= c.stepSize * (m[i] / denom)
        }
    }

    /// `g ← g / (‖g‖₂ + 1e-7)`, the norm accumulated in Float64.
    @usableFromInline func normalize(_ g: UnsafeMutablePointer<T>, count: Int) {
        var s: Double = 0
        for i in 0..<count { let x = Double(g[i]); s += x * x }
        let inv = T(1 / (s.squareRoot() + 1e-7))
        for i in 0..<count { g[i] *= inv }
    }
}
