import Tensor

/// A gated dense layer (Dauphin et al. 2017), as the VampPrior models use it.
///
/// ```
/// [H | G] = X · [W_h; W_g]ᵀ + [b_h | b_g]    // one GEMM, [B, 2·out]
/// Y = H ∘ σ(G)                               // [B, out]
/// ```
/// Parameters: `prefix.h.weight`, `prefix.g.weight` (`[out, in]`), `prefix.h.bias`, `prefix.g.bias`.
public final class GatedDense<T: Scalar> {
    public let linear: Linear<T>
    @usableFromInline let gate = Workspace<T>()        // σ(G), [B, out]
    @usableFromInline let output = Workspace<T>()      // Y, [B, out]
    @usableFromInline let preGradient = Workspace<T>() // d[H | G], [B, 2·out]

    public init(_ prefix: String, inputs: Int, outputs: Int, layout: ParameterLayout) {
        linear = Linear(prefix, inputs: inputs, outputs: outputs, heads: ["h", "g"], layout: layout)
    }

    /// A new instance over the same parameters, with caches of its own.
    public init(sharing other: GatedDense<T>) {
        linear = Linear(sharing: other.linear)
    }

    @inlinable public var inputs: Int { linear.inputs }
    @inlinable public var outputs: Int { linear.outputs }

    /// He initialisation of both maps.
    public func initialize(_ values: ParameterVector<T>, random: KeyedRandom) {
        linear.initialize(values, random: random)
    }

    /// `Y = H ∘ σ(G)`.
    /// - Parameter x: `[rows, in]`, valid until `backward`.
    /// - Returns: `[rows, out]`, valid until the next `forward`.
    @inlinable
    public func forward(_ x: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) -> MatrixBuffer<T> {
        let n = outputs
        let pre = linear.forward(x, rows: rows, p).data   // [rows, 2n]
        let s = gate.reserve(rows * n)
        let y = output.reserve(rows * n)
        for r in 0..<rows {
            let h = pre + r * 2 * n, g = h + n
            T.sigmoid(g, s + r * n, count: n)
            for j in 0..<n { y[r * n + j] = h[j] * s[r * n + j] }
        }
        return MatrixBuffer(data: y, rows: rows, columns: n)
    }

    /// Backward through the gate and the fused map.
    /// ```
    /// dH = dY ∘ σ(G)
    /// dG = dY ∘ H ∘ σ(G) ∘ (1 − σ(G))
    /// ```
    /// - Parameters:
    ///   - dy: `[rows, out]`.
    ///   - inputGradient: `[rows, in]` or nil.
    @inlinable
    public func backward(_ dy: UnsafePointer<T>, _ p: ParameterAccess<T>,
                         inputGradient: UnsafeMutablePointer<T>?, accumulate: Bool = false) {
        let n = outputs, rows = linear.rows
        let pre = linear.output.data
        let s = gate.data
        let d = preGradient.reserve(rows * 2 * n)
        for r in 0..<rows {
            let h = pre + r * 2 * n, sr = s + r * n, dyr = dy + r * n
            let dh = d + r * 2 * n, dg = dh + n
            for j in 0..<n {
                let sj = sr[j]
                dh[j] = dyr[j] * sj
                dg[j] = dyr[j] * h[j] * sj * (1 - sj)
            }
        }
        linear.backward(d, p, inputGradient: inputGradient, accumulate: accumulate)
    }
}
