import Foundation
import Logging
import Tensor
import NN
import VAE
import Training
import Transport
import CKernels

extension TensorTable {
    /// The table of a parameter layout: its tensors' names and sizes in order.
    init(layout: ParameterLayout) {
        self.init(layout.entries.map { Entry(name: $0.name, count: $0.count) })
    }
}

/// Errors of a distributed step that are not the network's.
public enum ClusterError: Error, LocalizedError, Equatable {
    case unsupported(String)

    public var errorDescription: String? {
        switch self {
        case let .unsupported(what): return "the cluster engine does not support \(what)"
        }
    }
}

/// A `StepEngine` whose units run on worker processes: the coordinator's side of a step.
///
/// ```
/// VampPrior:  round = [prior forward c]* → S → [data u | S]* → G = TreeSum_u G_u → [prior backward c | G[c]]*
/// otherwise:  round = [data u]*
/// gradient = GradientReduction over the results, as in-process
/// ```
/// Results are read where libzmq received them when they are fp32 and aligned, so the reduction
/// copies nothing.
public final class ClusterEngine: StepEngine {
    public typealias T = Float
    public let coordinator: Coordinator
    public let config: ModelConfig
    public let plan: StepPlan
    let ranges: GradientRanges
    let reduction: GradientReduction<Float>
    let layout: ParameterLayout
    public let gradient: ParameterVector<Float>
    public private(set) var gradientIsFinite = true
    let stats: Tensor<Float>, statsGradient: Tensor<Float>
    let priorUnits: [Range<Int>]
    /// Element blocks (at most `BlockClaims.blockSize` each) that the reduction and the update split over the
    /// coordinator's threads, each thread taking the next block left. The first `earlyBlockCount`
    /// only data units touch (`GradientRanges.reductionBlocks`): with the VampPrior they are reduced
    /// while the last prior units still run (`serveLastPhase`), the rest once all are in.
    let blocks: [Range<Int>]
    let earlyBlockCount: Int
    let claims = BlockClaims()
    /// The coordinator's threads. They poll between the reduction and the update, and park once
    /// the update is done, when the cores are the workers'. Blocks are taken, not assigned, so a
    /// thread that wakes late leaves its share to the others instead of holding them up.
    let pool: ThreadPool
    var region: (Int) -> Void = { _ in }
    /// Parameter chunks in the order a step needs them, when pushed during the update: the prior
    /// encoder and the pseudo-inputs (phase 1) first, then the rest, about 1 MB each.
    let chunkOrder: [Range<Int>]
    var version: UInt64 = 0
    var payloads = BufferPool(), parameterBuffers = BufferPool()
    /// Copies of results that could not be read in place (bf16, or misaligned), by unit.
    var decoded: [Workspace<Float>] = []
    var dataPointers: [UnsafePointer<Float>] = [], encoderPointers: [UnsafePointer<Float>] = []
    var pseudoPointers: [UnsafePointer<Float>] = []
    var results: UnitResults<Float>!
    /// The last step's time split and traffic (the update's time is added by `forEachParameterBlock`).
    public internal(set) var stepMetrics: StepMetrics?
    /// The coordinator's cumulative statistics when the last step's metrics were taken (a step's
    /// traffic includes the parameters pushed during the update before it, and its evaluation).
    var statisticsAtLastStep = RoundStatistics()
    /// Time spent building messages since the last step's metrics.
    var serializationSeconds = 0.0
    /// Which worker ran each prior unit's forward pass in this round.
    var forwardWorkers: [[UInt8]?] = []
    /// The vector the last version was made from, and whether an update has changed it since.
    weak var sentFrom: ParameterVector<Float>?
    var updatedSinceSent = true
    /// The vector the last step ran on: the one the optimiser's update then changes.
    weak var lastRunValues: ParameterVector<Float>?

    public init(model: LatentModel<Float>, plan: StepPlan, options: CoordinatorOptions, context: ZMQContext,
                logger: Logger) throws {
        config = model.config
        self.plan = plan
        layout = model.layout
        ranges = GradientRanges(model: model)
        let k = config.components, w = 2 * config.latentSize
        priorUnits = model.prior.needsPriorPass ? plan.priorUnits(components: k) : []
        let (early, late) = ranges.reductionBlocks(size: BlockClaims.blockSize)
        blocks = early + late
        earlyBlockCount = early.count
        // Chunks pay only when pushed during the update; otherwise one chunk, which workers use in place.
        chunkOrder = options.pushParametersDuringUpdate
            ? Self.chunkOrder(count: model.layout.count, ranges: GradientRanges(model: model), chunk: options.parameterChunk)
            : [0..<model.layout.count]
        pool = ThreadPool(threads: Swift.max(1, options.threads), spin: .milliseconds(1))
        reduction = GradientReduction(ranges: ranges, config: config, plan: plan, threads: pool.threads,
                                      maximumUnits: Swift.max(plan.dataUnits(rows: plan.batchSize).count, priorUnits.count))
        gradient = ParameterVector(layout: layout)
        stats = Tensor(shape: [k, w])
        statsGradient = Tensor(shape: [k, w])
        let welcome = Welcome(config: config, plan: plan, precision: options.precision,
                              table: TensorTable(layout: layout),
                              heartbeatMilliseconds: Int(options.heartbeat.seconds * 1000))
        let slots = Self.resultSlotBytes(model: model, plan: plan, ranges: ranges, priorUnits: priorUnits, precision: options.precision)
        coordinator = try Coordinator(options: options, welcome: welcome, context: context, logger: logger, resultSlots: slots)
        pool.setWork { [unowned self] b in self.region(b) }
        results = UnitResults(data: { [unowned self] in self.dataPointers[$0] },
                              priorEncoder: { [unowned self] in self.encoderPointers[$0] },
                              pseudoInputs: { [unowned self] in self.pseudoPointers[$0] })
    }

