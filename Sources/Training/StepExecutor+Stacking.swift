import Foundation
import Tensor
import NN
import VAE

/// Stacked units: a thread with several data units runs them as one pass over all their rows, and
/// one with several VampPrior prior units runs them as one chunk through the encoder (one GEMM per
/// layer instead of one per unit, so each weight is packed once), keeping each unit's gradients
/// apart (`RowGroups`). It changes no bit, or it is not used:
///
/// - A row's forward and input-gradient GEMM results must not depend on how many rows share the
///   call. That is a property of the BLAS kernel on this CPU (OpenBLAS's Haswell/Zen kernels take
///   rows in tiles of 12 and differ; its AVX-512 kernels were measured equal for every row count
///   tried, `Tests/Benchmarks/gemm_rows_probe.c`), so the executor checks it before its first step
///   with each grouping of row counts: it runs those units both ways, on fixed random inputs and
///   parameters, and stacks only if every gradient, statistics gradient and loss sum (prior units:
///   statistics, encoder gradients and pseudo-input rows) is bit-equal.
/// - Each unit's weight gradient, bias gradient and prior gradients are reduced over its own rows
///   only, into its own buffers, exactly as when it runs alone.
///
/// Stacking needs a thread's units to be consecutive rows, so when it is on, thread t takes a
/// consecutive block of units instead of every `threads`-th unit (which thread runs a unit never
/// changes its bits). `LARGEVAE_STACK_UNITS=0` turns it off.
extension StepExecutor {
    /// Whether the environment allows stacking (`LARGEVAE_STACK_UNITS=0` turns it off).
    public static var stackingAllowed: Bool {
        ProcessInfo.processInfo.environment["LARGEVAE_STACK_UNITS"] != "0"
    }

    /// The data units of thread t when stacking: a consecutive block, the units shared out as evenly
    /// as possible.
    static func consecutiveBlocks(units: Int, threads: Int) -> [Range<Int>] {
        (0..<threads).map { t in (t * units / threads)..<((t + 1) * units / threads) }
    }

    /// Whether the last step's threads ran their data units stacked.
    public var ranStacked: Bool { stackedUnits != nil }
    /// Whether the threads run their prior units stacked (decided before the first step).
    public var ranPriorStacked: Bool { stackedPriorUnits != nil }

    /// Whether stacking units of `rowCounts` rows keeps every bit of this model on this machine
    /// (probed on the first thread, as before a step; the answer is not cached).
    public func stackingKeepsBits(rowCounts: [Int]) -> Bool {
        onFirstThread { [unowned self] in self.stackingKeepsBits($0, rowCounts: rowCounts) }
    }

    /// `probe` run on the first thread with its model replica, as a step's unit would be.
    func onFirstThread(_ probe: @escaping (LatentModel<T>) -> Bool) -> Bool {
        var answer = false
        parallelForEach(1) { _, model in answer = probe(model) }
        return answer
    }

    /// Decides, for the current `dataUnits`, whether threads stack their units, and sets
    /// `stackedUnits` (per thread) when they do. Probes each new grouping of row counts once.
    /// The first time, it decides the same for the prior units (`stackedPriorUnits`).
    func planStacking() {
        if !priorStackingPlanned {
            priorStackingPlanned = true
            stackedPriorUnits = priorUnits.isEmpty ? nil : stackedBlocks(count: priorUnits.count) { block in
                let units = Array(priorUnits[block])
                return onFirstThread { [unowned self] in self.priorStackingKeepsBits($0, units: units) }
            }
        }
        stackedUnits = stackedBlocks(count: dataUnits.units.count) { block in
            let counts = block.map { dataUnits.units[$0].count }
            if let known = stackingProbes[counts] { return known }
            let same = stackingKeepsBits(rowCounts: counts)
            stackingProbes[counts] = same
            return same
        }
    }

    /// The threads' consecutive blocks of `count` units, when some thread holds several and
    /// `keepsBits` accepts every such block; else nil (units run one by one).
    func stackedBlocks(count: Int, keepsBits: (Range<Int>) -> Bool) -> [Range<Int>]? {
        guard stacking else { return nil }
        let blocks = Self.consecutiveBlocks(units: count, threads: threads)
        guard blocks.contains(where: { $0.count > 1 }), blocks.allSatisfy({ $0.count < 2 || keepsBits($0) }) else { return nil }
        return blocks
    }

