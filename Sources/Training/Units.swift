import Tensor
import NN
import VAE

/// The three kinds of work unit of a step, computed the same way by an in-process thread and by a
/// worker process: both call these, so a unit's bits do not depend on where it ran.
///
/// ```
/// prior forward  c:  S[c] = [μ | lv](hardtanh(W[c], 0, 1))           S[c]: [|c|, 2M]
/// data unit      u:  loss_u, g_u = ∂loss_u/∂θ, G_u = ∂loss_u/∂S      given S (VampPrior)
/// prior backward c:  h_c = ∂(G[c] · S[c])/∂θ  (top encoder and pseudo-input rows c)
/// ```
public enum Units {
    /// Prior unit `chunk`, forward: writes `[range.count, 2M]` statistics into `stats`.
    /// `scratch` is a gradient buffer the pass may use for caches (nothing is accumulated).
    public static func priorForward<T: Scalar>(_ model: LatentModel<T>, chunk: Int, range: Range<Int>,
                                               values: UnsafePointer<T>, scratch: UnsafeMutablePointer<T>,
                                               into stats: UnsafeMutablePointer<T>) {
        model.prior.forward(chunk: chunk, range: range, encoder: model.topEncoder,
                            ParameterAccess(values: values, gradients: scratch), into: stats)
    }

    /// Data unit: the loss sums of `rows` images and, when `gradient` is given, `∂loss/∂θ` written
    /// (not added) over the data range and, for the VampPrior, `∂loss/∂S` into `dStats` `[K, 2M]`.
    /// - Parameters:
    ///   - x: `[rows, D]`; noise: `[rows, noiseWidth]`.
    ///   - stats: the VampPrior's `[K, 2M]` statistics, else nil.
    ///   - dStatsReady: called with the loss sums once `dStats` is final, before the rest of the
    ///     backward pass (with a gradient only).
    public static func data<T: Scalar>(_ model: LatentModel<T>, x: UnsafePointer<T>, noise: UnsafePointer<T>,
                                       rows: Int, beta: T, stats: UnsafePointer<T>?, values: UnsafePointer<T>,
                                       gradient: UnsafeMutablePointer<T>?, dStats: UnsafeMutablePointer<T>?,
                                       scratch: UnsafeMutablePointer<T>,
                                       dStatsReady: (LossSums) -> Void = { _ in }) -> LossSums {
        let access = ParameterAccess(values: values, gradients: gradient ?? scratch, accumulate: false)
        let sums = model.forward(x: x, noise: noise, rows: rows, beta: beta, priorStats: stats, access)
        if gradient != nil {
            model.backward(beta: beta, priorStats: stats, access, dPriorStats: dStats, priorStatsReady: { dStatsReady(sums) })
        }
        return sums
    }

    /// Consecutive data units stacked into one pass (`groups`: each unit's rows, gradient and, for
    /// the VampPrior, `∂loss/∂S` buffer): unit g's loss sums go to `sums[g]`, and its buffers get
    /// what `data` would write for that unit alone, when the GEMMs give a row the same bits
    /// whatever the row count (`UnitStacking` checks this). `x`, `noise`: `[Σ rows, ·]`.
    public static func stackedData<T: Scalar>(_ model: LatentModel<T>, x: UnsafePointer<T>, noise: UnsafePointer<T>,
                                              beta: T, stats: UnsafePointer<T>?, values: UnsafePointer<T>,
                                              groups: RowGroups<T>, gradient: Bool, scratch: UnsafeMutablePointer<T>,
                                              sums: (Int, LossSums) -> Void) {
        let rows = groups.bounds[groups.count]
        let access = ParameterAccess(values: values, gradients: scratch, accumulate: false, groups: gradient ? groups : nil)
        _ = model.forward(x: x, noise: noise, rows: rows, beta: beta, priorStats: stats, access)
        let re = model.reconstructionPerRow.data, kl = model.klPerRow.data
        for g in 0..<groups.count {
            let r = groups.rows(g)
            sums(g, lossSums(reconstruction: re + r.lowerBound, kl: kl + r.lowerBound, rows: r.count, beta: beta))
        }
        if gradient { model.backward(beta: beta, priorStats: stats, access, dPriorStats: nil) }
    }

