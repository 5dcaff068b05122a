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
    var dataGradients: [ParameterVector<T>] = []
    var priorGradients: [ParameterVector<T>] = []
    var unitStatsGradients: [Tensor<T>] = []
    var unitLosses: [LossSums] = []
    var unitNoise: [Workspace<T>] = []
    let stats: Tensor<T>, statsGradient: Tensor<T>
    let statsGradientSum: UnsafeMutablePointer<Double>
    /// `Σ_units ∂loss/∂θ` of the last step, `[P]`, in Float64 (not yet divided by the batch size).
    public let gradientSum: UnsafeMutablePointer<Double>
    let priorScratch: UnsafeMutablePointer<Double>
    /// Per-thread scratch for tree sums.
    let treeScratch: [UnsafeMutablePointer<Double>]
    let priorUnits: [Range<Int>]
    /// Element blocks of the data range that threads reduce side by side.
    let reductionBlocks: [Range<Int>]
    var dataUnits: (rows: Int, units: [Range<Int>]) = (0, [])

    public init(model: LatentModel<T>, plan: StepPlan, threads: Int = 1) {
        precondition(threads >= 1, "at least one thread")
        config = model.config
        self.plan = plan
        self.threads = threads
        ranges = GradientRanges(model: model)
        replicas = [model] + (1..<threads).map { _ in model.replica() }
        let k = config.components, w = 2 * config.latentSize, p = model.layout.count
        stats = Tensor(shape: [k, w])
        statsGradient = Tensor(shape: [k, w])
        statsGradientSum = .allocate(capacity: k * w)
        gradientSum = .allocate(capacity: p)
        gradientSum.initialize(repeating: 0, count: p)
        priorScratch = .allocate(capacity: Swift.max(ranges.priorEncoder.count, 1))
        let leaves = Swift.max(plan.dataUnits(rows: plan.batchSize).count, plan.priorUnits(components: k).count, 64)
        treeScratch = (0..<threads).map { _ in .allocate(capacity: TreeSum.scratchCount(leafCount: leaves)) }
        priorUnits = model.prior.needsPriorPass ? plan.priorUnits(components: k) : []
        let data = ranges.data.count
        reductionBlocks = StepPlan.cut(data, into: Swift.max((data + threads - 1) / threads, 1))
    }

    deinit {
        statsGradientSum.deallocate()
        gradientSum.deallocate()
        priorScratch.deallocate()
        treeScratch.forEach { $0.deallocate() }
    }

    var layout: ParameterLayout { replicas[0].layout }

    /// Runs `body(i, replica)` for `i in 0..<count`, item i on thread `i mod threads`.
    func parallel(_ count: Int, _ body: (Int, Int) -> Void) {
        if threads == 1 || count <= 1 {
            for i in 0..<count { body(i, i % threads) }
            return
        }
        DispatchQueue.concurrentPerform(iterations: Swift.min(threads, count)) { t in
            for i in stride(from: t, to: count, by: threads) { body(i, t) }
        }
    }

    /// Fills the reparameterisation noise of batch rows `range` into `[range.count, noiseWidth]`.
    public typealias NoiseSource = (_ range: Range<Int>, _ into: UnsafeMutablePointer<T>) -> Void

    /// One step with the noise given as `[rows, noiseWidth]`.
    public func run(x: UnsafePointer<T>, noise: UnsafePointer<T>, rows: Int, beta: T,
                    values: ParameterVector<T>) -> LossSums {
        let nw = config.noiseWidth
        return run(x: x, rows: rows, beta: beta, values: values) { range, out in
            out.update(from: noise + range.lowerBound * nw, count: range.count * nw)
        }
    }

    /// One step's summed loss and gradient on `rows` images; the gradient is left in `gradientSum`.
    /// Each data unit draws its own noise (on its own thread) through `noise`.
    /// - Parameters:
    ///   - x: `[rows, D]`.
    public func run(x: UnsafePointer<T>, rows: Int, beta: T, values: ParameterVector<T>,
                    noise: NoiseSource) -> LossSums {
        if dataUnits.rows != rows { dataUnits = (rows, plan.dataUnits(rows: rows)) }
        let dataUnits = self.dataUnits.units, priorUnits = self.priorUnits
        let vamp = !priorUnits.isEmpty
        reserve(dataUnits: dataUnits.count, priorUnits: priorUnits.count, vamp: vamp)
        let d = config.inputSize, nw = config.noiseWidth, w = 2 * config.latentSize
        let valuesPointer = UnsafePointer(values.data)
        if vamp {
            parallel(priorUnits.count) { c, t in
                let r = priorUnits[c], model = replicas[t]
                model.prior.forward(chunk: c, range: r, encoder: model.topEncoder,
                                    ParameterAccess(values: valuesPointer, gradients: priorGradients[c].data),
                                    into: stats.data + r.lowerBound * w)
            }
        }
        let statsPointer: UnsafePointer<T>? = vamp ? UnsafePointer(stats.data) : nil
        parallel(dataUnits.count) { u, t in
            let r = dataUnits[u], g = dataGradients[u].data, model = replicas[t]
            let access = ParameterAccess(values: valuesPointer, gradients: g, accumulate: false)
            let eps = unitNoise[u].reserve(r.count * nw)
            noise(r, eps)
            unitLosses[u] = model.forward(x: x + r.lowerBound * d, noise: eps, rows: r.count,
                                          beta: beta, priorStats: statsPointer, access)
            model.backward(beta: beta, priorStats: statsPointer, access,
                           dPriorStats: vamp ? unitStatsGradients[u].data : nil)
        }
        if vamp {
            TreeSum.sum(leafCount: dataUnits.count, leaf: { UnsafePointer(unitStatsGradients[$0].data) },
                        count: stats.count, into: statsGradientSum, scratch: treeScratch[0])
            for i in 0..<stats.count { statsGradient.data[i] = T(statsGradientSum[i]) }
            parallel(priorUnits.count) { c, t in
                let r = priorUnits[c], g = priorGradients[c].data, model = replicas[t]
                model.prior.backward(chunk: c, dStats: statsGradient.data + r.lowerBound * w,
                                     ParameterAccess(values: valuesPointer, gradients: g, accumulate: false))
            }
        }
        reduce(dataUnits: dataUnits.count, priorUnits: priorUnits)
        return unitLosses[0..<dataUnits.count].reduce(LossSums(), +)
    }

    /// The fixed-order reduction of the unit gradients into `gradientSum`.
    func reduce(dataUnits: Int, priorUnits: [Range<Int>]) {
        let data = ranges.data, enc = ranges.priorEncoder
        // Element blocks are independent, so threads may split them without changing any bit.
        parallel(reductionBlocks.count) { b, t in
            let start = data.lowerBound + reductionBlocks[b].lowerBound
            TreeSum.sum(leafCount: dataUnits, leaf: { UnsafePointer(self.dataGradients[$0].data + start) },
                        count: reductionBlocks[b].count, into: gradientSum + start, scratch: treeScratch[t])
        }
        guard !priorUnits.isEmpty else { return }
        TreeSum.sum(leafCount: priorUnits.count, leaf: { UnsafePointer(self.priorGradients[$0].data + enc.lowerBound) },
                    count: enc.count, into: priorScratch, scratch: treeScratch[0])
        for i in 0..<enc.count { gradientSum[enc.lowerBound + i] += priorScratch[i] }
        let d = config.inputSize
        for (c, r) in priorUnits.enumerated() {
            let start = ranges.pseudoInputs.lowerBound + r.lowerBound * d
            let g = priorGradients[c].data + start
            for i in 0..<(r.count * d) { gradientSum[start + i] = Double(g[i]) }
        }
    }

    func reserve(dataUnits: Int, priorUnits: Int, vamp: Bool) {
        let k = config.components, w = 2 * config.latentSize
        while dataGradients.count < dataUnits {
            dataGradients.append(ParameterVector(layout: layout))
            unitStatsGradients.append(Tensor(shape: vamp ? [k, w] : [0]))
            unitLosses.append(LossSums())
            unitNoise.append(Workspace())
        }
        while priorGradients.count < Swift.max(priorUnits, 1) {
            priorGradients.append(ParameterVector(layout: layout))
        }
    }
}
