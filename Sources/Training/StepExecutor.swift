import Dispatch
import Tensor
import NN
import VAE

/// Runs one step's units on in-process threads and reduces them in the plan's fixed order.
///
/// ```
/// phase 1  S[c]  = prior forward of prior unit c              (VampPrior)
/// phase 2  g_u, G_u, loss_u = data unit u given S
///          G = TreeSum_u G_u
/// phase 3  h_c = prior backward of unit c given G[c]         (VampPrior)
/// gradient[data]          = TreeSum_u g_u
/// gradient[priorEncoder] += TreeSum_c h_c
/// gradient[pseudo rows c] = h_c
/// ```
/// Every unit writes (not adds) each gradient it touches, so its buffer needs no zeroing.
/// Unit u runs on thread `u mod threads`, and prior unit c's backward runs on the thread that ran
/// its forward, so it finds its caches. Each thread calls BLAS single-threaded; parallelism comes
/// from running units side by side, which keeps the result independent of the thread count.
public final class StepExecutor<T: Scalar> {
    public let config: ModelConfig
    public let plan: StepPlan
    public let threads: Int
    public let ranges: GradientRanges
    let replicas: [LatentModel<T>]
    let pool: ThreadPool
    var dataGradients: [ParameterVector<T>] = []
    var priorGradients: [ParameterVector<T>] = []
    var unitStatsGradients: [Tensor<T>] = []
    /// Per-unit loss sums, written by the unit's thread (a raw buffer: threads write distinct slots).
    var unitLosses = UnsafeMutableBufferPointer<LossSums>(start: nil, count: 0)
    var unitNoise: [Workspace<T>] = []
    let stats: Tensor<T>, statsGradient: Tensor<T>
    let statsGradientSum: UnsafeMutablePointer<Double>
    /// The last step's gradient `(1/B)·Σ_units ∂loss/∂θ`, summed in the fixed tree in Float64
    /// and rounded to `T` once.
    public let gradient: ParameterVector<T>
    /// Whether every element of `gradient` is finite.
    public private(set) var gradientIsFinite = true
    var blockFinite: [Bool]
    /// Per-thread scratch for tree sums.
    let treeScratch: [UnsafeMutablePointer<Double>]
    let priorUnits: [Range<Int>]
    /// Element blocks of the data range that threads reduce side by side.
    let reductionBlocks: [Range<Int>]
    let updateBlocks: [Range<Int>]
    var dataUnits: (rows: Int, units: [Range<Int>]) = (0, [])

    public init(model: LatentModel<T>, plan: StepPlan, threads: Int = 1) {
        precondition(threads >= 1, "at least one thread")
        config = model.config
        self.plan = plan
        self.threads = threads
        ranges = GradientRanges(model: model)
        replicas = [model] + (1..<threads).map { _ in model.replica() }
        pool = ThreadPool(threads: threads)
        // Bit-identical results need every unit's GEMMs on one BLAS thread (OpenBLAS splits long
        // inner dimensions differently per thread count); parallelism comes from the units.
        BLAS.threads = 1
        let k = config.components, w = 2 * config.latentSize, p = model.layout.count
        stats = Tensor(shape: [k, w])
        statsGradient = Tensor(shape: [k, w])
        statsGradientSum = .allocate(capacity: k * w)
        gradient = ParameterVector(layout: model.layout)
        let leaves = Swift.max(plan.dataUnits(rows: plan.batchSize).count, plan.priorUnits(components: k).count, 64)
        treeScratch = (0..<threads).map { _ in .allocate(capacity: TreeSum.scratchCount(leafCount: leaves) + 2 * TreeSum.block) }
        priorUnits = model.prior.needsPriorPass ? plan.priorUnits(components: k) : []
        reductionBlocks = StepPlan.cut(p, into: Swift.max((p + threads - 1) / threads, 1))
        blockFinite = [Bool](repeating: true, count: reductionBlocks.count)
        updateBlocks = StepPlan.cut(p, into: Swift.max((p + threads - 1) / threads, 1))
        pool.setWork { [unowned self] t in self.work(thread: t) }
    }