    /// A data unit in two parts, for a worker that starts it before the prior statistics exist:
    /// `dataBeforePrior` (the forward pass up to the prior's term, which writes no gradient) needs
    /// none, and `dataWithPrior` finishes it. Together they give the bits of `data` with the same
    /// arguments, provided nothing else runs on `model` between them.
    public static func dataBeforePrior<T: Scalar>(_ model: LatentModel<T>, x: UnsafePointer<T>, noise: UnsafePointer<T>,
                                                  rows: Int, values: UnsafePointer<T>, scratch: UnsafeMutablePointer<T>) {
        model.dataPassBeforePrior(x: x, noise: noise, rows: rows, ParameterAccess(values: values, gradients: scratch, accumulate: false))
    }

    /// The second part of a data unit begun by `dataBeforePrior`; as `data` from there.
    public static func dataWithPrior<T: Scalar>(_ model: LatentModel<T>, beta: T, stats: UnsafePointer<T>?,
                                                values: UnsafePointer<T>, gradient: UnsafeMutablePointer<T>?,
                                                dStats: UnsafeMutablePointer<T>?, scratch: UnsafeMutablePointer<T>,
                                                dStatsReady: (LossSums) -> Void = { _ in }) -> LossSums {
        let access = ParameterAccess(values: values, gradients: gradient ?? scratch, accumulate: false)
        return model.finishWithPrior(beta: beta, priorStats: stats, gradient: gradient != nil, access,
                                     dPriorStats: dStats, priorStatsReady: dStatsReady)
    }

    /// Prior unit `chunk`, backward (after its forward on the same model): writes the top
    /// encoder's gradient and the gradient of pseudo-input rows `range` into `gradient`.
    /// - Parameter dStats: `[range.count, 2M]`, this unit's rows of `G = Σ_u G_u`.
    public static func priorBackward<T: Scalar>(_ model: LatentModel<T>, chunk: Int, dStats: UnsafePointer<T>,
                                                values: UnsafePointer<T>, gradient: UnsafeMutablePointer<T>) {
        model.prior.backward(chunk: chunk, dStats: dStats,
                             ParameterAccess(values: values, gradients: gradient, accumulate: false))
    }

    /// Consecutive prior units run as one chunk (whose forward covered all their rows): each unit's
    /// encoder gradient and pseudo-input rows written into its own buffer (`groups`, rows counted
    /// from the chunk's first row), as `priorBackward` would for that unit alone when the GEMMs give
    /// a row the same bits whatever the row count.
    public static func stackedPriorBackward<T: Scalar>(_ model: LatentModel<T>, chunk: Int, dStats: UnsafePointer<T>,
                                                       values: UnsafePointer<T>, groups: RowGroups<T>,
                                                       scratch: UnsafeMutablePointer<T>) {
        model.prior.backward(chunk: chunk, dStats: dStats,
                             ParameterAccess(values: values, gradients: scratch, accumulate: false, groups: groups))
    }

    /// The importance-sampled log-likelihood of `rows` images whose first has index `firstImage`,
    /// `S = samples` draws keyed by (seed, image index, evaluation); see `LatentModel.logLikelihood`.
    /// `scratch` is a gradient-sized buffer the forward pass does not write.
    public static func logLikelihood<T: Scalar>(_ model: LatentModel<T>, x: UnsafePointer<T>, rows: Int, firstImage: Int,
                                                samples: Int, seed: UInt64, values: UnsafePointer<T>,
                                                scratch: UnsafeMutablePointer<T>) -> [Double] {
        model.logLikelihood(x: x, rows: rows, samples: samples,
                            noise: model.evaluationNoise(seed: seed, imageOffset: firstImage),
                            ParameterAccess(values: values, gradients: scratch))
    }

    /// The noise of one sample: `count` normals keyed by (seed, epoch, sample index, purpose).
    public static func drawNoise<T: Scalar>(seed: UInt64, epoch: Int, sample: Int, purpose: RandomPurpose,
                                            into out: UnsafeMutablePointer<T>, count: Int) {
        KeyedRandom(RandomKey(seed: seed, epoch: UInt32(epoch), index: UInt64(sample), purpose: purpose))
            .normals(into: out, count: count)
    }
}
