import Tensor
import NN

/// The two-level hierarchical VAE of Tomczak & Welling (2018).
///
/// ```
/// q(z2|x):     [μ2 | lv2] = GaussianEncoder(x)                                   // [B, 2M]
/// q(z1|x,z2):  [μ1 | lv1] = head(GatedDense_joint([GatedDense_x(x) | GatedDense_z2(z2)]))
/// p(z1|z2):    [pμ1 | plv1] = GaussianEncoder(z2)
/// p(x|z1,z2):  Observation(GatedDense_joint([GatedDense_z1(z1) | GatedDense_z2(z2)]))
/// loss = −log p(x|z1,z2) + β·(log q(z1|x,z2) + log q(z2|x) − log p(z1|z2) − log p(z2))
/// ```
/// Noise rows are `[ε1 | ε2]` (`[B, 2M]`). The prior (standard, VampPrior, MoG) is on z2.
public final class HVAE<T: Scalar> {
    public let config: ModelConfig
    public let prior: Prior<T>
    /// Per-row `−log p(x|·)` and KL estimate of the last forward, `[rows]` each.
    public let reconstructionPerRow = Workspace<T>()
    public let klPerRow = Workspace<T>()
    public private(set) var rows = 0
    public let encoderZ2: GaussianEncoder<T>
    public let encoderZ1X: GatedDense<T>
    public let encoderZ1Z2: GatedDense<T>
    public let encoderZ1: GaussianEncoder<T>      // joint layer + head, on [B, 2H]
    public let priorZ1: GaussianEncoder<T>
    public let decoderZ1: GatedDense<T>
    public let decoderZ2: GatedDense<T>
    public let decoderJoint: GatedDense<T>
    public let observation: Observation<T>

    @usableFromInline var noise: UnsafePointer<T>?
    @usableFromInline let z1 = Workspace<T>(), z2 = Workspace<T>()          // [B, M]
    @usableFromInline let std1 = Workspace<T>(), std2 = Workspace<T>()      // [B, M]
    @usableFromInline let concatQ = Workspace<T>(), concatP = Workspace<T>() // [B, 2H]
    @usableFromInline let logPx = Workspace<T>(), logQ = Workspace<T>(), logPz = Workspace<T>(), tmp = Workspace<T>()
    @usableFromInline let upstream = Workspace<T>()
    @usableFromInline let dz1 = Workspace<T>(), dz2 = Workspace<T>(), dzTmp = Workspace<T>()   // [B, M]
    @usableFromInline let dz2Prior = Workspace<T>()                                           // [B, M], −β·∂log p(z2)/∂z2
    @usableFromInline let ds1 = Workspace<T>(), ds2 = Workspace<T>(), dps1 = Workspace<T>()    // [B, 2M]
    @usableFromInline let dConcat = Workspace<T>(), dHalf = Workspace<T>()                  // [B, 2H], [B, 2H]

    init(config: ModelConfig, layout: ParameterLayout) {
        self.config = config
        let (d, h, m) = (config.inputSize, config.hiddenSize, config.latentSize)
        encoderZ2 = GaussianEncoder("encoder_z2", inputs: d, hidden: h, latent: m, layout: layout)
        encoderZ1X = GatedDense("encoder_z1.x", inputs: d, outputs: h, layout: layout)
        encoderZ1Z2 = GatedDense("encoder_z1.z2", inputs: m, outputs: h, layout: layout)
        encoderZ1 = GaussianEncoder("encoder_z1", inputs: 2 * h, hidden: h, latent: m, layerNames: ["joint"], layout: layout)
        priorZ1 = GaussianEncoder("prior_z1", inputs: m, hidden: h, latent: m, layout: layout)
        decoderZ1 = GatedDense("decoder.z1", inputs: m, outputs: h, layout: layout)
        decoderZ2 = GatedDense("decoder.z2", inputs: m, outputs: h, layout: layout)
        decoderJoint = GatedDense("decoder.joint", inputs: 2 * h, outputs: h, layout: layout)
        observation = Observation("decoder", hidden: h, pixels: d, likelihood: config.likelihood, layout: layout)
        prior = Prior<T>(kind: config.prior, components: config.components, latent: m, pixels: d, layout: layout)
    }

    init(sharing o: HVAE<T>) {
        encoderZ2 = GaussianEncoder(sharing: o.encoderZ2)
        encoderZ1X = GatedDense(sharing: o.encoderZ1X)
        encoderZ1Z2 = GatedDense(sharing: o.encoderZ1Z2)
        encoderZ1 = GaussianEncoder(sharing: o.encoderZ1)
        priorZ1 = GaussianEncoder(sharing: o.priorZ1)
        decoderZ1 = GatedDense(sharing: o.decoderZ1)
        decoderZ2 = GatedDense(sharing: o.decoderZ2)
        decoderJoint = GatedDense(sharing: o.decoderJoint)
        observation = Observation(sharing: o.observation)
        config = o.config
        prior = Prior(sharing: o.prior)
    }

