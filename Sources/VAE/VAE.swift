import Tensor
import NN

/// The one-latent VAE of Tomczak & Welling (2018).
///
/// ```
/// q(z|x):  [μ | lv] = GaussianEncoder(x)                       // [B, 2M]
/// z = μ + e^(½·lv)·ε                                            // [B, M]
/// p(x|z):  Observation(GatedDense(GatedDense(z)))               // [B, D]
/// loss = −log p(x|z) + β·(log N(z; μ, e^lv) − log p(z))
/// ```
/// Parameters: `encoder.*`, `decoder.0.*`, `decoder.1.*`, `decoder.mean.*`
/// (`decoder.logscale.*`), then `prior.*`.
public final class VAE<T: Scalar> {
    public let config: ModelConfig
    public let prior: Prior<T>
    /// Per-row `−log p(x|·)` and KL estimate of the last forward, `[rows]` each.
    public let reconstructionPerRow = Workspace<T>()
    public let klPerRow = Workspace<T>()
    public private(set) var rows = 0
    public let encoder: GaussianEncoder<T>
    public let decoder: [GatedDense<T>]
    public let observation: Observation<T>

    @usableFromInline var noise: UnsafePointer<T>?
    @usableFromInline let z = Workspace<T>()          // [B, M]
    @usableFromInline let std = Workspace<T>()        // [B, M]
    @usableFromInline let logPx = Workspace<T>()      // [B]
    @usableFromInline let logQ = Workspace<T>()       // [B]
    @usableFromInline let logPz = Workspace<T>()      // [B]
    @usableFromInline let upstream = Workspace<T>()   // [B]
    @usableFromInline let dz = Workspace<T>()         // [B, M]
    @usableFromInline let dzPrior = Workspace<T>()    // [B, M], −β·∂log p(z)/∂z
    @usableFromInline let dStats = Workspace<T>()     // [B, 2M]
    @usableFromInline let dHidden = Workspace<T>()    // [B, 2H]

    init(config: ModelConfig, layout: ParameterLayout) {
        self.config = config
        let (d, h, m) = (config.inputSize, config.hiddenSize, config.latentSize)
        encoder = GaussianEncoder("encoder", inputs: d, hidden: h, latent: m, layout: layout)
        decoder = [GatedDense("decoder.0", inputs: m, outputs: h, layout: layout),
                   GatedDense("decoder.1", inputs: h, outputs: h, layout: layout)]
        observation = Observation("decoder", hidden: h, pixels: d, likelihood: config.likelihood, layout: layout)
        prior = Prior<T>(kind: config.prior, components: config.components, latent: m, pixels: d, layout: layout)
    }

    init(sharing other: VAE<T>) {
        encoder = GaussianEncoder(sharing: other.encoder)
        decoder = other.decoder.map { GatedDense(sharing: $0) }
        observation = Observation(sharing: other.observation)
        config = other.config
        prior = Prior(sharing: other.prior)
    }

    func initializeLayers(_ values: ParameterVector<T>, random: (String) -> KeyedRandom) {
        encoder.initialize(values, random: random)
        for l in decoder { l.initialize(values, random: random(l.linear.weights[0].name)) }
        observation.head.initialize(values, random: random(observation.head.weights[0].name))
    }

    public func forward(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, beta: T,
                        priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>) -> LossSums {
        forwardBeforePrior(x: x, noise: noise, rows: rows, p)
        return forwardPrior(beta: beta, priorStats: priorStats, p)
    }

    /// The forward pass up to the prior: `logPx` and `logQ`, and z. Needs no prior statistics.
    public func forwardBeforePrior(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) {
        self.noise = noise; self.rows = rows
        let stats = encoder.forward(x, rows: rows, p)                                       // [B, 2M]
        forwardBeforePrior(x: x, stats: stats, noise: noise, rows: rows, p, gradient: true)
    }