    /// Thread t's data units as one stacked pass.
    func stackedDataUnits(thread t: Int, _ s: StepState) {
        guard let block = stackedUnits?[t], !block.isEmpty else { return }
        let units = dataUnits.units
        let rows = units[block.lowerBound].lowerBound..<units[block.upperBound - 1].upperBound
        let eps = stackNoise[t].reserve(rows.count * config.noiseWidth)
        fillNoise(s.noise, rows: rows, into: eps)
        let vamp = !priorUnits.isEmpty
        let groups = stackGroups[t]
        groups.removeAll()
        for u in block {
            groups.append(rows: units[u].count, gradients: dataGradients[u].data,
                          statsGradients: vamp ? unitStatsGradients[u].data : nil)
        }
        let losses = unitLosses
        Units.stackedData(replicas[t], x: s.x + rows.lowerBound * config.inputSize, noise: eps, beta: s.beta,
                          stats: vamp ? UnsafePointer(stats.data) : nil, values: s.values, groups: groups,
                          gradient: s.gradient, scratch: dataGradients[block.lowerBound].data,
                          sums: { losses[block.lowerBound + $0] = $1 })
    }

    /// Thread t's prior units, forward or backward, as one chunk named after its first unit.
    func stackedPriorUnits(_ phase: Phase, thread t: Int, _ s: StepState) {
        guard let block = stackedPriorUnits?[t], !block.isEmpty else { return }
        let w = 2 * config.latentSize, first = block.lowerBound
        let range = priorUnits[first].lowerBound..<priorUnits[block.upperBound - 1].upperBound
        if phase == .priorForward {
            Units.priorForward(replicas[t], chunk: first, range: range, values: s.values, scratch: priorGradients[first].data,
                               into: stats.data + range.lowerBound * w)
            return
        }
        let groups = stackGroups[t]
        groups.removeAll()
        for c in block { groups.append(rows: priorUnits[c].count, gradients: priorGradients[c].data, statsGradients: nil) }
        Units.stackedPriorBackward(replicas[t], chunk: first, dStats: statsGradient.data + range.lowerBound * w,
                                   values: s.values, groups: groups, scratch: priorGradients[first].data)
    }

    /// Runs the prior units `units` (consecutive) one by one and as one chunk, forward and backward,
    /// on fixed random parameters and statistics gradients, and tells whether the statistics, each
    /// unit's encoder gradient and its pseudo-input rows are bit-equal. Allocates (it runs once).
    func priorStackingKeepsBits(_ model: LatentModel<T>, units: [Range<Int>]) -> Bool {
        let w = 2 * config.latentSize, d = config.inputSize
        let values = ParameterVector<T>(layout: layout), scratch = ParameterVector<T>(layout: layout)
        model.initialize(values, seed: 0x57AD)
        let all = units[0].lowerBound..<units[units.count - 1].upperBound
        let dStats = Tensor<T>(shape: [config.components, w])
        KeyedRandom(RandomKey(seed: 0x57AD, epoch: 0, index: 2, purpose: .reparameterization)).normals(into: dStats.data, count: dStats.count)
        let aloneStats = Tensor<T>(shape: [config.components, w]), stackedStats = Tensor<T>(shape: [config.components, w])
        let alone = units.map { _ in ParameterVector<T>(layout: layout) }, stacked = units.map { _ in ParameterVector<T>(layout: layout) }
        // The probe runs before a step, whose prior forward refills every chunk cache it uses.
        for (i, r) in units.enumerated() {
            Units.priorForward(model, chunk: i, range: r, values: values.data, scratch: scratch.data,
                               into: aloneStats.data + r.lowerBound * w)
        }
        for (i, r) in units.enumerated() {
            Units.priorBackward(model, chunk: i, dStats: dStats.data + r.lowerBound * w, values: values.data,
                                gradient: alone[i].data)
        }
        let chunk = 0
        Units.priorForward(model, chunk: chunk, range: all, values: values.data, scratch: scratch.data,
                           into: stackedStats.data + all.lowerBound * w)
        let groups = RowGroups<T>()
        groups.set(rowCounts: units.map(\.count), gradients: stacked.map(\.data), statsGradients: units.map { _ in nil })
        Units.stackedPriorBackward(model, chunk: chunk, dStats: dStats.data + all.lowerBound * w, values: values.data,
                                   groups: groups, scratch: scratch.data)
        let size = MemoryLayout<T>.stride
        if memcmp(aloneStats.data + all.lowerBound * w, stackedStats.data + all.lowerBound * w, all.count * w * size) != 0 { return false }
        let encoder = ranges.priorEncoder, pseudo = ranges.pseudoInputs.lowerBound
        for (i, r) in units.enumerated() {
            if memcmp(alone[i].data + encoder.lowerBound, stacked[i].data + encoder.lowerBound, encoder.count * size) != 0 { return false }
            let rows = pseudo + r.lowerBound * d
            if memcmp(alone[i].data + rows, stacked[i].data + rows, r.count * d * size) != 0 { return false }
        }
        return true
    }