    deinit {
        statsGradientSum.deallocate()
        treeScratch.forEach { $0.deallocate() }
        unitLosses.deallocate()
    }

    var layout: ParameterLayout { replicas[0].layout }

    /// Where a step's reparameterisation noise comes from.
    public enum Noise {
        /// Given, `[rows, noiseWidth]`.
        case given(UnsafePointer<T>)
        /// Drawn per sample by key (seed, epoch, sample index, purpose), `indices` giving each
        /// batch row's sample index (`.reparameterization` in training, `.evaluation` otherwise).
        case keyed(seed: UInt64, epoch: Int, indices: UnsafePointer<Int>, purpose: RandomPurpose)
    }

    /// The noise of one sample: `count` normals keyed by (seed, epoch, sample index, purpose).
    public static func drawNoise(seed: UInt64, epoch: Int, sample: Int, purpose: RandomPurpose = .reparameterization,
                                 into out: UnsafeMutablePointer<T>, count: Int) {
        KeyedRandom(RandomKey(seed: seed, epoch: UInt32(epoch), index: UInt64(sample), purpose: purpose))
            .normals(into: out, count: count)
    }

    /// The stages of a step that run units side by side.
    enum Phase { case priorForward, data, priorBackward, reduceData, update, custom }

    /// What the current step's phases read; set by `run` before it starts the threads.
    struct StepState {
        var x: UnsafePointer<T>
        var beta: T
        var values: UnsafePointer<T>
        var noise: Noise
        /// False for evaluation: the data units run forward only.
        var gradient = true
    }
    var state: StepState?
    var phase = Phase.data

    /// The work of thread `t` in the current phase: every unit `i ≡ t (mod threads)`.
    func work(thread t: Int) {
        let count: Int
        switch phase {
        case .priorForward, .priorBackward: count = priorUnits.count
        case .data: count = dataUnits.units.count
        case .reduceData: count = reductionBlocks.count
        case .update: count = updateBlocks.count
        case .custom: count = customCount
        }
        var i = t
        while i < count {
            switch phase {
            case .priorForward: priorForward(unit: i, thread: t, state!)
            case .data: dataUnit(i, thread: t, state!)
            case .priorBackward: priorBackward(unit: i, thread: t, state!)
            case .reduceData: reduceData(block: i, thread: t)
            case .update: update!(updateBlocks[i])
            case .custom: custom!(i, replicas[t])
            }
            i += threads
        }
    }

    func runPhase(_ phase: Phase) {
        self.phase = phase
        pool.run()
    }

    func priorForward(unit c: Int, thread t: Int, _ s: StepState) {
        let r = priorUnits[c], model = replicas[t], w = 2 * config.latentSize
        model.prior.forward(chunk: c, range: r, encoder: model.topEncoder,
                            ParameterAccess(values: s.values, gradients: priorGradients[c].data),
                            into: stats.data + r.lowerBound * w)
    }

    func dataUnit(_ u: Int, thread t: Int, _ s: StepState) {
        let r = dataUnits.units[u], model = replicas[t]
        let d = config.inputSize, nw = config.noiseWidth
        let access = ParameterAccess(values: s.values, gradients: dataGradients[u].data, accumulate: false)
        let eps = unitNoise[u].reserve(r.count * nw)
        switch s.noise {
        case .given(let noise):
            eps.update(from: noise + r.lowerBound * nw, count: r.count * nw)
        case let .keyed(seed, epoch, indices, purpose):
            for row in r {
                Self.drawNoise(seed: seed, epoch: epoch, sample: indices[row], purpose: purpose,
                               into: eps + (row - r.lowerBound) * nw, count: nw)
            }
        }
        let vamp = !priorUnits.isEmpty
        let priorStats: UnsafePointer<T>? = vamp ? UnsafePointer(stats.data) : nil
        unitLosses[u] = model.forward(x: s.x + r.lowerBound * d, noise: eps, rows: r.count,
                                      beta: s.beta, priorStats: priorStats, access)
        guard s.gradient else { return }
        model.backward(beta: s.beta, priorStats: priorStats, access,
                       dPriorStats: vamp ? unitStatsGradients[u].data : nil)
    }