    var precision: WirePrecision { coordinator.options.precision }

    /// Runs `body(b, t)` for every block b from `first` on, on the coordinator's threads t (each
    /// taking the next block left); `linger` as `ThreadPool.run`.
    func forEachBlock(linger: Bool, from first: Int = 0, _ body: @escaping (_ block: Int, _ thread: Int) -> Void) {
        claims.reset(to: first)
        let count = blocks.count
        region = { [unowned self] t in
            while let b = claims.take(below: count) { body(b, t) }
        }
        pool.run(linger: linger)
        region = { _ in }
    }

    /// Serves until every unit of the step's last phase (and of `others`) is done, and returns how
    /// many early reduction blocks it reduced meanwhile, and in how long. Once the first of the
    /// last units is in, its worker's core is free: with `reducingEarly` (the data units of a
    /// VampPrior step, all in), this thread reduces the early blocks there one by one, reading the
    /// socket between blocks, until the last unit is in; then (or at once without early blocks)
    /// the coordinator's threads are woken to wait there awake for the reduction instead of being
    /// woken late.
    func serveLastPhase(_ last: [Unit], alsoAwaiting others: [Unit] = [], reducingEarly data: [Unit]? = nil,
                        rows: Int = 0) throws -> (blocks: Int, seconds: Double) {
        var prewoken = false
        func allDone() -> Bool { last.allSatisfy(\.done) && others.allSatisfy(\.done) }
        /// Serves until `done()`; wakes the threads once a last unit is in, when `prewake`.
        func serve(prewake: Bool, until done: () -> Bool) throws {
            try coordinator.serve {
                if done() { return true }
                if prewake && !prewoken && last.contains(where: \.done) { pool.prewake(); prewoken = true }
                return false
            }
        }
        guard let data, earlyBlockCount > 0 else {
            try serve(prewake: true, until: allDone)
            return (0, 0)
        }
        // Woken only once no early block is left for this thread to take to the free core.
        try serve(prewake: false) { allDone() || (last.contains(where: \.done) && data.allSatisfy(\.done)) }
        var early = 0, seconds = 0.0
        if !allDone() {   // so at least the first block is reduced here, and `reduce` continues after it
            try resolveData(data)
            let start = ContinuousClock.now
            while early < earlyBlockCount && !allDone() {
                blockFinite[early] = reduction.reduce(results!, elements: blocks[early], rows: rows, thread: 0, into: gradient.data)
                early += 1
                try coordinator.servePass(waiting: .zero)
            }
            seconds = (ContinuousClock.now - start).seconds
        }
        try serve(prewake: true, until: allDone)
        return (early, seconds)
    }

    var vamp: Bool { !priorUnits.isEmpty }

    /// The largest result of each (unit index, part) of a training or evaluation round, by slot
    /// index `unit · 2 + part`: what a shared-memory worker's arena holds. A data unit's gradient
    /// slot fits the whole layout, so that the worker computes straight into it (as into its send
    /// buffer). Likelihood units use these slots when they fit, else the socket.
    static func resultSlotBytes(model: LatentModel<Float>, plan: StepPlan, ranges: GradientRanges, priorUnits: [Range<Int>],
                                precision: WirePrecision) -> [Int] {
        let w = 2 * model.config.latentSize, d = model.config.inputSize, width = precision.bytesPerElement
        let statsBytes = priorUnits.isEmpty ? 0 : 4 * model.config.components * w
        let dataUnits = plan.dataUnits(rows: plan.batchSize).count
        let gradientBytes = ResultHeader.dataGradientCapacity(layoutCount: model.layout.count, dataCount: ranges.data.count, precision: precision)
        var slots: [Int] = []
        for r in priorUnits { slots += [ResultHeader.size + 4 * r.count * w, 0] }
        for _ in 0..<dataUnits { slots += [ResultHeader.size + LossSums.wireSize + statsBytes, gradientBytes] }
        for r in priorUnits { slots += [ResultHeader.size + width * (ranges.priorEncoder.count + r.count * d), 0] }
        return slots
    }

    // MARK: StepEngine

