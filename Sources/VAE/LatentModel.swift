import Tensor
import NN

/// Sums over the rows of a unit: the parts of the loss `RE + β·KL`.
public struct LossSums: Equatable, Sendable {
    /// `Σ −log p(x|z)`.
    public var reconstruction: Double = 0
    /// `Σ log q(z|x) − log p(z)` (single-sample estimate).
    public var kl: Double = 0
    /// `Σ RE + β·KL`.
    public var loss: Double = 0
    /// Rows summed.
    public var count: Int = 0
    public init() {}
    public static func + (a: LossSums, b: LossSums) -> LossSums {
        var s = LossSums()
        s.reconstruction = a.reconstruction + b.reconstruction
        s.kl = a.kl + b.kl
        s.loss = a.loss + b.loss
        s.count = a.count + b.count
        return s
    }
}

/// A VAE or HVAE replica with its prior: the data pass with its loss and gradient, the prior
/// pass, and initialisation. A replica reads shared parameter values and keeps its own caches,
/// so each thread (or worker) owns one.
///
/// Per image, from one reparameterised sample:
/// ```
/// loss = −log p(x|z) + β·(log q(z|x) − log p(z))
/// ```
/// The architecture is an enum, not a subclass, so that every call is statically dispatched and
/// the generic code specialises to concrete `Float` loops in release builds.
public final class LatentModel<T: Scalar> {
    /// The architecture-specific network.
    public enum Network {
        case vae(VAE<T>)
        case hvae(HVAE<T>)
    }

    public let config: ModelConfig
    public let layout: ParameterLayout
    public let network: Network
    /// The prior pass's `[K, 2M]` statistics and their gradient, for whole-step helpers.
    public let priorStatsBuffer = Workspace<T>()
    public let priorStatsGradientBuffer = Workspace<T>()
    /// Evaluation scratch: replicated images, statistics and branches, noise, weights.
    let evalX = Workspace<T>(), evalStats = Workspace<T>(), evalNoise = Workspace<T>()
    let evalWeights = Workspace<T>(), evalEncoded = Workspace<T>(), evalBranch = Workspace<T>()

    init(config: ModelConfig, layout: ParameterLayout, network: Network) {
        self.config = config
        self.layout = layout
        self.network = network
    }

    /// Builds a model with freshly registered parameters.
    public static func make(_ config: ModelConfig) -> LatentModel<T> {
        let layout = ParameterLayout()
        switch config.architecture {
        case .vae: return LatentModel(config: config, layout: layout, network: .vae(VAE(config: config, layout: layout)))
        case .hvae: return LatentModel(config: config, layout: layout, network: .hvae(HVAE(config: config, layout: layout)))
        }
    }

    /// A replica over the same parameter layout, with caches of its own.
    public func replica() -> LatentModel<T> {
        switch network {
        case .vae(let n): return LatentModel(config: config, layout: layout, network: .vae(VAE(sharing: n)))
        case .hvae(let n): return LatentModel(config: config, layout: layout, network: .hvae(HVAE(sharing: n)))
        }
    }

    /// The prior on the top latent.
    public var prior: Prior<T> {
        switch network { case .vae(let n): return n.prior; case .hvae(let n): return n.prior }
    }

    /// The encoder the VampPrior runs on its pseudo-inputs: q(z|·), or q(z2|·) for the HVAE.
    public var topEncoder: GaussianEncoder<T> {
        switch network { case .vae(let n): return n.encoder; case .hvae(let n): return n.encoderZ2 }
    }

    /// Per-row results of the last forward, `[rows]` each: `−log p(x|z)` and the KL estimate.
    public var reconstructionPerRow: Workspace<T> {
        switch network { case .vae(let n): return n.reconstructionPerRow; case .hvae(let n): return n.reconstructionPerRow }
    }
    public var klPerRow: Workspace<T> {
        switch network { case .vae(let n): return n.klPerRow; case .hvae(let n): return n.klPerRow }
    }

    /// Noise values per row that `forward` reads: M (`vae`) or 2M (`hvae`).
    public var noiseWidth: Int { config.noiseWidth }

    /// Initial parameter values, a pure function of `seed` (and `pseudoInputImages`, `[K, D]`).
    public func initialize(_ values: ParameterVector<T>, seed: UInt64, pseudoInputImages: Tensor<T>? = nil) {
        let keyed: (String) -> KeyedRandom = { name in
            guard let i = self.layout.entries.firstIndex(where: { $0.name == name }) else {
                preconditionFailure("no parameter \(name) to key its initialisation")
            }
            return KeyedRandom(RandomKey(seed: seed, epoch: 0, index: UInt64(i), purpose: .initialization))
        }
        switch network {
        case .vae(let n): n.initializeLayers(values, random: keyed)
        case .hvae(let n): n.initializeLayers(values, random: keyed)
        }
        guard let first = (prior.pseudoInputs ?? prior.means) else { return }
        prior.initialize(values, random: keyed(first.name), mean: config.pseudoInputMean,
                         std: config.pseudoInputStd, images: pseudoInputImages)
    }