    func initializeLayers(_ values: ParameterVector<T>, random: (String) -> KeyedRandom) {
        for e in [encoderZ2, encoderZ1, priorZ1] { e.initialize(values, random: random) }
        for l in [encoderZ1X, encoderZ1Z2, decoderZ1, decoderZ2, decoderJoint] {
            l.initialize(values, random: random(l.linear.weights[0].name))
        }
        observation.head.initialize(values, random: random(observation.head.weights[0].name))
    }

    /// Writes `[a | b]` (`[B, H]` each) into `out` `[B, 2H]`.
    @usableFromInline func concatenate(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, rows: Int, width h: Int,
                                       into out: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            (out + r * 2 * h).update(from: a + r * h, count: h)
            (out + r * 2 * h + h).update(from: b + r * h, count: h)
        }
    }

    /// Splits `[B, 2H]` into its halves `[B, H]` each.
    @usableFromInline func split(_ x: UnsafePointer<T>, rows: Int, width h: Int,
                                 into a: UnsafeMutablePointer<T>, _ b: UnsafeMutablePointer<T>) {
        for r in 0..<rows {
            (a + r * h).update(from: x + r * 2 * h, count: h)
            (b + r * h).update(from: x + r * 2 * h + h, count: h)
        }
    }

    public func forward(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, beta: T,
                        priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>) -> LossSums {
        forwardBeforePrior(x: x, noise: noise, rows: rows, p)
        return forwardPrior(beta: beta, priorStats: priorStats, p)
    }

    /// The forward pass up to the prior on z2: `logPx`, `logQ` and `logPz`'s log p(z1|z2) term.
    public func forwardBeforePrior(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) {
        self.noise = noise; self.rows = rows
        let s2 = encoderZ2.forward(x, rows: rows, p)                                          // [B, 2M]
        let a = encoderZ1X.forward(x, rows: rows, p).data                                     // [B, H]
        forwardBeforePrior(x: x, stats: s2, branch: a, noise: noise, rows: rows, p, gradient: true)
    }

    /// Adds log p(z2) of the last forward's z2 to `logPz`; the loss sums.
    public func forwardPrior(beta: T, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>) -> LossSums {
        let rows = self.rows
        addPriorLogDensity(rows: rows, priorStats: priorStats, p)
        let px = logPx.data, q = logQ.data, pz = logPz.data
        let re = reconstructionPerRow.reserve(rows), kl = klPerRow.reserve(rows)
        for r in 0..<rows { re[r] = -px[r]; kl[r] = q[r] - pz[r] }
        return lossSums(reconstruction: re, kl: kl, rows: rows, beta: beta)
    }

    /// Everything after the sample-independent encoding of x, into `logPx`, `logQ` (both q terms)
    /// and `logPz` (both p terms), `[rows]` each.
    /// - Parameters:
    ///   - stats: q(z2|x)'s `[μ2 | lv2]`, `[rows, 2M]`; branch: `GatedDense_x(x)`, `[rows, H]`.
    ///   - noise: `[rows, 2M]`, `[ε1 | ε2]`.
    func forward(x: UnsafePointer<T>, stats s2: UnsafePointer<T>, branch a: UnsafePointer<T>, noise: UnsafePointer<T>,
                 rows: Int, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>, gradient: Bool) {
        forwardBeforePrior(x: x, stats: s2, branch: a, noise: noise, rows: rows, p, gradient: gradient)
        addPriorLogDensity(rows: rows, priorStats: priorStats, p)
    }

    /// The same without the prior on z2: `logPz` holds log p(z1|z2) only.
    func forwardBeforePrior(x: UnsafePointer<T>, stats s2: UnsafePointer<T>, branch a: UnsafePointer<T>, noise: UnsafePointer<T>,
                            rows: Int, _ p: ParameterAccess<T>, gradient: Bool) {
        let m = config.latentSize, h = config.hiddenSize
        let zz2 = z2.reserve(rows * m), sd2 = std2.reserve(rows * m)
        reparameterize(rows: rows, m: m, stats: s2, noise: noise + m, ldn: 2 * m, z: zz2, std: sd2)
        let b = encoderZ1Z2.forward(zz2, rows: rows, p).data                                  // [B, H]
        let cq = concatQ.reserve(rows * 2 * h)
        concatenate(a, b, rows: rows, width: h, into: cq)                                     // [B, 2H]
        let s1 = encoderZ1.forward(cq, rows: rows, p)                                         // [B, 2M]
        let zz1 = z1.reserve(rows * m), sd1 = std1.reserve(rows * m)
        reparameterize(rows: rows, m: m, stats: s1, noise: noise, ldn: 2 * m, z: zz1, std: sd1)
        let ps1 = priorZ1.forward(zz2, rows: rows, p)                                         // [B, 2M]
        let c = decoderZ1.forward(zz1, rows: rows, p).data
        let e = decoderZ2.forward(zz2, rows: rows, p).data
        let cp = concatP.reserve(rows * 2 * h)
        concatenate(c, e, rows: rows, width: h, into: cp)
        let hj = decoderJoint.forward(cp, rows: rows, p).data                                 // [B, H]
        let px = logPx.reserve(rows), q = logQ.reserve(rows), pz = logPz.reserve(rows), t = tmp.reserve(rows)
        observation.forward(x: x, h: hj, rows: rows, p, into: px, gradient: gradient)
        LogDensity.normalDiagonal(rows: rows, dimension: m, x: zz1, ldx: m, stats: s1, lds: 2 * m, into: q)
        LogDensity.normalDiagonal(rows: rows, dimension: m, x: zz2, ldx: m, stats: s2, lds: 2 * m, into: t)
        for r in 0..<rows { q[r] += t[r] }
        LogDensity.normalDiagonal(rows: rows, dimension: m, x: zz1, ldx: m, stats: ps1, lds: 2 * m, into: pz)
    }

    /// `logPz += log p(z2)`.
    func addPriorLogDensity(rows: Int, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>) {
        let pz = logPz.data, t = tmp.reserve(rows)
        prior.logDensity(rows: rows, z: z2.data, ldz: config.latentSize, stats: priorStats, p, into: t)
        for r in 0..<rows { pz[r] += t[r] }
    }

    public func backward(beta: T, priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>,
                                  dPriorStats: UnsafeMutablePointer<T>?, priorStatsReady: () -> Void = {}) {
        let m = config.latentSize, h = config.hiddenSize, rows = self.rows
        guard let noise = noise else { preconditionFailure("backward before forward") }
        let zz1 = z1.data, zz2 = z2.data
        let g = upstream.reserve(rows)
        // −β·log p(z2) first: its gradient with respect to the prior statistics is then final, and
        // a worker can send it while the rest runs. Its part of ∂z2 is added where it always was.
        let d2p = dz2Prior.reserve(rows * m)
        prior.negativeLogDensityBackward(beta: beta, rows: rows, z: zz2, stats: priorStats, p, upstream: g, dz: d2p, dStats: dPriorStats)
        priorStatsReady()
        let dc = dConcat.reserve(rows * 2 * h), half = dHalf.reserve(rows * 2 * h)
        let d1 = dz1.reserve(rows * m), d2 = dz2.reserve(rows * m), dt = dzTmp.reserve(rows * m)
        // Reconstruction through the decoder, into z1 and z2.
        observation.backward(p, hiddenGradient: half)                                        // [B, H]
        decoderJoint.backward(half, p, inputGradient: dc)                                    // [B, 2H]
        split(dc, rows: rows, width: h, into: half, half + rows * h)
        decoderZ1.backward(half, p, inputGradient: d1)
        decoderZ2.backward(half + rows * h, p, inputGradient: d2)
        // KL terms on z1: +β·log q(z1|x,z2) − β·log p(z1|z2).
        let s1 = encoderZ1.stats, s2 = encoderZ2.stats, ps1 = priorZ1.stats
        let g1 = ds1.reserve(rows * 2 * m), g2 = ds2.reserve(rows * 2 * m), gp = dps1.reserve(rows * 2 * m)
        for buffer in [g1, g2, gp] { buffer.update(repeating: 0, count: rows * 2 * m) }
        for r in 0..<rows { g[r] = beta }
        LogDensity.normalDiagonalBackward(rows: rows, dimension: m, upstream: g, x: zz1, ldx: m, stats: s1, lds: 2 * m, dx: d1, dStats: g1)
        LogDensity.normalDiagonalBackward(rows: rows, dimension: m, upstream: g, x: zz2, ldx: m, stats: s2, lds: 2 * m, dx: d2, dStats: g2)
        for r in 0..<rows { g[r] = -beta }
        LogDensity.normalDiagonalBackward(rows: rows, dimension: m, upstream: g, x: zz1, ldx: m, stats: ps1, lds: 2 * m, dx: d1, dStats: gp)
        priorZ1.backward(gp, p, inputGradient: dt)
        for i in 0..<(rows * m) { d2[i] += dt[i] }
        // −β·log p(z2), computed first.
        for i in 0..<(rows * m) { d2[i] += d2p[i] }
        // q(z1|x,z2): z1 = μ1 + σ1·ε1, then the joint layer and its two branches.
        reparameterizationBackward(rows: rows, m: m, dz: d1, noise: noise, ldn: 2 * m, std: std1.data, dStats: g1)
        encoderZ1.backward(g1, p, inputGradient: dc)                                         // [B, 2H]
        split(dc, rows: rows, width: h, into: half, half + rows * h)
        encoderZ1X.backward(half, p, inputGradient: nil)
        encoderZ1Z2.backward(half + rows * h, p, inputGradient: dt)
        for i in 0..<(rows * m) { d2[i] += dt[i] }
        // q(z2|x): z2 = μ2 + σ2·ε2.
        reparameterizationBackward(rows: rows, m: m, dz: d2, noise: noise + m, ldn: 2 * m, std: std2.data, dStats: g2)
        encoderZ2.backward(g2, p, inputGradient: nil)
    }
}
