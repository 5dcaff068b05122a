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
    public private(set) var stepMetrics: StepMetrics?
    /// The coordinator's cumulative statistics when the last step's metrics were taken (a step's
    /// traffic includes the parameters pushed during the update before it, and its evaluation).
    var statisticsAtLastStep = RoundStatistics()
    /// Time spent building messages since the last step's metrics.
    var serializationSeconds = 0.0

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
        var prewoken = false, early = 0, seconds = 0.0
        func allDone() -> Bool { last.allSatisfy(\.done) && others.allSatisfy(\.done) }
        func earlyReady() -> Bool {
            guard let data, early < earlyBlockCount, last.contains(where: \.done) else { return false }
            return data.allSatisfy(\.done)
        }
        while true {
            try coordinator.serve {
                if allDone() || earlyReady() { return true }
                // Woken only once no early block is left for this thread to take to the free core.
                if !prewoken && last.contains(where: \.done) && (data == nil || early == earlyBlockCount) {
                    pool.prewake(); prewoken = true
                }
                return false
            }
            if allDone() || !earlyReady() { return (early, seconds) }
            if early == 0 { try resolveData(data!) }
            let start = ContinuousClock.now
            defer { seconds += (ContinuousClock.now - start).seconds }
            while early < earlyBlockCount && !allDone() {
                blockFinite[early] = reduction.reduce(results!, elements: blocks[early], rows: rows, thread: 0, into: gradient.data)
                early += 1
                try coordinator.servePass(waiting: .zero)
            }
        }
    }

    /// `[0, count)` as chunks of at most `chunk` elements: the prior encoder's, then the
    /// pseudo-inputs', then the rest in order.
    static func chunkOrder(count: Int, ranges: GradientRanges, chunk: Int) -> [Range<Int>] {
        let first = [ranges.priorEncoder, ranges.pseudoInputs].filter { !$0.isEmpty }
        var rest: [Range<Int>] = []
        var start = 0
        for r in first.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if start < r.lowerBound { rest.append(start..<r.lowerBound) }
            start = r.upperBound
        }
        if start < count { rest.append(start..<count) }
        return GradientRanges.cut(first + rest, into: chunk)
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
    /// `gradient`, the blocks from `first` on over the coordinator's threads (those before it
    /// reduced early); returns whether every value summed was finite.
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

    /// The optimiser's update of the vector the last step ran on, chunk by chunk over the
    /// coordinator's threads, each chunk pushed to the workers as soon as it is updated; its time
    /// counts in the step's update and wall time.
    public func forEachParameterBlock(_ body: @escaping (Range<Int>) -> Void) {
        let start = ContinuousClock.now
        if coordinator.options.pushParametersDuringUpdate, let values = lastRunValues {
            publish(values, update: body)
        } else if let values = lastRunValues, let shared = coordinator.sharedParameters, coordinator.hasSharedWorkers {
            publishShared(values, shared, update: body)
        } else {
            updatedSinceSent = true
            forEachBlock(linger: false) { [blocks] b, _ in body(blocks[b]) }   // sent at the next unit
        }
        let seconds = (ContinuousClock.now - start).seconds
        coordinator.log.trace("\(traceStamp(since: coordinator.roundStart)): updated and published in \(seconds * 1000) ms")
        stepMetrics?.updateSeconds += seconds
        stepMetrics?.seconds += seconds
    }

    /// The update and the next version's shared region in one pass: each thread writes its block
    /// of the updated values into region `version + 1` while they are in its cache. That region
    /// held version − 1, which no round uses any more (see `SharedMemoryOffer`); socket workers get
    /// a message made from the region when they need it.
    func publishShared(_ values: ParameterVector<Float>, _ shared: SharedParameters, update: @escaping (Range<Int>) -> Void) {
        version += 1
        let precision = self.precision, blocks = self.blocks
        let region = shared.region(for: version)
        coordinator.beginParameters(version: version, buffer: nil, chunkCount: 1)
        forEachBlock(linger: false) { b, _ in
            update(blocks[b])
            Self.write(values, blocks[b], into: region, precision: precision)
        }
        coordinator.sharedParametersWritten(version: version)
        sentFrom = values
        updatedSinceSent = false
    }

    /// Elements `range` of `values`, encoded in `precision`, at their place in a shared region.
    static func write(_ values: ParameterVector<Float>, _ range: Range<Int>, into region: UnsafeMutableRawPointer, precision: WirePrecision) {
        let width = precision.bytesPerElement
        if precision == .fp32 {   // the values as they are: every supported host is little-endian (Payload.swift)
            largevae_copy_streaming_f32((region + 4 * range.lowerBound).assumingMemoryBound(to: Float.self),
                                        values.data + range.lowerBound, range.count)
            return
        }
        var out = PayloadWriter(base: region + width * range.lowerBound, capacity: width * range.count)
        out.append(floats: values.data + range.lowerBound, count: range.count, precision: precision)
    }

    // MARK: phases

    /// Which worker ran each prior unit's forward pass in this round.
    var forwardWorkers: [[UInt8]?] = []

    /// Phase 1 (VampPrior) to completion, then phase 2's units issued and served until every
    /// data unit's first part (loss, G_u) is in.
    func dataPhases(x: UnsafePointer<Float>, rows: Int, beta: Float, values: ParameterVector<Float>,
                    noise: Noise<Float>, gradient: Bool) throws -> [Unit] {
        guard case let .keyed(seed, epoch, indices, purpose) = noise else {
            throw ClusterError.unsupported("given noise; workers draw it by key")
        }
        try ensureParameters(values)
        let round = coordinator.beginRound()
        let w = 2 * config.latentSize
        let forward = priorUnits.enumerated().map { c, r in
            makeUnit(.priorForward, round: round, index: c, gradient: false, extra: 12,
                     expected: [ResultHeader.size + 4 * r.count * w], layouts: [ResultLayout(elements: .float32)]) { out in
                out.append(UInt32(c)); out.append(UInt32(r.lowerBound)); out.append(UInt32(r.upperBound))
            }
        }
        coordinator.add(forward)
        if vamp { try coordinator.dispatch() }   // the prior's forward units first, before the data units are drafted
        let d = config.inputSize, first = vamp ? priorUnits.count : 0
        let statsBytes = vamp ? 4 * stats.count : 0
        let dataRanges = plan.dataUnits(rows: rows)
        // Every data unit's payload is made now but for the statistics, its last part. With the
        // VampPrior, the part before them goes out at once (`prefetch`) to the worker the unit is
        // planned for, which begins the work that needs no statistics while the others finish
        // the prior's forward units; it gets the unit itself when the statistics are in.
        let drafts = dataRanges.enumerated().map { u, r in
            draftUnit(.data, index: first + u, gradient: gradient, extra: 28 + 8 * r.count + 4 * r.count * d + statsBytes) { out in
                out.append(UInt32(r.count))
                out.append(Double(beta))
                out.append(seed)
                out.append(UInt32(epoch))
                out.append(UInt8(purpose.rawValue))
                out.append(UInt8(vamp ? 1 : 0))
                out.append(UInt16(0))
                out.append(ints: indices + r.lowerBound, count: r.count)
                out.append(floats: x + r.lowerBound * d, count: r.count * d)
            }
        }
        var planned: [[UInt8]?] = []
        if vamp {
            planned = coordinator.prefetch(drafts.map { (buffer: $0.buffer, count: $0.count, unitID: UInt32($0.index)) },
                                           round: round, besides: forward)
            try coordinator.serve { forward.allSatisfy(\.done) }
            for (c, r) in priorUnits.enumerated() {
                let section = forward[c].resultBody(0)
                UnsafeMutableRawPointer(stats.data + r.lowerBound * w).copyMemory(from: section.baseAddress!, byteCount: section.count)
            }
            forwardWorkers = forward.map(\.computedBy)
        }
        let data = drafts.map { draft -> Unit in
            var expected = [ResultHeader.size + LossSums.wireSize + (vamp && gradient ? statsBytes : 0)]
            var layouts = [ResultLayout(lossSums: true, elements: .float32)]
            if gradient {
                expected.append(ResultHeader.size + precision.bytesPerElement * ranges.data.count)
                layouts.append(ResultLayout(elements: precision.encoding, checkedByReduction: true))
            }
            let unit = finishUnit(draft, round: round, expected: expected, layouts: layouts) { out in
                if vamp { out.append(floats: stats.data, count: stats.count) }
            }
            if draft.index - first < planned.count { unit.preferred = planned[draft.index - first] }
            return unit
        }
        coordinator.add(data)
        try coordinator.serve { data.allSatisfy(\.firstPartDone) }
        return data
    }

    func priorBackwardUnit(_ c: Int, index: Int) throws -> Unit {
        let r = priorUnits[c], w = 2 * config.latentSize, d = config.inputSize
        let size = ResultHeader.size + precision.bytesPerElement * (ranges.priorEncoder.count + r.count * d)
        return makeUnit(.priorBackward, round: coordinator.roundID, index: index, gradient: true,
                        extra: 12 + 4 * r.count * w, expected: [size],
                        layouts: [ResultLayout(elements: precision.encoding, checkedByReduction: true)]) { out in
            out.append(UInt32(c)); out.append(UInt32(r.lowerBound)); out.append(UInt32(r.upperBound))
            out.append(floats: statsGradient.data + r.lowerBound * w, count: r.count * w)
        }
    }

    /// A unit whose `work` payload is the work header then what `body` writes (`extra` bytes).
    func makeUnit(_ kind: UnitKind, round: UInt64, index: Int, gradient: Bool, extra: Int, expected: [Int],
                  layouts: [ResultLayout], body: (inout PayloadWriter) -> Void) -> Unit {
        finishUnit(draftUnit(kind, index: index, gradient: gradient, extra: extra, body: body), round: round,
                   expected: expected, layouts: layouts) { _ in }
    }

    /// A unit's payload begun: the work header and what `body` writes, in a buffer with room for
    /// `extra` bytes after the header in all.
    struct Draft {
        let kind: UnitKind
        let index: Int
        let buffer: OwnedBuffer
        /// Bytes written so far, and the payload's full size.
        let count: Int, capacity: Int
    }

    func draftUnit(_ kind: UnitKind, index: Int, gradient: Bool, extra: Int, body: (inout PayloadWriter) -> Void) -> Draft {
        let start = ContinuousClock.now
        defer { serializationSeconds += (ContinuousClock.now - start).seconds }
        let buffer = payloads.take(WorkHeader.size + extra)
        var out = PayloadWriter(buffer)
        WorkHeader(kind: kind, gradient: gradient, parameterVersion: version).write(&out)
        body(&out)
        return Draft(kind: kind, index: index, buffer: buffer, count: out.offset, capacity: WorkHeader.size + extra)
    }

    /// The unit of `draft` once `tail` has written the rest of its payload.
    func finishUnit(_ draft: Draft, round: UInt64, expected: [Int], layouts: [ResultLayout],
                    tail: (inout PayloadWriter) -> Void) -> Unit {
        let start = ContinuousClock.now
        defer { serializationSeconds += (ContinuousClock.now - start).seconds }
        var out = PayloadWriter(draft.buffer, from: draft.count)
        tail(&out)
        precondition(draft.count + out.offset == draft.capacity, "payload size computed wrong")
        var header = WireHeader(type: .work, runID: coordinator.options.runID, step: round, unitID: UInt32(draft.index))
        header.seal(payload: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(draft.buffer.bytes)[0..<draft.capacity]))
        return Unit(kind: draft.kind, header: header, payload: draft.buffer, payloadCount: draft.capacity,
                    expectedSizes: expected, layouts: layouts)
    }

    /// The vector the last version was made from, and whether an update has changed it since.
    weak var sentFrom: ParameterVector<Float>?
    var updatedSinceSent = true
    /// The vector the last step ran on: the one the optimiser's update then changes.
    weak var lastRunValues: ParameterVector<Float>?

    /// Sends a new parameter version if `values` differ from the last one sent: known without a
    /// look when they are the vector last sent and no update has run since, else by comparing.
    func ensureParameters(_ values: ParameterVector<Float>) throws {
        if version > 0 && values === sentFrom && !updatedSinceSent { return }
        if version > 0 && values !== sentFrom && isCurrentVersion(values) { return }
        let start = ContinuousClock.now
        publish(values, update: nil)
        serializationSeconds += (ContinuousClock.now - start).seconds
    }

    /// Whether the current version, as sent, holds exactly `values`: compared in the one fp32 chunk
    /// the workers received (`u64 offset`, then the values). Chunked or bf16 versions do not compare,
    /// so another vector is always sent anew.
    func isCurrentVersion(_ values: ParameterVector<Float>) -> Bool {
        guard precision == .fp32, chunkOrder.count == 1 else { return false }
        if let shared = coordinator.sharedParameters, shared.version == version {
            return memcmp(values.data, shared.region(for: version), 4 * layout.count) == 0
        }
        guard let p = coordinator.parameters, p.version == version, let base = p.buffer.bytes.baseAddress else { return false }
        return memcmp(values.data, base + 8, 4 * layout.count) == 0
    }

    /// Makes `values` the next parameter version, chunk by chunk in `chunkOrder`: each chunk is
    /// first updated (`update`, the optimiser, split over the coordinator's threads), then encoded
    /// and pushed to every worker, so the workers receive the first chunks while later ones are
    /// still being updated. Chunk payload: `u64 element offset, values (fp32 or bf16)`.
    ///
    /// With a shared parameter segment the values are also written into region `version % 2`
    /// (the same encoding); socket chunks are then only made here when pushing, and otherwise
    /// from the region the first time a socket worker needs this version.
    func publish(_ values: ParameterVector<Float>, update: ((Range<Int>) -> Void)?) {
        version += 1
        let width = precision.bytesPerElement
        let region = coordinator.hasSharedWorkers ? coordinator.sharedParameters?.region(for: version) : nil
        let buffer = region == nil || coordinator.options.pushParametersDuringUpdate
            ? parameterBuffers.take(chunkOrder.reduce(0) { $0 + 8 + width * $1.count }) : nil
        coordinator.beginParameters(version: version, buffer: buffer, chunkCount: chunkOrder.count)
        var offset = 0
        for chunk in chunkOrder {
            update?(chunk)   // one thread: libzmq's I/O thread streams the previous chunks meanwhile
            if let region { Self.write(values, chunk, into: region, precision: precision) }
            guard let buffer else { continue }
            var out = PayloadWriter(buffer, from: offset)
            out.append(UInt64(chunk.lowerBound))
            out.append(floats: values.data + chunk.lowerBound, count: chunk.count, precision: precision)
            coordinator.pushChunk(offset..<(offset + out.offset))
            offset += out.offset
        }
        if region != nil { coordinator.sharedParametersWritten(version: version) }
        sentFrom = values
        updatedSinceSent = false
    }

    // MARK: reading results

    /// A float section of a result, in place if possible, else widened into scratch `slot`.
    func floats(_ bytes: UnsafeRawBufferPointer, count: Int, precision: WirePrecision, slot: Int) -> UnsafePointer<Float> {
        let section = FloatSection(bytes: bytes, count: count, precision: precision)
        if let p = section.inPlace { return p }
        while decoded.count <= slot { decoded.append(Workspace()) }
        let out = decoded[slot].reserve(count)
        section.copy(into: out)
        return UnsafePointer(out)
    }

    func statsGradientLeaf(_ unit: Unit, unit u: Int) -> UnsafePointer<Float> {
        let body = unit.resultBody(0)
        return floats(UnsafeRawBufferPointer(rebasing: body[LossSums.wireSize...]), count: stats.count, precision: .fp32, slot: u)
    }

    func resolveData(_ data: [Unit]) throws {
        dataPointers = data.enumerated().map { u, unit in
            floats(unit.resultBody(1), count: ranges.data.count, precision: precision, slot: u)
        }
        results.dataCount = data.count
        results.priorCount = priorUnits.count
    }

    /// Pointers to the prior units' results, decoded (if need be) into scratch slots from
    /// `firstSlot` on, after the data units' slots.
    func resolvePrior(_ backward: [Unit], firstSlot base: Int) throws {
        let d = config.inputSize, e = ranges.priorEncoder.count, width = precision.bytesPerElement
        encoderPointers = []
        pseudoPointers = []
        for (c, unit) in backward.enumerated() {
            let body = unit.resultBody(0)
            encoderPointers.append(floats(UnsafeRawBufferPointer(rebasing: body[0..<(e * width)]), count: e, precision: precision, slot: base + 2 * c))
            pseudoPointers.append(floats(UnsafeRawBufferPointer(rebasing: body[(e * width)...]), count: priorUnits[c].count * d,
                                         precision: precision, slot: base + 2 * c + 1))
        }
    }

    func losses(_ data: [Unit]) throws -> LossSums {
        var total = LossSums()
        for unit in data {
            var r = ByteReader(unit.resultBody(0))
            total = total + (try LossSums.read(&r))
        }
        return total
    }
}
