import Tensor
import NN

/// The prior on the top latent: N(0, I), the VampPrior, or a mixture of learned Gaussians.
///
/// ```
/// standard:   log p(z) = log N(z; 0, I)
/// vampprior:  log p(z) = logsumexp_k log q(z | u_k) − log K,   u_k = hardtanh(W_k, 0, 1)
/// mog:        log p(z) = logsumexp_k log N(z; m_k, e^(v_k)) − log K
/// ```
/// For the VampPrior the component statistics `[μ(u_k) | lv(u_k)]` (`[K, 2M]`) are computed by
/// the prior pass (`forward(chunk:)`) and handed to the data pass; the data pass returns their
/// gradient, which the prior pass backpropagates (`backward(chunk:)`). This is what lets the
/// step split into prior units and data units.
public final class Prior<T: Scalar> {
    public let kind: PriorKind
    public let components: Int
    public let latent: Int
    public let pixels: Int
    /// `prior.pseudo_inputs`, `[K, D]` (VampPrior).
    public let pseudoInputs: ParameterEntry?
    /// `prior.means`, `prior.logvars`, `[K, M]` each (MoG).
    public let means: ParameterEntry?
    public let logvars: ParameterEntry?
    @usableFromInline let mixture: GaussianMixture<T>?
    /// Per-chunk encoder instances, so a chunk's backward finds its own forward's caches.
    @usableFromInline var chunks: [Int: PriorChunk<T>] = [:]

    public init(kind: PriorKind, components: Int, latent: Int, pixels: Int, layout: ParameterLayout) {
        self.kind = kind
        self.components = components
        self.latent = latent
        self.pixels = pixels
        pseudoInputs = kind == .vampprior ? layout.add("prior.pseudo_inputs", shape: [components, pixels]) : nil
        means = kind == .mog ? layout.add("prior.means", shape: [components, latent]) : nil
        logvars = kind == .mog ? layout.add("prior.logvars", shape: [components, latent]) : nil
        mixture = kind == .standard ? nil : GaussianMixture(components: components, dimension: latent)
    }

    public init(sharing other: Prior<T>) {
        kind = other.kind; components = other.components; latent = other.latent; pixels = other.pixels
        pseudoInputs = other.pseudoInputs; means = other.means; logvars = other.logvars
        mixture = other.mixture.map { GaussianMixture(components: $0.components, dimension: $0.dimension) }
    }

    /// Initial values: pseudo-inputs ~ N(mean, std²) or copies of `images` (`[K, D]`),
    /// MoG means ~ N(0, 1) and log-variances 0.
    public func initialize(_ values: ParameterVector<T>, random: KeyedRandom, mean: Double, std: Double,
                           images: Tensor<T>? = nil) {
        if let e = pseudoInputs {
            let w = values.data + e.offset
            if let images = images {
                precondition(images.count == e.count, "pseudo-input images must be [K, D]")
                w.update(from: images.data, count: e.count)
            } else {
                random.normals(into: w, count: e.count)
                for i in 0..<e.count { w[i] = T(mean) + T(std) * w[i] }
            }
        }
        if let m = means, let v = logvars {
            random.normals(into: values.data + m.offset, count: m.count)
            (values.data + v.offset).update(repeating: 0, count: v.count)
        }
    }

    /// Whether the data pass needs `[K, 2M]` statistics from the prior pass.
    public var needsPriorPass: Bool { kind == .vampprior }

    /// `out[r] = log p(z_r)`.
    /// - Parameters:
    ///   - z: `[rows, M]`, leading dimension `ldz`.
    ///   - stats: the VampPrior's `[K, 2M]` component statistics; ignored otherwise.
    @inlinable
    public func logDensity(rows: Int, z: UnsafePointer<T>, ldz: Int, stats: UnsafePointer<T>?,
                           _ p: ParameterAccess<T>, into out: UnsafeMutablePointer<T>) {
        let m = latent
        switch kind {
        case .standard:
            LogDensity.standardNormal(rows: rows, dimension: m, x: z, ldx: ldz, into: out)
        case .vampprior:
            guard let s = stats else { preconditionFailure("VampPrior needs the prior pass's statistics") }
            mixture!.logDensity(rows: rows, z: z, ldz: ldz, means: s, logvars: s + m, lds: 2 * m, into: out)
        case .mog:
            mixture!.logDensity(rows: rows, z: z, ldz: ldz, means: p.values + means!.offset,
                                logvars: p.values + logvars!.offset, lds: m, into: out)
        }
    }

    /// The backward of the loss's `−β·Σ_r log p(z_r)` term on its own, before the rest of a
    /// backward pass: writes (not adds) its gradient with respect to `z` into `dz` (`[rows, M]`)
    /// and, for the VampPrior, with respect to the statistics into `dStats` (`[K, 2M]`); MoG
    /// parameters' gradients as `backward`. `upstream` is `[rows]` scratch, left holding −β.
    @inlinable
    public func negativeLogDensityBackward(beta: T, rows: Int, z: UnsafePointer<T>, stats: UnsafePointer<T>?,
                                           _ p: ParameterAccess<T>, upstream g: UnsafeMutablePointer<T>,
                                           dz: UnsafeMutablePointer<T>, dStats: UnsafeMutablePointer<T>?) {
        let m = latent
        dz.update(repeating: 0, count: rows * m)
        for r in 0..<rows { g[r] = -beta }
        for i in 0..<p.gradientGroups { p.statsGradients(group: i, whole: dStats)?.update(repeating: 0, count: components * 2 * m) }
        backward(upstream: g, rows: rows, z: z, ldz: m, stats: stats, p, dz: dz, dStats: dStats)
    }