    /// `logPz` of the last forward's z, and the loss sums: the forward pass's prior term.
    public func forwardPrior(beta: T, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>) -> LossSums {
        let rows = self.rows
        priorLogDensity(rows: rows, priorStats: priorStats, p)
        let px = logPx.data, q = logQ.data, pz = logPz.data
        let re = reconstructionPerRow.reserve(rows), kl = klPerRow.reserve(rows)
        for r in 0..<rows { re[r] = -px[r]; kl[r] = q[r] - pz[r] }
        return lossSums(reconstruction: re, kl: kl, rows: rows, beta: beta)
    }

    /// Everything after encoding: `logPx`, `logQ`, `logPz` (`[rows]` each) from `[μ | lv]`.
    func forward(x: UnsafePointer<T>, stats: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int,
                 priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>, gradient: Bool) {
        forwardBeforePrior(x: x, stats: stats, noise: noise, rows: rows, p, gradient: gradient)
        priorLogDensity(rows: rows, priorStats: priorStats, p)
    }

    /// `logPz` of the last forward's z.
    func priorLogDensity(rows: Int, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>) {
        prior.logDensity(rows: rows, z: z.data, ldz: config.latentSize, stats: priorStats, p, into: logPz.reserve(rows))
    }

    /// z, `logPx` and `logQ` from `[μ | lv]`.
    func forwardBeforePrior(x: UnsafePointer<T>, stats: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int,
                            _ p: ParameterAccess<T>, gradient: Bool) {
        let m = config.latentSize
        let zz = z.reserve(rows * m), sd = std.reserve(rows * m)
        reparameterize(rows: rows, m: m, stats: stats, noise: noise, ldn: m, z: zz, std: sd)  // [B, M]
        let h = decode(zz, rows: rows, p)                                                   // [B, H]
        let px = logPx.reserve(rows), q = logQ.reserve(rows)
        observation.forward(x: x, h: h, rows: rows, p, into: px, gradient: gradient)
        LogDensity.normalDiagonal(rows: rows, dimension: m, x: zz, ldx: m, stats: stats, lds: 2 * m, into: q)
    }

    @usableFromInline func decode(_ z: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) -> UnsafePointer<T> {
        var h = z
        for l in decoder { h = UnsafePointer(l.forward(h, rows: rows, p).data) }
        return h
    }

    public func backward(beta: T, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>,
                                  dPriorStats: UnsafeMutablePointer<T>?, priorStatsReady: () -> Void = {}) {
        let m = config.latentSize, hdim = config.hiddenSize, rows = self.rows
        guard let noise = noise else { preconditionFailure("backward before forward") }
        let zz = z.data, stats = encoder.stats
        let g = upstream.reserve(rows)
        // −β·log p(z) first: its gradient with respect to the prior statistics is then final, and
        // a worker can send it while the rest runs. Its part of ∂z is added where it always was.
        let dzp = dzPrior.reserve(rows * m)
        prior.negativeLogDensityBackward(beta: beta, rows: rows, z: zz, stats: priorStats, p, upstream: g, dz: dzp, dStats: dPriorStats)
        priorStatsReady()
        // Reconstruction: ∂(−log p(x|z))/∂z through the decoder.
        let dh = dHidden.reserve(rows * hdim * 2), spare = dh + rows * hdim
        observation.backward(p, hiddenGradient: dh)
        decoder[1].backward(dh, p, inputGradient: spare)
        let dzz = dz.reserve(rows * m)
        decoder[0].backward(spare, p, inputGradient: dzz)                                   // [B, M]
        // β·log q(z|x): gradient into z and into [μ | lv].
        let ds = dStats.reserve(rows * 2 * m)
        ds.update(repeating: 0, count: rows * 2 * m)
        for r in 0..<rows { g[r] = beta }
        LogDensity.normalDiagonalBackward(rows: rows, dimension: m, upstream: g, x: zz, ldx: m,
                                          stats: stats, lds: 2 * m, dx: dzz, dStats: ds)
        for i in 0..<(rows * m) { dzz[i] += dzp[i] }
        // z = μ + σ·ε.
        reparameterizationBackward(rows: rows, m: m, dz: dzz, noise: noise, ldn: m, std: std.data, dStats: ds)
        encoder.backward(ds, p, inputGradient: nil)
    }
}
