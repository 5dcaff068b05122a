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
/// Unit u runs on thread `u mod threads` (or, where stacking keeps every bit, each thread runs a
/// consecutive block of data units as one pass: `StepExecutor+Stacking.swift`), and prior unit
/// c's backward runs on the thread that ran its forward, so it finds its caches. Each thread calls BLAS single-threaded; parallelism comes
/// from running units side by side, which keeps the result independent of the thread count.
public final class StepExecutor<T: Scalar>: StepEngine {
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
    /// The last step's gradient `(1/B)·Σ_units ∂loss/∂θ`, summed in the fixed tree in Float64
    /// and rounded to `T` once.
    public let gradient: ParameterVector<T>
    /// Whether every element of `gradient` is finite.
    public private(set) var gradientIsFinite = true
    var blockFinite: [Bool]
    /// The fixed-order reduction, shared with the cluster's coordinator.
    let reduction: GradientReduction<T>
    /// The unit buffers, as the reduction reads them (made once, so a step allocates nothing).
    var results: UnitResults<T>!
    let priorUnits: [Range<Int>]
    /// Element blocks of the whole parameter vector that threads claim in the reduction and the update.
    let blocks: [Range<Int>]
    var dataUnits: (rows: Int, units: [Range<Int>]) = (0, [])
    /// Whether threads may stack their data units (see `StepExecutor+Stacking.swift`).
    public let stacking: Bool
    /// Per thread, the consecutive data units it runs stacked in the current step; nil when units
    /// run one by one, unit u on thread `u mod threads`.
    var stackedUnits: [Range<Int>]?
    /// Each grouping of row counts probed so far, and whether stacking it keeps every bit.
    var stackingProbes: [[Int]: Bool] = [:]
    /// Per thread, the consecutive prior units it runs as one chunk (VampPrior); nil when prior
    /// units run one by one. Decided once, before the first step.
    var stackedPriorUnits: [Range<Int>]?
    var priorStackingPlanned = false
    /// Per thread: the row groups of its stacked pass (data or prior), and its stacked units' noise.
    let stackGroups: [RowGroups<T>], stackNoise: [Workspace<T>]

    /// - Parameters:
    ///   - stacking: let a thread run its data units as one pass where that keeps every bit
    ///     (default: unless `LARGEVAE_STACK_UNITS=0`).
    ///   - blockSize: elements per block that threads claim in the reduction and the update
    ///     (default `BlockClaims.blockSize`; one block for one thread). Any size gives the same bits.
    public init(model: LatentModel<T>, plan: StepPlan, threads: Int = 1, stacking: Bool = StepExecutor.stackingAllowed,
                blockSize: Int? = nil) {
        precondition(threads >= 1, "at least one thread")
        self.stacking = stacking
        stackGroups = (0..<threads).map { _ in RowGroups() }
        stackNoise = (0..<threads).map { _ in Workspace() }
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
        gradient = ParameterVector(layout: model.layout)
        let leaves = Swift.max(plan.dataUnits(rows: plan.batchSize).count, plan.priorUnits(components: k).count)
        reduction = GradientReduction(ranges: ranges, config: config, plan: plan, threads: threads, maximumUnits: leaves)
        priorUnits = model.prior.needsPriorPass ? plan.priorUnits(components: k) : []
        let blockSize = Swift.max(blockSize ?? (threads == 1 ? p : BlockClaims.blockSize), 1)
        blocks = StepPlan.cut(p, into: blockSize)
        blockFinite = [Bool](repeating: true, count: blocks.count)
        pool.setWork { [unowned self] t in self.work(thread: t) }
        let encoderBase = ranges.priorEncoder.lowerBound, pseudoBase = ranges.pseudoInputs.lowerBound
        let rowsPerUnit = config.inputSize * plan.priorUnitSize
        results = UnitResults(data: { [unowned self] in UnsafePointer(self.dataGradients[$0].data) },
                              priorEncoder: { [unowned self] in UnsafePointer(self.priorGradients[$0].data + encoderBase) },
                              pseudoInputs: { [unowned self] in UnsafePointer(self.priorGradients[$0].data + pseudoBase + $0 * rowsPerUnit) })
    }

    deinit { unitLosses.deallocate() }

    var layout: ParameterLayout { replicas[0].layout }

    /// The blocks of the current reduction or update phase that threads have taken.
    let claims = BlockClaims()

    /// The stages of a step that run units side by side.
    enum Phase { case priorForward, data, priorBackward, reduceData, update, custom }

    /// What the current step's phases read; set by `run` before it starts the threads.
    struct StepState {
        var x: UnsafePointer<T>
        var beta: T
        var values: UnsafePointer<T>
        var noise: Noise<T>
        /// False for evaluation: the data units run forward only.
        var gradient = true
    }
    var state: StepState?
    var phase = Phase.data

    /// The work of thread `t` in the current phase: every unit `i ≡ t (mod threads)`, or for the
    /// reduction and the update, the blocks it claims. Phases run only from here, through the
    /// pool's closure, which the compiler specialises for `T` where the executor is made; model
    /// code called straight from `run` (reached through `StepEngine`) would run generic,
    /// unspecialised (measured 2.5× slower in a prototype that did).
    func work(thread t: Int) {
        /// `body(i)` for every `i ≡ t (mod threads)` below `count`.
        func dealt(_ count: Int, _ body: (Int) -> Void) {
            for i in stride(from: t, to: count, by: threads) { body(i) }
        }
        switch phase {
        case .priorForward, .priorBackward:
            if stackedPriorUnits != nil { stackedPriorUnits(phase, thread: t, state!); return }
            if phase == .priorForward {
                dealt(priorUnits.count) { priorForward(unit: $0, thread: t, state!) }
            } else {
                dealt(priorUnits.count) { priorBackward(unit: $0, thread: t, state!) }
            }
        case .data:
            if stackedUnits != nil { stackedDataUnits(thread: t, state!); return }
            dealt(dataUnits.units.count) { dataUnit($0, thread: t, state!) }
        case .reduceData:
            while let b = claims.take(below: blocks.count) { reduceData(block: b, thread: t) }
        case .update:
            while let b = claims.take(below: blocks.count) { update!(blocks[b]) }
        case .custom:
            dealt(customCount) { custom!($0, replicas[t]) }
        }
    }

