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

    /// Applies one update to `parameters` with `gradient` (modified in place when normalising).
    public func update(_ parameters: ParameterVector<T>, gradient: ParameterVector<T>) {
        precondition(gradient.layout === firstMoments.layout, "Adam: gradient uses another layout")
        let n = gradient.layout.count
        let g = UnsafeMutablePointer<Double>.allocate(capacity: n)
        defer { g.deallocate() }
        for i in 0..<n { g[i] = Double(gradient.data[i]) }
        update(parameters, gradientSum: g, scale: 1)
        if options.normalizeGradients { for i in 0..<n { gradient.data[i] = T(g[i]) } }
    }

    /// Applies one update with the gradient `scale · gradientSum` (a step's summed unit gradients
    /// in Float64 and 1/B), converting to `T` element by element inside the update loop.
    public func update(_ parameters: ParameterVector<T>, gradientSum: UnsafeMutablePointer<Double>, scale: Double) {
        let c = beginStep(gradientSum: gradientSum, scale: scale)
        apply(c, parameters, gradientSum: gradientSum, range: 0..<parameters.layout.count)
    }

    /// The per-step constants of an update.
    public struct StepCoefficients {
        let scale: Double
        let b1: T, b2: T, stepSize: T, bc2Sqrt: T, eps: T, wd: T
    }

    /// Starts update t+1: counts the step, normalises per tensor if asked, and returns the
    /// constants that `apply` uses on any split of the elements.
    public func beginStep(gradientSum: UnsafeMutablePointer<Double>, scale: Double) -> StepCoefficients {
        step += 1
        if options.normalizeGradients {
            for e in firstMoments.layout.entries { normalize(gradientSum + e.offset, count: e.count, scale: scale) }
        }
        let bc1 = 1 - pow(options.beta1, Double(step))
        let bc2 = 1 - pow(options.beta2, Double(step))
        return StepCoefficients(scale: options.normalizeGradients ? 1 : scale,
                                b1: T(options.beta1), b2: T(options.beta2), stepSize: T(options.learningRate / bc1),
                                bc2Sqrt: T(bc2.squareRoot()), eps: T(options.epsilon), wd: T(options.weightDecay))
    }

    /// The update of elements `range`; disjoint ranges may run on different threads.
    public func apply(_ c: StepCoefficients, _ parameters: ParameterVector<T>, gradientSum: UnsafeMutablePointer<Double>,
                      range: Range<Int>) {
        precondition(parameters.layout === firstMoments.layout, "Adam: parameters use another layout")
        let n = range.count, o = range.lowerBound
        let theta = parameters.data + o, m = firstMoments.data + o, v = secondMoments.data + o, sum = gradientSum + o
        if T.self == Float.self {
            theta.withMemoryRebound(to: Float.self, capacity: n) { th in
                m.withMemoryRebound(to: Float.self, capacity: n) { mf in
                    v.withMemoryRebound(to: Float.self, capacity: n) { vf in
                        largevae_adam_f32(n, sum, c.scale, th, mf, vf, Float(c.b1), Float(c.b2), Float(c.stepSize),
                                          Float(c.bc2Sqrt), Float(c.eps), Float(c.wd))
                    }
                }
            }
            return
        }
        for i in 0..<n {
            var g = T(sum[i] * c.scale)
            if c.wd != 0 { g += c.wd * theta[i] }
            m[i] += (1 - c.b1) * (g - m[i])
            v[i] = v[i] * c.b2 + (1 - c.b2) * g * g
            let denom = v[i].squareRoot() / c.bc2Sqrt + c.eps
            theta[i] -= c.stepSize * (m[i] / denom)
        }
    }

    /// `g ← (scale·g) / (‖scale·g‖₂ + 1e-7)`, in Float64.
    @usableFromInline func normalize(_ g: UnsafeMutablePointer<Double>, count: Int, scale: Double) {
        var s: Double = 0
        for i in 0..<count { let x = g[i] * scale; s += x * x }
        let inv = scale / (s.squareRoot() + 1e-7)
        for i in 0..<count { g[i] *= inv }
    }
}