    func priorBackward(unit c: Int, thread t: Int, _ s: StepState) {
        let r = priorUnits[c], model = replicas[t], w = 2 * config.latentSize
        model.prior.backward(chunk: c, dStats: statsGradient.data + r.lowerBound * w,
                             ParameterAccess(values: s.values, gradients: priorGradients[c].data, accumulate: false))
    }

    /// The fixed-order reduction of elements `reductionBlocks[b]`, finished into `gradient`:
    /// ```
    /// data range:      Σ = TreeSum over data units
    /// prior encoder:   Σ += TreeSum over prior units          (VampPrior)
    /// pseudo-inputs:   Σ = the one prior unit that owns the row
    /// gradient = T(Σ / B)
    /// ```
    /// Element blocks are independent, so threads split them without changing a bit.
    func reduceData(block b: Int, thread t: Int) {
        let range = reductionBlocks[b], scale = 1 / Double(dataUnits.rows)
        let scratch = treeScratch[t], root = scratch, extra = scratch + TreeSum.block
        let tree = scratch + 2 * TreeSum.block
        var start = range.lowerBound, finite = 0.0
        while start < range.upperBound {
            let n = chunkLength(from: start, limit: range.upperBound)
            let out = gradient.data + start
            if ranges.priorEncoder.contains(start) {
                TreeSum.block(leafCount: dataUnits.units.count, leaf: { UnsafePointer(self.dataGradients[$0].data) },
                              offset: start, n: n, into: root, scratch: tree)
                TreeSum.block(leafCount: priorUnits.count, leaf: { UnsafePointer(self.priorGradients[$0].data) },
                              offset: start, n: n, into: extra, scratch: tree)
                TreeSum.add(extra, into: root, count: n)
                finite += TreeSum.finish(root, scale: scale, into: out, count: n)
            } else if ranges.data.contains(start) {
                finite += TreeSum.mean(leafCount: dataUnits.units.count, leaf: { UnsafePointer(self.dataGradients[$0].data) },
                                       offset: start, n: n, scale: scale, into: out, scratch: scratch)
            } else {
                pseudoInputGradients(start, n, into: root)
                finite += TreeSum.finish(root, scale: scale, into: out, count: n)
            }
            start += n
        }
        blockFinite[b] = finite == 0
    }

    /// Elements from `start` up to the next range boundary, at most one tree block.
    func chunkLength(from start: Int, limit: Int) -> Int {
        var end = Swift.min(start + TreeSum.block, limit)
        for boundary in [ranges.priorEncoder.lowerBound, ranges.priorEncoder.upperBound, ranges.pseudoInputs.lowerBound]
        where boundary > start && boundary < end { end = boundary }
        return end - start
    }

    /// Pseudo-input gradient elements `start ..< start + n`, each row from the prior unit
    /// that owns it (rows belong to exactly one unit, so there is nothing to sum).
    func pseudoInputGradients(_ start: Int, _ n: Int, into out: UnsafeMutablePointer<Double>) {
        let d = config.inputSize, rowsPerUnit = d * plan.priorUnitSize, base = ranges.pseudoInputs.lowerBound
        var i = start
        while i < start + n {
            let unit = (i - base) / rowsPerUnit
            let end = Swift.min(start + n, base + (unit + 1) * rowsPerUnit)
            let g = UnsafePointer(priorGradients[unit].data)
            for j in i..<end { out[j - start] = Double(g[j]) }
            i = end
        }
    }

    /// The optimiser's element-wise update, run over `updateBlocks` side by side.
    var update: ((Range<Int>) -> Void)?