    /// The data pass: the loss of `rows` images and caches for `backward`.
    /// - Parameters:
    ///   - x: `[rows, D]`, valid until `backward`.
    ///   - noise: `[rows, noiseWidth]` standard normal ε.
    ///   - priorStats: the VampPrior's `[K, 2M]` statistics from the prior pass, else nil.
    /// - Returns: sums over the rows; per-row parts are in `reconstructionPerRow`, `klPerRow`.
    @inlinable
    public func forward(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, beta: T,
                        priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>) -> LossSums {
        switch network {
        case .vae(let n): return n.forward(x: x, noise: noise, rows: rows, beta: beta, priorStats: priorStats, p)
        case .hvae(let n): return n.forward(x: x, noise: noise, rows: rows, beta: beta, priorStats: priorStats, p)
        }
    }

    /// Adds `∂(Σ_rows loss)/∂θ` into `p.gradients` and, for the VampPrior, writes the loss
    /// gradient with respect to the prior statistics into `dPriorStats` (`[K, 2M]`, overwritten).
    /// That gradient is final first: `priorStatsReady` is called then, before the decoder's and the
    /// encoder's backward passes (a worker sends it from there, so the prior's backward units can
    /// be issued while it finishes).
    @inlinable
    public func backward(beta: T, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>,
                         dPriorStats: UnsafeMutablePointer<T>?, priorStatsReady: () -> Void = {}) {
        switch network {
        case .vae(let n): n.backward(beta: beta, priorStats: priorStats, p, dPriorStats: dPriorStats, priorStatsReady: priorStatsReady)
        case .hvae(let n): n.backward(beta: beta, priorStats: priorStats, p, dPriorStats: dPriorStats, priorStatsReady: priorStatsReady)
        }
    }

    /// The part of a data pass that needs no prior statistics: the forward pass up to the prior's
    /// term. `finishWithPrior` completes it (the prior's term, then the whole backward pass, the
    /// prior's part first), in the order of `forward` and `backward`, and so with their bits.
    @inlinable
    public func dataPassBeforePrior(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) {
        switch network {
        case .vae(let n): n.forwardBeforePrior(x: x, noise: noise, rows: rows, p)
        case .hvae(let n): n.forwardBeforePrior(x: x, noise: noise, rows: rows, p)
        }
    }

    /// The rest of a data pass begun by `dataPassBeforePrior`: the prior's term, forward and (with
    /// `gradient`) backward, `priorStatsReady` once `dPriorStats` is final, then the rest of the
    /// backward pass. Returns the loss sums.
    @inlinable
    public func finishWithPrior(beta: T, priorStats: UnsafePointer<T>?, gradient: Bool, _ p: ParameterAccess<T>,
                                dPriorStats: UnsafeMutablePointer<T>?, priorStatsReady: (LossSums) -> Void = { _ in }) -> LossSums {
        let sums: LossSums
        switch network {
        case .vae(let n): sums = n.forwardPrior(beta: beta, priorStats: priorStats, p)
        case .hvae(let n): sums = n.forwardPrior(beta: beta, priorStats: priorStats, p)
        }
        if gradient { backward(beta: beta, priorStats: priorStats, p, dPriorStats: dPriorStats, priorStatsReady: { priorStatsReady(sums) }) }
        return sums
    }
}

/// Sums of per-row results: `RE`, `KL` and `RE + β·KL`.
@inlinable
public func lossSums<T: Scalar>(reconstruction re: UnsafePointer<T>, kl: UnsafePointer<T>, rows: Int, beta: T) -> LossSums {
    var s = LossSums()
    for r in 0..<rows {
        s.reconstruction += Double(re[r])
        s.kl += Double(kl[r])
        s.loss += Double(re[r] + beta * kl[r])
    }
    s.count = rows
    return s
}

/// Adds `∂L/∂z` into the gradient of the statistics it was drawn from:
/// ```
/// z = μ + e^(½·lv)·ε   ⇒   ∂μ += ∂z,   ∂lv += ∂z·ε·½·e^(½·lv)
/// ```
@inlinable
func reparameterizationBackward<T: Scalar>(rows: Int, m: Int, dz: UnsafePointer<T>, noise: UnsafePointer<T>, ldn: Int,
                                           std: UnsafePointer<T>, dStats: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        for j in 0..<m {
            let g = dz[r * m + j]
            dStats[r * 2 * m + j] += g
            dStats[r * 2 * m + m + j] += g * noise[r * ldn + j] * std[r * m + j] / 2
        }
    }
}

/// `z = μ + e^(½·lv)·ε`, keeping `e^(½·lv)` in `std`.
@inlinable
func reparameterize<T: Scalar>(rows: Int, m: Int, stats: UnsafePointer<T>, noise: UnsafePointer<T>, ldn: Int,
                               z: UnsafeMutablePointer<T>, std: UnsafeMutablePointer<T>) {
    for r in 0..<rows {
        for j in 0..<m { std[r * m + j] = stats[r * 2 * m + m + j] / 2 }
    }
    T.exp(std, std, count: rows * m)
    for r in 0..<rows {
        for j in 0..<m { z[r * m + j] = stats[r * 2 * m + j] + std[r * m + j] * noise[r * ldn + j] }
    }
}
