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
        let root = scratch[thread], extra = root + TreeSum.block, tree = root + 2 * TreeSum.block
        var start = range.lowerBound, finite = 0.0
        while start < range.upperBound {
            let n = chunkLength(from: start, limit: range.upperBound)
            let out = gradient + start
            if ranges.priorEncoder.contains(start) && results.dataCount <= 2 && (1...2).contains(results.priorCount) {
                let e = start - ranges.priorEncoder.lowerBound
                finite += Self.twoTreesFinish(results.data(0) + start, results.dataCount == 2 ? results.data(1) + start : nil,
                                              results.priorEncoder(0) + e, results.priorCount == 2 ? results.priorEncoder(1) + e : nil,
                                              scale: scale, into: out, count: n)
            } else if ranges.priorEncoder.contains(start) {
                TreeSum.block(leafCount: results.dataCount, leaf: results.data, offset: start, n: n, into: root, scratch: tree)
                TreeSum.block(leafCount: results.priorCount, leaf: results.priorEncoder,
                              offset: start - ranges.priorEncoder.lowerBound, n: n, into: extra, scratch: tree)
                TreeSum.add(extra, into: root, count: n)
                finite += TreeSum.finish(root, scale: scale, into: out, count: n)
            } else if ranges.data.contains(start) {
                finite += TreeSum.mean(leafCount: results.dataCount, leaf: results.data, offset: start, n: n,
                                       scale: scale, into: out, scratch: root)
            } else {
                pseudoInputs(results, start, n, into: root)
                finite += TreeSum.finish(root, scale: scale, into: out, count: n)
            }
            start += n
        }
        return finite
    }

    /// The prior encoder's sum when both trees have one or two leaves, in one pass:
    /// `out[i] = T(scale · ((a + b) + (c + d)))` in Float64, exactly the operations of the two
    /// `TreeSum` trees and their sum; returns the finiteness sum.
    @inline(__always)
    static func twoTreesFinish(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>?, _ c: UnsafePointer<T>, _ d: UnsafePointer<T>?,
                               scale: Double, into out: UnsafeMutablePointer<T>, count n: Int) -> Double {
        var i = 0, finite = SIMD4<Double>(repeating: 0)
        if T.self == Float.self {
            let ra = UnsafeRawPointer(a), rb = b.map(UnsafeRawPointer.init), rc = UnsafeRawPointer(c), rd = d.map(UnsafeRawPointer.init)
            let o = UnsafeMutableRawPointer(out)
            while i + 4 <= n {
                var data = SIMD4<Double>(ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self))
                if let rb { data += SIMD4<Double>(rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)) }
                var prior = SIMD4<Double>(rc.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self))
                if let rd { prior += SIMD4<Double>(rd.loadUnaligned(fromByteOffset: 4 * i, as: SIMD4<Float>.self)) }
                let v = data + prior
                o.storeBytes(of: SIMD4<Float>(v * scale), toByteOffset: 4 * i, as: SIMD4<Float>.self)
                finite += v * 0
                i += 4
            }
        }
        var tail = 0.0
        while i < n {
            var data = Double(a[i]), prior = Double(c[i])
            if let b { data += Double(b[i]) }
            if let d { prior += Double(d[i]) }
            let v = data + prior
            out[i] = T(v * scale)
            tail += v * 0
            i += 1
        }
        return finite.sum() + tail
    }

    /// Elements from `start` up to the next range boundary, at most one tree block.
    func chunkLength(from start: Int, limit: Int) -> Int {
        var end = Swift.min(start + TreeSum.block, limit)
        for boundary in [ranges.priorEncoder.lowerBound, ranges.priorEncoder.upperBound, ranges.pseudoInputs.lowerBound]
        where boundary > start && boundary < end { end = boundary }
        return end - start
    }

    /// Pseudo-input gradient elements `start ..< start + n`, each row from the prior unit that
    /// owns it (rows belong to exactly one unit, so there is nothing to sum).
    func pseudoInputs(_ results: UnitResults<T>, _ start: Int, _ n: Int, into out: UnsafeMutablePointer<Double>) {
        let base = ranges.pseudoInputs.lowerBound
        var i = start
        while i < start + n {
            let unit = (i - base) / rowsPerPriorUnit, unitStart = base + unit * rowsPerPriorUnit
            let end = Swift.min(start + n, unitStart + rowsPerPriorUnit)
            let g = results.pseudoInputs(unit)
            for j in i..<end { out[j - start] = Double(g[j - unitStart]) }
            i = end
        }
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