    /// Runs `body` on disjoint blocks of the whole parameter vector, one block per thread.
    /// Element-wise updates (Adam) do not depend on the split, so this changes no bit.
    public func forEachParameterBlock(_ body: @escaping (Range<Int>) -> Void) {
        update = body
        defer { update = nil }
        runPhase(.update)
    }

    var custom: ((Int, LatentModel<T>) -> Void)?
    var customCount = 0

    /// Runs `body(i, replica)` for `i in 0..<count`, item i on thread `i mod threads` with that
    /// thread's replica (evaluation work such as the importance-sampled log-likelihood).
    public func parallelForEach(_ count: Int, _ body: @escaping (Int, LatentModel<T>) -> Void) {
        custom = body
        customCount = count
        defer { custom = nil }
        runPhase(.custom)
    }

    /// One step with the noise given as `[rows, noiseWidth]`.
    public func run(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, beta: T,
                    values: ParameterVector<T>) -> LossSums {
        run(x: x, rows: rows, beta: beta, values: values, noise: .given(noise))
    }

    /// One step's summed loss on `rows` images; the mean gradient is left in `gradient`.
    /// Each data unit draws or copies its own noise on its own thread.
    /// - Parameters:
    ///   - x: `[rows, D]`.
    public func run(x: UnsafePointer<T>, rows: Int, beta: T, values: ParameterVector<T>, noise: Noise) -> LossSums {
        if dataUnits.rows != rows { dataUnits = (rows, plan.dataUnits(rows: rows)) }
        let unitCount = dataUnits.units.count, vamp = !priorUnits.isEmpty
        reserve(dataUnits: unitCount, priorUnits: priorUnits.count, vamp: vamp)
        state = StepState(x: x, beta: beta, values: UnsafePointer(values.data), noise: noise)
        defer { state = nil }
        if vamp { runPhase(.priorForward) }
        runPhase(.data)
        if vamp {
            TreeSum.sum(leafCount: unitCount, leaf: { UnsafePointer(self.unitStatsGradients[$0].data) },
                        count: stats.count, into: statsGradientSum, scratch: treeScratch[0])
            for i in 0..<stats.count { statsGradient.data[i] = T(statsGradientSum[i]) }
            runPhase(.priorBackward)
        }
        runPhase(.reduceData)
        gradientIsFinite = !blockFinite.contains(false)
        var total = LossSums()
        for u in 0..<unitCount { total = total + unitLosses[u] }
        return total
    }

    /// The loss of `rows` images without a gradient (validation and test ELBO), the data units
    /// running side by side like a training step's.
    public func evaluate(x: UnsafePointer<T>, rows: Int, beta: T, values: ParameterVector<T>, noise: Noise) -> LossSums {
        if dataUnits.rows != rows { dataUnits = (rows, plan.dataUnits(rows: rows)) }
        let unitCount = dataUnits.units.count
        reserve(dataUnits: unitCount, priorUnits: priorUnits.count, vamp: !priorUnits.isEmpty)
        state = StepState(x: x, beta: beta, values: UnsafePointer(values.data), noise: noise, gradient: false)
        defer { state = nil }
        if !priorUnits.isEmpty { runPhase(.priorForward) }
        runPhase(.data)
        var total = LossSums()
        for u in 0..<unitCount { total = total + unitLosses[u] }
        return total
    }

    func reserve(dataUnits: Int, priorUnits: Int, vamp: Bool) {
        let k = config.components, w = 2 * config.latentSize
        if unitLosses.count < dataUnits {
            unitLosses.deallocate()
            unitLosses = .allocate(capacity: dataUnits)
            unitLosses.initialize(repeating: LossSums())
        }
        while dataGradients.count < dataUnits {
            dataGradients.append(ParameterVector(layout: layout))
            unitStatsGradients.append(Tensor(shape: vamp ? [k, w] : [0]))
            unitNoise.append(Workspace())
        }
        while priorGradients.count < Swift.max(priorUnits, 1) {
            priorGradients.append(ParameterVector(layout: layout))
        }
    }
}
