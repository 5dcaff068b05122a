import Tensor
import VAE

/// Where a step's unit results are, for the fixed-order reduction. Both the in-process executor
/// (unit buffers) and the coordinator (received messages) describe their results this way and
/// then run the same `GradientReduction`, so the two give the same bits.
public struct UnitResults<T: Scalar> {
    /// Data units.
    public var dataCount = 0
    /// Prior units (0 unless VampPrior).
    public var priorCount = 0
    /// Data unit u's gradient, indexed by parameter offset over `GradientRanges.data`.
    public var data: (Int) -> UnsafePointer<T>
    /// Prior unit c's top-encoder gradient, indexed from `GradientRanges.priorEncoder.lowerBound`.
    public var priorEncoder: (Int) -> UnsafePointer<T>
    /// Prior unit c's pseudo-input gradient rows `[|c|, D]`.
    public var pseudoInputs: (Int) -> UnsafePointer<T>

    public init(data: @escaping (Int) -> UnsafePointer<T>, priorEncoder: @escaping (Int) -> UnsafePointer<T>,
                pseudoInputs: @escaping (Int) -> UnsafePointer<T>) {
        self.data = data
        self.priorEncoder = priorEncoder
        self.pseudoInputs = pseudoInputs
    }
}

/// The fixed-order reduction of a step's unit gradients into the mean gradient:
/// ```
/// data range:      Σ = TreeSum_u g_u
/// prior encoder:   Σ = TreeSum_u g_u + TreeSum_c h_c                  (VampPrior)
/// pseudo-inputs:   Σ = h_c of the one prior unit c that owns the row
/// gradient = T(Σ / B),  Σ in Float64
/// ```
/// Element blocks are independent, so any split of the parameter vector over threads gives the
/// same bits.
public final class GradientReduction<T: Scalar> {
    public let ranges: GradientRanges
    let rowsPerPriorUnit: Int
    /// Float64 scratch per caller thread: two tree blocks plus the tree itself.
    let scratch: [UnsafeMutablePointer<Double>]

    /// - Parameters:
    ///   - threads: how many threads may reduce side by side (one scratch each).
    ///   - maximumUnits: the most data or prior units a step can have.
    public init(ranges: GradientRanges, config: ModelConfig, plan: StepPlan, threads: Int, maximumUnits: Int) {
        self.ranges = ranges
        rowsPerPriorUnit = config.inputSize * plan.priorUnitSize
        let count = TreeSum.scratchCount(leafCount: Swift.max(maximumUnits, 64)) + 2 * TreeSum.block
        scratch = (0..<threads).map { _ in .allocate(capacity: count) }
    }

    deinit { scratch.forEach { $0.deallocate() } }

    /// Reduces parameter elements `range` into `gradient` (indexed by parameter offset) with the
    /// scratch of `thread`, for a batch of `rows` images.
    /// - Returns: the finiteness sum, 0 exactly when every element written is finite.
    public func reduce(_ results: UnitResults<T>, elements range: Range<Int>, rows: Int, thread: Int,
                       into gradient: UnsafeMutablePointer<T>) -> Double {
        let scale = 1 / Double(rows)
        let root = scratch[thread]
        var start = range.lowerBound, finite = 0.0
        while start < range.upperBound {
            let n = chunkLength(from: start, limit: range.upperBound)
            let out = gradient + start
            if ranges.priorEncoder.contains(start) {
                finite += TreeSum.mean(leafCount: results.dataCount, leaf: results.data, offset: start,
                                       secondCount: results.priorCount, secondLeaf: results.priorEncoder,
                                       secondOffset: start - ranges.priorEncoder.lowerBound, n: n, scale: scale,
                                       into: out, scratch: root)
            } else if ranges.data.contains(start) {
                finite += TreeSum.mean(leafCount: results.dataCount, leaf: results.data, offset: start, n: n,
                                       scale: scale, into: out, scratch: root)
            } else {
                finite += pseudoInputs(results, start, n, scale: scale, into: out)
            }
            start += n
        }
        return finite
    }

    /// Elements from `start` up to the next range boundary, at most one tree block.
    func chunkLength(from start: Int, limit: Int) -> Int {
        var end = Swift.min(start + TreeSum.block, limit)
        for boundary in [ranges.priorEncoder.lowerBound, ranges.priorEncoder.upperBound, ranges.pseudoInputs.lowerBound]
        where boundary > start && boundary < end { end = boundary }
        return end - start
    }

    /// Pseudo-input gradient elements `start ..< start + n`, finished (`T(scale · Double(h_c))`),
    /// each row from the prior unit that owns it (rows belong to exactly one unit, so there is
    /// nothing to sum); returns the finiteness sum.
    func pseudoInputs(_ results: UnitResults<T>, _ start: Int, _ n: Int, scale: Double, into out: UnsafeMutablePointer<T>) -> Double {
        let base = ranges.pseudoInputs.lowerBound
        var i = start, finite = 0.0
        while i < start + n {
            let unit = (i - base) / rowsPerPriorUnit, unitStart = base + unit * rowsPerPriorUnit
            let end = Swift.min(start + n, unitStart + rowsPerPriorUnit)
            finite += TreeSum.single(results.pseudoInputs(unit) + (i - unitStart), scale: scale, into: out + (i - start), count: end - i)
            i = end
        }
        return finite
    }

    /// `G = T(TreeSum_u G_u)`, the summed gradient with respect to the prior statistics (`count`
    /// elements), with the scratch of `thread`.
    public func reduceStatsGradients(leafCount: Int, leaf: (Int) -> UnsafePointer<T>, count: Int, thread: Int,
                                     into out: UnsafeMutablePointer<T>) {
        let sum = scratch[thread], tree = sum + TreeSum.block
        var start = 0
        while start < count {
            let n = Swift.min(TreeSum.block, count - start)
            TreeSum.block(leafCount: leafCount, leaf: leaf, offset: start, n: n, into: sum, scratch: tree)
            for i in 0..<n { out[start + i] = T(sum[i]) }
            start += n
        }
    }
}
