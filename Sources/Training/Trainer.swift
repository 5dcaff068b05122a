import Foundation
import Tensor
import NN
import VAE

/// Errors a training step reports instead of applying a bad update.
public enum TrainingError: Error, LocalizedError, Equatable {
    /// The loss or the gradient stopped being finite; the parameters were left untouched.
    case nonFinite(step: Int, what: String)
    /// A stop was requested (SIGINT, SIGTERM); the state after `step` of `epoch` was saved.
    case interrupted(epoch: Int, step: Int)

    public var errorDescription: String? {
        switch self {
        case let .interrupted(epoch, step):
            return "stopped on request after step \(step) of epoch \(epoch); the state was saved"
        case let .nonFinite(step, what):
            return "step \(step): the \(what) is not finite (NaN or infinity); the update was not applied. "
                + "Try a smaller learning rate, or resume from the last good checkpoint."
        }
    }
}

/// The trainer's state: parameters, Adam moments and the executor that computes gradients.
///
/// One step on a batch of B images with global sample indices `i_b`:
/// ```
/// ε_b  = normals(key: (seed, epoch, i_b, reparameterization))      // [B, noiseWidth]
/// g    = T((1/B) · Σ_units ∂loss/∂θ)                                // fixed-order sum in Float64
/// θ    ← Adam(θ, g)
/// ```
public final class Trainer<T: Scalar> {
    public let model: LatentModel<T>
    public let values: ParameterVector<T>
    public let adam: Adam<T>
    /// What computes the gradients: in-process threads by default, or the cluster's workers.
    public let engine: any StepEngine<T>
    public let seed: UInt64

    /// Makes the engine for a model (a `StepExecutor` with `threads` threads unless given).
    public typealias EngineFactory = (LatentModel<T>, StepPlan) throws -> any StepEngine<T>

    public init(config: ModelConfig, plan: StepPlan = StepPlan(), threads: Int = 1, seed: UInt64 = 1,
                adam options: Adam<T>.Options = .init(), pseudoInputImages: Tensor<T>? = nil,
                engine makeEngine: EngineFactory? = nil) rethrows {
        model = LatentModel<T>.make(config)
        values = ParameterVector(layout: model.layout)
        model.initialize(values, seed: seed, pseudoInputImages: pseudoInputImages)
        adam = Adam(layout: model.layout, options: options)
        engine = try makeEngine?(model, plan) ?? StepExecutor(model: model, plan: plan, threads: threads)
        self.seed = seed
    }

    /// The current update's constants, and the closure each thread runs on its block of
    /// parameters (made once, so that a step allocates nothing).
    var coefficients: Adam<T>.StepCoefficients?
    lazy var applyUpdate: (Range<Int>) -> Void = { [unowned self] range in
        self.adam.apply(self.coefficients!, self.values, gradient: self.engine.gradient.data, range: range)
    }

    /// The reparameterisation noise of the given samples, `[rows, noiseWidth]`.
    public func fillNoise<C: Collection>(sampleIndices: C, epoch: Int, into out: UnsafeMutablePointer<T>) where C.Element == Int {
        let nw = model.noiseWidth
        for (r, i) in sampleIndices.enumerated() {
            Units.drawNoise(seed: seed, epoch: epoch, sample: i, purpose: .reparameterization, into: out + r * nw, count: nw)
        }
    }

    /// One Adam step on the batch `x` (`[rows, D]`) whose rows are the given global samples.
    /// - Throws: `TrainingError.nonFinite` without touching the parameters, or the engine's error.
    @discardableResult
    public func step(x: UnsafePointer<T>, sampleIndices: [Int], epoch: Int, beta: Double) throws -> LossSums {
        try sampleIndices.withUnsafeBufferPointer { try step(x: x, sampleIndices: $0, epoch: epoch, beta: beta) }
    }

    /// One Adam step; see `step(x:sampleIndices:epoch:beta:)`.
    @discardableResult
    public func step(x: UnsafePointer<T>, sampleIndices: UnsafeBufferPointer<Int>, epoch: Int, beta: Double) throws -> LossSums {
        let rows = sampleIndices.count
        let sums = try engine.run(x: x, rows: rows, beta: T(beta), values: values,
                                noise: .keyed(seed: seed, epoch: epoch, indices: sampleIndices.baseAddress!,
                                              purpose: .reparameterization))
        guard sums.loss.isFinite else { throw TrainingError.nonFinite(step: adam.step + 1, what: "loss") }
        guard engine.gradientIsFinite else {
            throw TrainingError.nonFinite(step: adam.step + 1, what: "gradient")
        }
        coefficients = adam.beginStep(gradient: engine.gradient.data)
        engine.forEachParameterBlock(applyUpdate)
        return sums
    }
}
