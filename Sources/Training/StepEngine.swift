import Tensor
import NN
import VAE

/// Where a step's reparameterisation noise comes from.
public enum Noise<T: Scalar> {
    /// Given, `[rows, noiseWidth]` (in-process only).
    case given(UnsafePointer<T>)
    /// Drawn per sample by key (seed, epoch, sample index, purpose), `indices` giving each batch
    /// row's sample index (`.reparameterization` in training, `.evaluation` otherwise).
    case keyed(seed: UInt64, epoch: Int, indices: UnsafePointer<Int>, purpose: RandomPurpose)
}

/// What computes a step's units and reduces them in the plan's fixed order: threads in this
/// process (`StepExecutor`) or worker processes (the cluster's coordinator). Both run the same
/// `Units` and the same `GradientReduction`, so the trained bits do not depend on which.
public protocol StepEngine<T>: AnyObject {
    associatedtype T: Scalar
    /// The last step's mean gradient `T((1/B)·Σ_units ∂loss/∂θ)`.
    var gradient: ParameterVector<T> { get }
    /// Whether every element of `gradient` is finite.
    var gradientIsFinite: Bool { get }

    /// One step's summed loss on `rows` images (`x`: `[rows, D]`); the mean gradient is left in
    /// `gradient`.
    func run(x: UnsafePointer<T>, rows: Int, beta: T, values: ParameterVector<T>, noise: Noise<T>) throws -> LossSums

    /// The loss of `rows` images without a gradient (validation and test ELBO).
    func evaluate(x: UnsafePointer<T>, rows: Int, beta: T, values: ParameterVector<T>, noise: Noise<T>) throws -> LossSums

    /// The importance-sampled log-likelihood of each image of each block, S samples keyed by
    /// (seed, image index, evaluation), the blocks computed side by side.
    /// - Parameter blocks: `(x [rows, D], index of the block's first image)`.
    func logLikelihoods(blocks: [(x: [T], firstImage: Int)], samples: Int, seed: UInt64,
                        values: ParameterVector<T>) throws -> [[Double]]

    /// Runs `body` on disjoint blocks of the whole parameter vector, side by side (the optimiser's
    /// element-wise update).
    func forEachParameterBlock(_ body: @escaping (Range<Int>) -> Void)
}