    /// Runs units of `rowCounts` rows one by one and stacked, on fixed random parameters, images and
    /// noise, and tells whether every result is bit-equal. Allocates (it runs once per grouping).
    func stackingKeepsBits(_ model: LatentModel<T>, rowCounts: [Int]) -> Bool {
        let d = config.inputSize, nw = config.noiseWidth, rows = rowCounts.reduce(0, +)
        let k = config.components, w = 2 * config.latentSize, vamp = !priorUnits.isEmpty
        let values = ParameterVector<T>(layout: layout), scratch = ParameterVector<T>(layout: layout)
        model.initialize(values, seed: 0x57AC)
        let x = Tensor<T>(shape: [rows, d]), noise = Tensor<T>(shape: [rows, nw])
        KeyedRandom(RandomKey(seed: 0x57AC, epoch: 0, index: 0, purpose: .binarization)).normals(into: x.data, count: x.count)
        for i in 0..<x.count { x.data[i] = x.data[i] > 0 ? 1 : 0 }
        KeyedRandom(RandomKey(seed: 0x57AC, epoch: 0, index: 1, purpose: .reparameterization)).normals(into: noise.data, count: noise.count)
        let priorStats = Tensor<T>(shape: vamp ? [k, w] : [0])
        if vamp {
            model.priorForward(chunks: [0..<k], ParameterAccess(values: UnsafePointer(values.data), gradients: scratch.data),
                               into: priorStats.data)
        }
        let statsPointer: UnsafePointer<T>? = vamp ? UnsafePointer(priorStats.data) : nil
        let beta: T = 0.75
        func buffers() -> (gradients: [ParameterVector<T>], dStats: [Tensor<T>]) {
            (rowCounts.map { _ in ParameterVector<T>(layout: layout) }, rowCounts.map { _ in Tensor<T>(shape: vamp ? [k, w] : [0]) })
        }
        let alone = buffers(), stacked = buffers()
        var aloneSums: [LossSums] = [], start = 0
        for (g, n) in rowCounts.enumerated() {
            aloneSums.append(Units.data(model, x: x.data + start * d, noise: noise.data + start * nw, rows: n, beta: beta,
                                        stats: statsPointer, values: values.data, gradient: alone.gradients[g].data,
                                        dStats: vamp ? alone.dStats[g].data : nil, scratch: scratch.data))
            start += n
        }
        let groups = RowGroups<T>()
        groups.set(rowCounts: rowCounts, gradients: stacked.gradients.map(\.data),
                   statsGradients: stacked.dStats.map { vamp ? $0.data : nil })
        var stackedSums = [LossSums](repeating: LossSums(), count: rowCounts.count)
        Units.stackedData(model, x: x.data, noise: noise.data, beta: beta, stats: statsPointer, values: values.data,
                          groups: groups, gradient: true, scratch: scratch.data, sums: { stackedSums[$0] = $1 })
        guard aloneSums == stackedSums else { return false }
        let data = ranges.data
        for g in rowCounts.indices {
            let a = alone.gradients[g].data + data.lowerBound, b = stacked.gradients[g].data + data.lowerBound
            if memcmp(a, b, data.count * MemoryLayout<T>.stride) != 0 { return false }
            if vamp && memcmp(alone.dStats[g].data, stacked.dStats[g].data, k * w * MemoryLayout<T>.stride) != 0 { return false }
        }
        return true
    }
}
