import Foundation
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

/// A step or evaluation given up before it completed because a stop was requested (a
/// coordinator does not wait for its workers then: they may be gone too). Nothing of it was
/// applied; the run's state is that of its last completed step.
public struct StepAbandoned: Error, LocalizedError, Equatable {
    public init() {}
    public var errorDescription: String? { "stopped on request: the step in progress was given up, nothing of it applied" }
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

    /// Where the last step's time and traffic went, for engines that distribute the step.
    var stepMetrics: StepMetrics? { get }
}

extension StepEngine {
    public var stepMetrics: StepMetrics? { nil }
}

/// One distributed step's time split and traffic (an epoch record holds their means).
///
/// ```
/// seconds = compute + communication + update      (wall time of the step, coordinator's view)
/// compute = Σ units' worker compute time / workers
/// update  = reduction + optimiser at the coordinator, once the last unit is in
/// early   = reduction done while the last units still ran (within `communication`: the step does not wait for it)
/// ```
public struct StepMetrics: Codable, Equatable, Sendable {
    public var seconds = 0.0
    public var computeSeconds = 0.0
    public var communicationSeconds = 0.0
    public var updateSeconds = 0.0
    /// The part of the reduction done while the step's last units were still out (VampPrior: the
    /// elements no prior unit touches, on the core the first finished one left free).
    public var earlyReductionSeconds = 0.0
    /// Coordinator time spent building messages (parameters and unit payloads).
    public var serializationSeconds = 0.0
    public var bytesSent = 0.0
    public var bytesReceived = 0.0
    /// Bytes that moved through shared memory instead of the socket (parameters and results).
    public var sharedBytes = 0.0
    public var workers = 0.0

    public init() {}

    /// Decodes metrics lines written before `sharedBytes` or `earlyReductionSeconds` existed as
    /// well (0 there).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seconds = try c.decode(Double.self, forKey: .seconds)
        computeSeconds = try c.decode(Double.self, forKey: .computeSeconds)
        communicationSeconds = try c.decode(Double.self, forKey: .communicationSeconds)
        updateSeconds = try c.decode(Double.self, forKey: .updateSeconds)
        serializationSeconds = try c.decode(Double.self, forKey: .serializationSeconds)
        bytesSent = try c.decode(Double.self, forKey: .bytesSent)
        bytesReceived = try c.decode(Double.self, forKey: .bytesReceived)
        sharedBytes = try c.decodeIfPresent(Double.self, forKey: .sharedBytes) ?? 0
        earlyReductionSeconds = try c.decodeIfPresent(Double.self, forKey: .earlyReductionSeconds) ?? 0
        workers = try c.decode(Double.self, forKey: .workers)
    }

    /// The element-wise sum (for means over an epoch).
    public static func + (a: StepMetrics, b: StepMetrics) -> StepMetrics {
        var s = StepMetrics()
        s.seconds = a.seconds + b.seconds
        s.computeSeconds = a.computeSeconds + b.computeSeconds
        s.communicationSeconds = a.communicationSeconds + b.communicationSeconds
        s.updateSeconds = a.updateSeconds + b.updateSeconds
        s.earlyReductionSeconds = a.earlyReductionSeconds + b.earlyReductionSeconds
        s.serializationSeconds = a.serializationSeconds + b.serializationSeconds
        s.bytesSent = a.bytesSent + b.bytesSent
        s.bytesReceived = a.bytesReceived + b.bytesReceived
        s.sharedBytes = a.sharedBytes + b.sharedBytes
        s.workers = a.workers + b.workers
        return s
    }

    /// Every field divided by `n`.
    public func scaled(by n: Double) -> StepMetrics {
        var s = self
        s.seconds /= n; s.computeSeconds /= n; s.communicationSeconds /= n; s.updateSeconds /= n; s.earlyReductionSeconds /= n; s.serializationSeconds /= n
        s.bytesSent /= n; s.bytesReceived /= n; s.sharedBytes /= n; s.workers /= n
        return s
    }
}
