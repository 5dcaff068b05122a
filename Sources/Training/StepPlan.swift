import VAE

/// How every step is cut into fixed work units. The trained weights depend on the plan, never
/// on which worker (or thread) computed which unit.
///
/// ```
/// data units:  batch rows  [0, u), [u, 2u), …          (u = dataUnitSize)
/// prior units: components  [0, c), [c, 2c), …  of K    (c = priorUnitSize, VampPrior only)
/// ```
public struct StepPlan: Codable, Equatable, Sendable {
    public var batchSize: Int
    public var dataUnitSize: Int
    public var priorUnitSize: Int

    /// Defaults: units of 50 keep the weight-gradient GEMMs near the roofline and split a batch
    /// of 100 evenly over 2 workers; 2 prior units of 250 split K = 500 evenly over 1 or 2 and keep
    /// the prior-pass GEMMs large (`largevae bench --prior-unit 125` against 250: VampPrior steps
    /// 10–20 % slower with 125 on this machine).
    public init(batchSize: Int = 100, dataUnitSize: Int = 50, priorUnitSize: Int = 250) {
        self.batchSize = batchSize
        self.dataUnitSize = dataUnitSize
        self.priorUnitSize = priorUnitSize
    }

    /// Row ranges of the data units for a batch of `rows` (the last may be shorter).
    public func dataUnits(rows: Int) -> [Range<Int>] {
        Self.cut(rows, into: dataUnitSize)
    }

    /// Component ranges of the prior units.
    public func priorUnits(components: Int) -> [Range<Int>] {
        Self.cut(components, into: priorUnitSize)
    }

    public static func cut(_ n: Int, into size: Int) -> [Range<Int>] {
        precondition(size > 0, "unit size must be positive")
        return stride(from: 0, to: n, by: size).map { $0..<Swift.min($0 + size, n) }
    }
}

/// Where each kind of unit writes in the flat gradient.
public struct GradientRanges: Equatable, Sendable {
    /// Parameters the data units touch: everything but the pseudo-inputs.
    public let data: Range<Int>
    /// The top encoder's parameters, which the prior units also touch (VampPrior).
    public let priorEncoder: Range<Int>
    /// The pseudo-inputs `[K, D]`, each row touched by exactly one prior unit.
    public let pseudoInputs: Range<Int>

    public init<T>(model: LatentModel<T>) {
        let count = model.layout.count
        if let e = model.prior.pseudoInputs {
            pseudoInputs = e.offset..<(e.offset + e.count)
            data = 0..<e.offset
            let enc = model.topEncoder
            let first = enc.layers[0].linear.weights[0].offset
            let last = enc.head.biases.last!
            priorEncoder = first..<(last.offset + last.count)
        } else {
            pseudoInputs = count..<count
            data = 0..<count
            priorEncoder = 0..<0
        }
    }
}

extension GradientRanges {
    /// The gradient's elements in two groups of reduction blocks (at most `size` elements each):
    /// `early`, the elements only data units touch (`data` without `priorEncoder`), and `late`,
    /// the rest. With the VampPrior the early sums can be taken as soon as the data units are in,
    /// on a core whose prior unit is done while another still runs; without it every element waits
    /// for the last data unit, and `early` is empty.
    ///
    /// ```
    /// VampPrior:  early = data ∖ priorEncoder        late = priorEncoder ∪ pseudoInputs
    /// otherwise:  early = ∅                          late = data
    /// ```
    public func reductionBlocks(size: Int) -> (early: [Range<Int>], late: [Range<Int>]) {
        guard !pseudoInputs.isEmpty else { return ([], Self.cut([data], into: size)) }
        let early = [data.lowerBound..<priorEncoder.lowerBound, priorEncoder.upperBound..<data.upperBound]
        return (Self.cut(early, into: size), Self.cut([priorEncoder, pseudoInputs], into: size))
    }

    /// Each non-empty range of `ranges` cut into pieces of at most `size` elements, in order.
    public static func cut(_ ranges: [Range<Int>], into size: Int) -> [Range<Int>] {
        ranges.filter { !$0.isEmpty }.flatMap { r in StepPlan.cut(r.count, into: size).map { (r.lowerBound + $0.lowerBound)..<(r.lowerBound + $0.upperBound) } }
    }
}
