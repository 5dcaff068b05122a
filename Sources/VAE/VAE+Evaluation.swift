import Tensor
import NN

extension VAE {
    /// `[μ | lv]` of q(z|x) for `rows` images, `[rows, 2M]` (valid until the next encoder call).
    public func encode(_ x: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) -> UnsafeMutablePointer<T> {
        encoder.forward(x, rows: rows, p)
    }

    /// E[x|z] for latents `z` `[rows, M]`, into `out` `[rows, D]`.
    public func decode(_ z: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>, into out: UnsafeMutablePointer<T>) {
        let h = decode(z, rows: rows, p)
        _ = observation.head.forward(h, rows: rows, p)
        observation.mean(into: out)
    }

    /// Log importance weights of one image's samples:
    /// ```
    /// log w_s = log p(x|z_s) + log p(z_s) − log q(z_s|x),   z_s = μ + σ·ε_s
    /// ```
    /// - Parameters:
    ///   - x: the image replicated `[rows, D]`.
    ///   - stats: its `[μ | lv]` replicated `[rows, 2M]` (encoded once by the caller).
    ///   - noise: `[rows, M]`.
    ///   - out: `[rows]`.
    public func logImportanceWeights(x: UnsafePointer<T>, stats: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int,
                                     priorStats: UnsafePointer<T>?, _ p: ParameterAccess<T>,
                                     into out: UnsafeMutablePointer<T>) {
        forward(x: x, stats: stats, noise: noise, rows: rows, priorStats: priorStats, p, gradient: false)
        let px = logPx.data, q = logQ.data, pz = logPz.data
        for r in 0..<rows { out[r] = px[r] + pz[r] - q[r] }
    }
}
