import Tensor
import NN

extension HVAE {
    /// `[μ2 | lv2]` of q(z2|x), `[rows, 2M]`, and the x-branch `GatedDense_x(x)` of q(z1|x,z2),
    /// `[rows, H]`: everything about x that does not depend on the samples.
    public func encode(_ x: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>)
        -> (stats: UnsafeMutablePointer<T>, branch: UnsafeMutablePointer<T>) {
        (encoderZ2.forward(x, rows: rows, p), encoderZ1X.forward(x, rows: rows, p).data)
    }

    /// E[x|z1,z2] into `out` `[rows, D]`; `z1`, `z2` are `[rows, M]`.
    public func decode(z1: UnsafePointer<T>, z2: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>,
                       into out: UnsafeMutablePointer<T>) {
        let h = config.hiddenSize
        let c = decoderZ1.forward(z1, rows: rows, p).data
        let e = decoderZ2.forward(z2, rows: rows, p).data
        let cp = concatP.reserve(rows * 2 * h)
        concatenate(c, e, rows: rows, width: h, into: cp)
        let hj = decoderJoint.forward(cp, rows: rows, p).data
        _ = observation.head.forward(hj, rows: rows, p)
        observation.mean(into: out)
    }

    /// The posterior means: `z2 = μ2(x)`, then `z1 = μ1(x, z2)`, `[rows, M]` each.
    public func posteriorMeans(_ x: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>,
                               z1: UnsafeMutablePointer<T>, z2: UnsafeMutablePointer<T>) {
        let m = config.latentSize, h = config.hiddenSize
        let (s2, a) = encode(x, rows: rows, p)
        for r in 0..<rows { (z2 + r * m).update(from: s2 + r * 2 * m, count: m) }
        let b = encoderZ1Z2.forward(z2, rows: rows, p).data
        let cq = concatQ.reserve(rows * 2 * h)
        concatenate(a, b, rows: rows, width: h, into: cq)
        let s1 = encoderZ1.forward(cq, rows: rows, p)
        for r in 0..<rows { (z1 + r * m).update(from: s1 + r * 2 * m, count: m) }
    }

    /// `[pμ1 | plv1]` of p(z1|z2), `[rows, 2M]`.
    public func priorZ1Stats(_ z2: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) -> UnsafeMutablePointer<T> {
        priorZ1.forward(z2, rows: rows, p)
    }

    /// Log importance weights of one image's samples:
    /// ```
    /// log w_s = log p(x|z1,z2) + log p(z1|z2) + log p(z2) − log q(z1|x,z2) − log q(z2|x)
    /// ```
    /// - Parameters:
    ///   - x: the image replicated `[rows, D]`.
    ///   - stats: its q(z2|x) `[μ2 | lv2]` replicated `[rows, 2M]`.
    ///   - branch: its `GatedDense_x(x)` replicated `[rows, H]`.
    ///   - noise: `[rows, 2M]` (`[ε1 | ε2]`).
    public func logImportanceWeights(x: UnsafePointer<T>, stats s2: UnsafePointer<T>, branch: UnsafePointer<T>,
                                     noise: UnsafePointer<T>, rows: Int, priorStats: UnsafePointer<T>?,
                                     _ p: ParameterAccess<T>, into out: UnsafeMutablePointer<T>) {
        forward(x: x, stats: s2, branch: branch, noise: noise, rows: rows, priorStats: priorStats, p, gradient: false)
        let px = logPx.data, q = logQ.data, pz = logPz.data
        for r in 0..<rows { out[r] = px[r] + pz[r] - q[r] }
    }
}