    func runPhase(_ phase: Phase) {
        self.phase = phase
        claims.reset()
        pool.run()
    }

    func priorForward(unit c: Int, thread t: Int, _ s: StepState) {
        let r = priorUnits[c], w = 2 * config.latentSize
        Units.priorForward(replicas[t], chunk: c, range: r, values: s.values, scratch: priorGradients[c].data,
                           into: stats.data + r.lowerBound * w)
    }

    func dataUnit(_ u: Int, thread t: Int, _ s: StepState) {
        let r = dataUnits.units[u]
        let d = config.inputSize, nw = config.noiseWidth
        let eps = unitNoise[u].reserve(r.count * nw)
        fillNoise(s.noise, rows: r, into: eps)
        let vamp = !priorUnits.isEmpty
        unitLosses[u] = Units.data(replicas[t], x: s.x + r.lowerBound * d, noise: eps, rows: r.count, beta: s.beta,
                                   stats: vamp ? UnsafePointer(stats.data) : nil, values: s.values,
                                   gradient: s.gradient ? dataGradients[u].data : nil,
                                   dStats: vamp ? unitStatsGradients[u].data : nil, scratch: dataGradients[u].data)
    }

    /// The noise of batch rows `rows`, `[rows.count, noiseWidth]`: copied from the given noise, or
    /// drawn by key.
    func fillNoise(_ noise: Noise<T>, rows r: Range<Int>, into eps: UnsafeMutablePointer<T>) {
        let nw = config.noiseWidth
        switch noise {
        case .given(let noise):
            eps.update(from: noise + r.lowerBound * nw, count: r.count * nw)
        case let .keyed(seed, epoch, indices, purpose):
            for row in r {
                Units.drawNoise(seed: seed, epoch: epoch, sample: indices[row], purpose: purpose,
                                into: eps + (row - r.lowerBound) * nw, count: nw)
            }
        }
    }

    func priorBackward(unit c: Int, thread t: Int, _ s: StepState) {
        let r = priorUnits[c], w = 2 * config.latentSize
        Units.priorBackward(replicas[t], chunk: c, dStats: statsGradient.data + r.lowerBound * w, values: s.values,
                            gradient: priorGradients[c].data)
    }

    /// The fixed-order reduction of elements `blocks[b]` into `gradient`.
    func reduceData(block b: Int, thread t: Int) {
        blockFinite[b] = reduction.reduce(results, elements: blocks[b], rows: dataUnits.rows, thread: t,
                                          into: gradient.data) == 0
    }

    /// The optimiser's element-wise update, run over `blocks` side by side.
    var update: ((Range<Int>) -> Void)?

    /// Runs `body` on the blocks of the whole parameter vector, each taken by the next free thread.
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
    public func run(x: UnsafePointer<T>, rows: Int, beta: T, values: ParameterVector<T>, noise: Noise<T>) -> LossSums {
        if dataUnits.rows != rows { dataUnits = (rows, plan.dataUnits(rows: rows)); planStacking() }
        let unitCount = dataUnits.units.count, vamp = !priorUnits.isEmpty
        reserve(dataUnits: unitCount, priorUnits: priorUnits.count, vamp: vamp)
        results.dataCount = unitCount
        results.priorCount = priorUnits.count
        state = StepState(x: x, beta: beta, values: UnsafePointer(values.data), noise: noise)
        defer { state = nil }
        if vamp { runPhase(.priorForward) }
        runPhase(.data)
        if vamp {
            reduction.reduceStatsGradients(leafCount: unitCount, leaf: { UnsafePointer(self.unitStatsGradients[$0].data) },
                                           count: stats.count, thread: 0, into: statsGradient.data)
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
    public func evaluate(x: UnsafePointer<T>, rows: Int, beta: T, values: ParameterVector<T>, noise: Noise<T>) -> LossSums {
        if dataUnits.rows != rows { dataUnits = (rows, plan.dataUnits(rows: rows)); planStacking() }
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

    /// The importance-sampled log-likelihoods of image blocks, block b on thread `b mod threads`.
    public func logLikelihoods(blocks: [(x: [T], firstImage: Int)], samples: Int, seed: UInt64,
                               values: ParameterVector<T>) -> [[Double]] {
        let d = config.inputSize, scratch = ParameterVector<T>(layout: layout)
        var out = [[Double]](repeating: [], count: blocks.count)
        out.withUnsafeMutableBufferPointer { o in
            let o = o   // threads write distinct slots
            parallelForEach(blocks.count) { b, model in
                o[b] = blocks[b].x.withUnsafeBufferPointer {
                    Units.logLikelihood(model, x: $0.baseAddress!, rows: $0.count / d, firstImage: blocks[b].firstImage,
                                        samples: samples, seed: seed, values: values.data, scratch: scratch.data)
                }
            }
        }
        return out
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
