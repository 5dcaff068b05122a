import Tensor
import NN

/// The pieces a training step is made of, and their composition in one replica.
///
/// A step on a batch is three phases (ARCHITECTURE.md, "distribution"):
/// 1. prior forward: `S[k] = [μ(u_k) | lv(u_k)]` for chunks of k (VampPrior only);
/// 2. data units: loss, parameter gradient along the data path, and `G = ∂loss/∂S`;
/// 3. prior backward: `G`'s chunks backpropagated to the encoder and the pseudo-inputs.
/// `lossAndGradient` runs the three phases in this replica, one chunk and one unit.
extension LatentModel {
    /// Phase 1 for all K components, in the given chunks, into `stats` `[K, 2M]`.
    public func priorForward(chunks: [Range<Int>], _ p: ParameterAccess<T>, into stats: UnsafeMutablePointer<T>) {
        let w = 2 * config.latentSize
        for (i, range) in chunks.enumerated() {
            prior.forward(chunk: i, range: range, encoder: topEncoder, p, into: stats + range.lowerBound * w)
        }
    }

    /// Phase 3 for all chunks of a previous `priorForward`, from `dStats` `[K, 2M]`.
    public func priorBackward(chunks: [Range<Int>], dStats: UnsafePointer<T>, _ p: ParameterAccess<T>) {
        let w = 2 * config.latentSize
        for (i, range) in chunks.enumerated() {
            prior.backward(chunk: i, dStats: dStats + range.lowerBound * w, p)
        }
    }

    /// The whole step's loss and gradient on one batch, every phase in this replica:
    /// adds `∂(Σ_rows loss)/∂θ` into `p.gradients`.
    /// - Parameters:
    ///   - x: `[rows, D]`; noise: `[rows, noiseWidth]`.
    ///   - priorChunks: how phase 1 and 3 cut the K components (default: one chunk).
    public func lossAndGradient(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, beta: T,
                                _ p: ParameterAccess<T>, priorChunks: [Range<Int>]? = nil) -> LossSums {
        let k = config.components, w = 2 * config.latentSize
        let chunks = priorChunks ?? [0..<k]
        var stats: UnsafeMutablePointer<T>? = nil, dStats: UnsafeMutablePointer<T>? = nil
        if prior.needsPriorPass {
            stats = priorStatsBuffer.reserve(k * w)
            dStats = priorStatsGradientBuffer.reserve(k * w)
            priorForward(chunks: chunks, p, into: stats!)
        }
        let sums = forward(x: x, noise: noise, rows: rows, beta: beta, priorStats: stats, p)
        backward(beta: beta, priorStats: stats, p, dPriorStats: dStats)
        if let ds = dStats { priorBackward(chunks: chunks, dStats: ds, p) }
        return sums
    }

    /// The loss alone (no caches kept for backward are needed afterwards).
    public func loss(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, beta: T,
                     _ p: ParameterAccess<T>) -> LossSums {
        let k = config.components, w = 2 * config.latentSize
        var stats: UnsafeMutablePointer<T>? = nil
        if prior.needsPriorPass {
            stats = priorStatsBuffer.reserve(k * w)
            priorForward(chunks: [0..<k], p, into: stats!)
        }
        return forward(x: x, noise: noise, rows: rows, beta: beta, priorStats: stats, p)
    }
}