    /// Adds the gradients of `Σ_r g_r·log p(z_r)` into `dz` and into the statistics' gradient
    /// (VampPrior, `dStats` `[K, 2M]`) or the MoG parameters' gradient; with `p.groups`, each
    /// group's into its own buffers (`dStats` is then unused).
    @inlinable
    public func backward(upstream g: UnsafePointer<T>, rows: Int, z: UnsafePointer<T>, ldz: Int,
                         stats: UnsafePointer<T>?, _ p: ParameterAccess<T>,
                         dz: UnsafeMutablePointer<T>, dStats: UnsafeMutablePointer<T>?) {
        let m = latent
        switch kind {
        case .standard:
            LogDensity.standardNormalBackward(rows: rows, dimension: m, upstream: g, x: z, ldx: ldz, dx: dz)
        case .vampprior:
            guard let s = stats else { preconditionFailure("VampPrior backward needs statistics") }
            mixture!.backward(upstream: g, z: z, ldz: ldz, means: s, lds: 2 * m, dz: dz, groups: p.gradientGroups,
                              rows: { p.rows(group: $0, of: rows) }, target: { i in
                guard let ds = p.statsGradients(group: i, whole: dStats) else {
                    preconditionFailure("VampPrior backward needs a statistics gradient")
                }
                return (ds, ds + m)
            })
        case .mog:
            let mo = means!.offset, vo = logvars!.offset
            if !p.accumulate {
                for i in 0..<p.gradientGroups {
                    (p.gradients(group: i) + mo).update(repeating: 0, count: means!.count)
                    (p.gradients(group: i) + vo).update(repeating: 0, count: logvars!.count)
                }
            }
            mixture!.backward(upstream: g, z: z, ldz: ldz, means: p.values + mo, lds: m, dz: dz, groups: p.gradientGroups,
                              rows: { p.rows(group: $0, of: rows) },
                              target: { (p.gradients(group: $0) + mo, p.gradients(group: $0) + vo) })
        }
    }

    /// The pseudo-inputs `u = hardtanh(W, 0, 1)` of rows `range`, written into `out` `[n, D]`.
    @inlinable
    public func pseudoInputs(_ range: Range<Int>, _ p: ParameterAccess<T>, into out: UnsafeMutablePointer<T>) {
        let d = pixels, w = p.values + pseudoInputs!.offset + range.lowerBound * d
        out.update(from: w, count: range.count * d)
        Activation.hardtanh(out, count: range.count * d, lower: 0, upper: 1)
    }

    /// Prior pass, forward: `[μ(u_k) | lv(u_k)]` for `k ∈ range`, through `encoder`.
    /// - Parameters:
    ///   - chunk: an id; the matching `backward(chunk:)` reuses this forward's caches.
    ///   - out: `[range.count, 2M]`.
    public func forward(chunk: Int, range: Range<Int>, encoder: GaussianEncoder<T>, _ p: ParameterAccess<T>,
                        into out: UnsafeMutablePointer<T>) {
        precondition(kind == .vampprior, "only the VampPrior has a prior pass")
        let c = chunkCache(chunk, encoder: encoder)
        let u = c.input.reserve(range.count * pixels)
        pseudoInputs(range, p, into: u)
        c.range = range
        let s = c.encoder.forward(u, rows: range.count, p)
        out.update(from: s, count: range.count * 2 * latent)
    }

    /// Prior pass, backward: adds the encoder's and the pseudo-inputs' gradients for `dStats`
    /// (with `p.groups`, several prior units run stacked as one chunk: each group's encoder
    /// gradient and pseudo-input rows go to its own buffer).
    /// ```
    /// ∂W_k = ∂u_k ∘ 1[0 < W_k < 1]
    /// ```
    /// - Parameter dStats: `[range.count, 2M]`, the summed data-pass gradient for these components.
    public func backward(chunk: Int, dStats: UnsafePointer<T>, _ p: ParameterAccess<T>) {
        guard let c = chunks[chunk], let range = c.range else { preconditionFailure("prior backward before forward") }
        let d = pixels, n = range.count
        let du = c.inputGradient.reserve(n * d)
        c.encoder.backward(dStats, p, inputGradient: du)
        let w = p.values + pseudoInputs!.offset + range.lowerBound * d
        for g in 0..<p.gradientGroups {   // stacked prior units: each unit's rows into its own buffer
            let r = p.rows(group: g, of: n), rows = (r.lowerBound * d)..<(r.upperBound * d)
            let dw = p.gradients(group: g) + pseudoInputs!.offset + range.lowerBound * d
            if p.accumulate {
                for i in rows where w[i] > 0 && w[i] < 1 { dw[i] += du[i] }
            } else {
                for i in rows { dw[i] = w[i] > 0 && w[i] < 1 ? du[i] : 0 }
            }
        }
    }

    @usableFromInline func chunkCache(_ id: Int, encoder: GaussianEncoder<T>) -> PriorChunk<T> {
        if let c = chunks[id] { return c }
        let c = PriorChunk(encoder: GaussianEncoder(sharing: encoder))
        chunks[id] = c
        return c
    }
}

/// The caches of one chunk of pseudo-inputs between its forward and its backward.
public final class PriorChunk<T: Scalar> {
    @usableFromInline let encoder: GaussianEncoder<T>
    @usableFromInline let input = Workspace<T>()
    @usableFromInline let inputGradient = Workspace<T>()
    @usableFromInline var range: Range<Int>?
    init(encoder: GaussianEncoder<T>) { self.encoder = encoder }
}
