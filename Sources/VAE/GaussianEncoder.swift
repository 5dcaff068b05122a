import Tensor
import NN

/// q(z|x) as a stack of GatedDense layers and a fused mean/log-variance head.
///
/// ```
/// h = GatedDense_L(…GatedDense_1(x))        // [B, H]
/// [μ | lv′] = h · [W_μ; W_lv]ᵀ + b           // [B, 2M]
/// lv = hardtanh(lv′, −6, 2)
/// ```
/// The output rows are `μ` then `lv`: the "statistics" layout used everywhere, `[B, 2M]`.
public final class GaussianEncoder<T: Scalar> {
    public static var logvarRange: (lower: T, upper: T) { (-6, 2) }
    public let layers: [GatedDense<T>]
    public let head: Linear<T>
    @usableFromInline let hiddenGradient = Workspace<T>()
    @usableFromInline let statsGradient = Workspace<T>()

    /// Registers `prefix.0`, …, `prefix.{L−1}` (or `prefix.name` for each of `layerNames`)
    /// and `prefix.mean`, `prefix.logvar`.
    public init(_ prefix: String, inputs: Int, hidden: Int, latent: Int, layerNames: [String] = ["0", "1"],
                layout: ParameterLayout) {
        var ls: [GatedDense<T>] = []
        for (i, name) in layerNames.enumerated() {
            ls.append(GatedDense("\(prefix).\(name)", inputs: i == 0 ? inputs : hidden, outputs: hidden, layout: layout))
        }
        layers = ls
        head = Linear(prefix, inputs: hidden, outputs: latent, heads: ["mean", "logvar"], layout: layout)
    }

    /// A new instance over the same parameters, with caches of its own.
    public init(sharing other: GaussianEncoder<T>) {
        layers = other.layers.map { GatedDense(sharing: $0) }
        head = Linear(sharing: other.head)
    }

    public var latent: Int { head.outputs }

    public func initialize(_ values: ParameterVector<T>, random: (String) -> KeyedRandom) {
        for l in layers { l.initialize(values, random: random(l.linear.weights[0].name)) }
        head.initialize(values, random: random(head.weights[0].name))
    }

    /// `[μ | lv]` for `rows` inputs.
    /// - Parameter x: `[rows, in]`, valid until `backward`.
    /// - Returns: `[rows, 2M]`, valid until the next `forward`.
    @inlinable
    public func forward(_ x: UnsafePointer<T>, rows: Int, _ p: ParameterAccess<T>) -> UnsafeMutablePointer<T> {
        var h = UnsafePointer(x)
        for l in layers { h = UnsafePointer(l.forward(h, rows: rows, p).data) }
        let s = head.forward(h, rows: rows, p).data
        let m = latent, (lo, hi) = Self.logvarRange
        for r in 0..<rows { Activation.hardtanh(s + r * 2 * m + m, count: m, lower: lo, upper: hi) }
        return s
    }

    /// The last forward's output, `[rows, 2M]`.
    @inlinable public var stats: UnsafeMutablePointer<T> { head.output.data }

    /// Backward from `∂L/∂[μ | lv]`.
    /// - Parameters:
    ///   - dStats: `[rows, 2M]`.
    ///   - inputGradient: `[rows, in]`, or nil when the input needs none.
    @inlinable
    public func backward(_ dStats: UnsafePointer<T>, _ p: ParameterAccess<T>, inputGradient: UnsafeMutablePointer<T>?) {
        let rows = head.rows, m = latent, (lo, hi) = Self.logvarRange
        let d = statsGradient.reserve(rows * 2 * m)
        d.update(from: dStats, count: rows * 2 * m)
        let s = stats
        for r in 0..<rows {
            Activation.hardtanhBackward(d + r * 2 * m + m, output: s + r * 2 * m + m, count: m, lower: lo, upper: hi)
        }
        let hidden = head.inputs
        let dh = hiddenGradient.reserve(rows * hidden * 2)
        var current = dh, spare = dh + rows * hidden
        head.backward(d, p, inputGradient: current)
        for (i, l) in layers.enumerated().reversed() {
            let dx = i == 0 ? inputGradient : spare
            l.backward(current, p, inputGradient: dx)
            swap(&current, &spare)
        }
    }
}