    public func run(x: UnsafePointer<Float>, rows: Int, beta: Float, values: ParameterVector<Float>,
                    noise: Noise<Float>) throws -> LossSums {
        let stepStart = ContinuousClock.now
        lastRunValues = values
        let data = try dataPhases(x: x, rows: rows, beta: beta, values: values, noise: noise, gradient: true)
        var backward: [Unit] = [], early = (blocks: 0, seconds: 0.0)
        if vamp {
            reduction.reduceStatsGradients(leafCount: data.count, leaf: { self.statsGradientLeaf(data[$0], unit: $0) },
                                           count: stats.count, thread: 0, into: statsGradient.data)
            let first = coordinator.units.count
            backward = try priorUnits.indices.map { c -> Unit in
                let unit = try priorBackwardUnit(c, index: first + c)
                unit.preferred = forwardWorkers[c]
                return unit
            }
            coordinator.add(backward)
            early = try serveLastPhase(backward, alsoAwaiting: data, reducingEarly: data, rows: rows)
        } else {
            _ = try serveLastPhase(data)
        }
        let reduceStart = ContinuousClock.now
        gradientIsFinite = try reduce(data: data, backward: backward, rows: rows, from: early.blocks)
        // The gradients' values were checked only by the reduction: on NaN or infinity, the units
        // that carried it are computed again (elsewhere if possible) and the step reduced anew.
        let reduced = data + backward
        while !gradientIsFinite && coordinator.setAsideNonFinite(reduced) {
            try coordinator.serve { reduced.allSatisfy(\.done) }
            gradientIsFinite = try reduce(data: data, backward: backward, rows: rows, from: 0)
        }
        let end = ContinuousClock.now
        coordinator.log.trace("\(traceStamp(since: coordinator.roundStart)): reduced in \(milliseconds(since: reduceStart)) ms")
        let now = coordinator.statistics, before = statisticsAtLastStep
        statisticsAtLastStep = now
        var m = StepMetrics()
        m.seconds = (end - stepStart).seconds
        m.updateSeconds = (end - reduceStart).seconds
        m.earlyReductionSeconds = early.seconds
        m.workers = Double(coordinator.workers.count)
        m.computeSeconds = (now.computeSeconds - before.computeSeconds) / Swift.max(m.workers, 1)
        m.communicationSeconds = Swift.max(0, m.seconds - m.computeSeconds - m.updateSeconds)
        m.bytesSent = Double(now.bytesSent - before.bytesSent)
        m.bytesReceived = Double(now.bytesReceived - before.bytesReceived)
        m.sharedBytes = Double(now.sharedBytes - before.sharedBytes)
        m.serializationSeconds = serializationSeconds
        serializationSeconds = 0
        stepMetrics = m
        return try losses(data)
    }

    /// Each block's finiteness sum from the last reduction (made once: a step allocates none).
    lazy var blockFinite = [Double](repeating: 0, count: blocks.count)

    /// Reduces the data units' and (VampPrior) the prior-backward units' gradients into
    /// `gradient`, the blocks from `first` on over the coordinator's threads; returns whether every
    /// value summed was finite. `first > 0`: `serveLastPhase` reduced the blocks before it, having
    /// resolved the data units' results.
    func reduce(data: [Unit], backward: [Unit], rows: Int, from first: Int) throws -> Bool {
        if first == 0 { try resolveData(data) }
        if vamp { try resolvePrior(backward, firstSlot: data.count) }
        blockFinite.withUnsafeMutableBufferPointer { f in
            let f = f   // threads write distinct slots
            forEachBlock(linger: true, from: first) { [reduction, results, blocks, gradient] b, t in
                f[b] = reduction.reduce(results!, elements: blocks[b], rows: rows, thread: t, into: gradient.data)
            }
        }
        return blockFinite.allSatisfy { $0 == 0 }
    }

    public func evaluate(x: UnsafePointer<Float>, rows: Int, beta: Float, values: ParameterVector<Float>,
                         noise: Noise<Float>) throws -> LossSums {
        let data = try dataPhases(x: x, rows: rows, beta: beta, values: values, noise: noise, gradient: false)
        try coordinator.serve { data.allSatisfy(\.done) }
        return try losses(data)
    }

    public func logLikelihoods(blocks: [(x: [Float], firstImage: Int)], samples: Int, seed: UInt64,
                               values: ParameterVector<Float>) throws -> [[Double]] {
        try ensureParameters(values)
        let round = coordinator.beginRound()
        let units = blocks.enumerated().map { b, block -> Unit in
            let rows = block.x.count / config.inputSize
            return makeUnit(.logLikelihood, round: round, index: b, gradient: false,
                            extra: 4 + 8 + 4 + 8 + 4 * block.x.count, expected: [ResultHeader.size + 8 * rows],
                            layouts: [ResultLayout(elements: .float64)]) { w in
                w.append(UInt32(rows))
                w.append(UInt64(block.firstImage))
                w.append(UInt32(samples))
                w.append(seed)
                block.x.withUnsafeBufferPointer { w.append(floats: $0.baseAddress!, count: $0.count) }
            }
        }
        coordinator.add(units)
        try coordinator.serve { units.allSatisfy(\.done) }
        return units.map { unit in
            let body = unit.resultBody(0)
            return (0..<(body.count / 8)).map { Double(bitPattern: UInt64(littleEndian: body.loadUnaligned(fromByteOffset: 8 * $0, as: UInt64.self))) }
        }
    }
}
