import Foundation
import Tensor
import NN
import VAE
import Training
import Transport

/// A worker's state for one run: the model, the current parameters and unit buffers.
final class Session {
    let welcome: Welcome
    let runID: UInt64
    let model: LatentModel<Float>
    let ranges: GradientRanges
    /// Parameters decoded from bf16 (or copied when a received payload is misaligned).
    let values: ParameterVector<Float>
    /// The current parameters: in place in `parameterMessage` when they came as aligned fp32.
    var parameters: UnsafePointer<Float>
    /// The message holding the current parameters in place, kept until the next version.
    var parameterMessage: ReceivedMessage?
    /// Full-layout scratch for prior units.
    let gradient: ParameterVector<Float>
    /// The parameters' version (the `step` of the parameters message that set them); 0 before any.
    var parameterVersion: UInt64 = 0
    let x = Workspace<Float>(), noise = Workspace<Float>(), stats = Workspace<Float>(), dStats = Workspace<Float>()
    var indices: [Int] = []
    /// Which parameters and rows each prior chunk's cached forward pass used.
    var priorForwards: [Int: (version: UInt64, range: Range<Int>)] = [:]
    /// The coordinator's segments, when this worker is on its host and mapped them.
    var shared: WorkerSharedMemory?

    var config: ModelConfig { welcome.config }
    var statsCount: Int { config.components * 2 * config.latentSize }

    init(welcome: Welcome, runID: UInt64) throws {
        self.welcome = welcome
        self.runID = runID
        model = LatentModel<Float>.make(welcome.config)
        let mine = TensorTable(layout: model.layout)
        guard mine == welcome.table else {
            throw WorkerError.incompatibleModel("this build lays out \(mine.entries.count) tensors (\(mine.totalCount) values) differently from the coordinator's \(welcome.table.entries.count) (\(welcome.table.totalCount) values); run the same largevae version on both")
        }
        ranges = GradientRanges(model: model)
        values = ParameterVector(layout: model.layout)
        parameters = UnsafePointer(values.data)
        gradient = ParameterVector(layout: model.layout)
    }

    /// Chunks of the version being assembled.
    var assembling: (version: UInt64, received: Set<UInt32>, total: UInt32)?

    /// Takes a chunk of parameters from a `parameters` message (`u64 element offset`, then fp32 or
    /// bf16 values by its flags). A whole vector in one aligned fp32 chunk is used where libzmq
    /// received it; chunks are assembled into `values`. The version counts once all are in.
    func receiveParameters(_ header: WireHeader, _ message: ReceivedMessage) throws {
        guard header.step >= parameterVersion else {
            throw WireError.staleStep(found: header.step, minimum: parameterVersion)   // a replayed older version
        }
        let precision: WirePrecision = header.flags.contains(.bfloat16) ? .bf16 : .fp32
        let n = values.layout.count
        if header.flags.contains(.sharedMemory) { return try receiveSharedParameters(header, message.frame(1), precision: precision) }
        var reader = ByteReader(message.frame(1))
        let offset = try reader.read(UInt64.self)
        let count = reader.remaining / precision.bytesPerElement
        guard header.unitCount >= 1, header.unitID < header.unitCount, offset <= UInt64(n), count <= n - Int(offset),
              reader.remaining == count * precision.bytesPerElement else {
            throw WireError.malformedPayload("parameter chunk \(header.unitID)/\(header.unitCount) at \(offset) of \(reader.remaining) bytes does not fit \(n) parameters")
        }
        let section = try reader.floats(count, precision: precision)
        if header.unitCount == 1 && count == n, let inPlace = section.inPlace {
            parameters = inPlace
            parameterMessage = message
            adopt(version: header.step)
            return
        }
        if assembling?.version != header.step { assembling = (header.step, [], header.unitCount) }
        section.copy(into: values.data + Int(offset))
        parameters = UnsafePointer(values.data)
        parameterMessage = nil
        assembling!.received.insert(header.unitID)
        if assembling!.received.count == Int(assembling!.total) { adopt(version: header.step) }
    }

    /// The parameters now hold version `v` whole: prior caches of older versions are stale.
    func adopt(version v: UInt64) {
        parameterVersion = v
        assembling = nil
        priorForwards.removeAll()
    }

    /// A version in a shared region: `u32 region, u32 0, u64 element count`. fp32 values are used
    /// in place in the mapping; bf16 ones are widened into `values`.
    func receiveSharedParameters(_ header: WireHeader, _ payload: UnsafeRawBufferPointer, precision: WirePrecision) throws {
        guard let shared else { throw WireError.malformedPayload("shared-memory parameters, but no segment is mapped") }
        var reader = ByteReader(payload)
        let region = try reader.read(UInt32.self)
        _ = try reader.read(UInt32.self)
        let count = try reader.read(UInt64.self)
        try reader.expectEnd()
        let n = values.layout.count
        guard region < shared.offer.parameterRegions.count, count == UInt64(n), n * precision.bytesPerElement <= shared.offer.regionBytes,
              header.unitID == 0, header.unitCount == 1 else {
            throw WireError.malformedPayload("shared parameters in region \(region) of \(count) values, expected \(n)")
        }
        let bytes = UnsafeRawBufferPointer(shared.parameters.bytes(at: shared.offer.parameterRegions[Int(region)],
                                                                   count: n * precision.bytesPerElement))
        let section = FloatSection(bytes: bytes, count: n, precision: precision)
        if let inPlace = section.inPlace {
            parameters = inPlace
        } else {
            section.copy(into: values.data)
            parameters = UnsafePointer(values.data)
        }
        parameterMessage = nil
        adopt(version: header.step)
    }

    /// Emulated units: the fastest of the first real computations, the result sizes, and when
    /// the parts sent early went out, per (kind, payload size).
    var measured: [String: (seconds: Double, sizes: [Int], earlySeconds: [Double], count: Int)] = [:]

    /// Computes the first two units of each kind and size for real (the first pays for warm-up);
    /// afterwards sleeps as long as the faster took and returns zero results of the same sizes,
    /// sending the early parts (a data unit's ∂S) at the time the real one did.
    func emulate(_ work: WorkHeader, _ r: inout ByteReader, out: inout ResultSink,
                 early: (ResultTarget, Int) throws -> Void) throws -> [(ResultTarget, Int)] {
        // Units of one kind differ in size by their rows (data, likelihood) or their range (prior).
        var peek = r
        let first = try peek.read(UInt32.self), second = try peek.read(UInt32.self), third = try peek.read(UInt32.self)
        let rows = work.kind == .priorForward || work.kind == .priorBackward ? third &- second : first
        let key = "\(work.kind.rawValue)/\(work.gradient)/\(rows)"
        guard let m = measured[key], m.count >= 2 else {
            let start = ContinuousClock.now
            var sizes: [Int] = [], earlyTimes: [Double] = []
            let results = try compute(work, &r, out: &out) { target, count in
                sizes.append(count)
                earlyTimes.append((ContinuousClock.now - start).seconds)
                try early(target, count)
            }
            let seconds = (ContinuousClock.now - start).seconds
            if seconds < measured[key]?.seconds ?? .infinity {
                measured[key] = (seconds, sizes + results.map { $0.1 }, earlyTimes, (measured[key]?.count ?? 0) + 1)
            } else {
                measured[key]!.count += 1
            }
            return results
        }
        // Parts the real unit sent early go out at the same point of the sleep.
        func zeroResult(_ part: Int) -> (ResultTarget, Int) {
            let size = m.sizes[part], target = out.take(part: part, bytes: size)
            target.base.initializeMemory(as: UInt8.self, repeating: 0, count: size)
            var writer = PayloadWriter(target)
            ResultHeader(kind: work.kind, part: UInt8(part)).write(&writer)
            return (target, size)
        }
        var slept = 0.0
        for (part, at) in m.earlySeconds.enumerated() {
            usleep(UInt32(Swift.max(0, at - slept) * 1e6))
            slept = Swift.max(slept, at)
            let (target, size) = zeroResult(part)
            try early(target, size)
        }
        usleep(UInt32(Swift.max(0, m.seconds - slept) * 1e6))
        return (m.earlySeconds.count..<m.sizes.count).map(zeroResult)
    }

    /// Computes one unit; returns the result messages' buffers and byte counts, in sending order,
    /// after those it gave to `early` to send while it went on.
    func compute(_ work: WorkHeader, _ r: inout ByteReader, out: inout ResultSink,
                 early: (ResultTarget, Int) throws -> Void) throws -> [(ResultTarget, Int)] {
        switch work.kind {
        case .priorForward: return [try priorForward(&r, out: &out)]
        case .priorBackward: return [try priorBackward(&r, out: &out)]
        case .data: return try data(work, &r, out: &out, early: early)
        case .logLikelihood: return [try logLikelihood(&r, out: &out)]
        }
    }

    /// `u32 chunk, u32 lo, u32 hi`, checked against the plan.
    func readChunk(_ r: inout ByteReader) throws -> (Int, Range<Int>) {
        guard config.prior == .vampprior else { throw WireError.malformedPayload("a prior unit for a model without a prior pass") }
        let chunk = Int(try r.read(UInt32.self)), lo = Int(try r.read(UInt32.self)), hi = Int(try r.read(UInt32.self))
        let units = welcome.plan.priorUnits(components: config.components)
        guard chunk < units.count, units[chunk] == lo..<hi else {
            throw WireError.malformedPayload("prior unit \(chunk) = [\(lo), \(hi)) is not in the plan")
        }
        return (chunk, lo..<hi)
    }

    func priorForward(_ r: inout ByteReader, out: inout ResultSink) throws -> (ResultTarget, Int) {
        let (chunk, range) = try readChunk(&r)
        try r.expectEnd()
        let w = 2 * config.latentSize, n = range.count * w
        let target = out.take(part: 0, bytes: ResultHeader.size + 4 * n)
        var writer = PayloadWriter(target)
        ResultHeader(kind: .priorForward, part: 0).write(&writer)
        let s = stats.reserve(n)
        Units.priorForward(model, chunk: chunk, range: range, values: parameters, scratch: gradient.data, into: s)
        priorForwards[chunk] = (parameterVersion, range)
        writer.append(floats: s, count: n)
        return (target, writer.offset)
    }

    func priorBackward(_ r: inout ByteReader, out: inout ResultSink) throws -> (ResultTarget, Int) {
        let (chunk, range) = try readChunk(&r)
        let w = 2 * config.latentSize, d = config.inputSize
        let g = try r.floats(range.count * w)
        try r.expectEnd()
        if priorForwards[chunk].map({ $0.version != parameterVersion || $0.range != range }) ?? true {
            // Another worker ran this chunk's forward pass (or this one lost it): redo it, same bits.
            Units.priorForward(model, chunk: chunk, range: range, values: parameters, scratch: gradient.data,
                               into: stats.reserve(range.count * w))
            priorForwards[chunk] = (parameterVersion, range)
        }
        let gs = dStats.reserve(range.count * w)
        g.copy(into: gs)
        Units.priorBackward(model, chunk: chunk, dStats: gs, values: parameters, gradient: gradient.data)
        let encoder = ranges.priorEncoder, rows = ranges.pseudoInputs.lowerBound + range.lowerBound * d
        let precision = welcome.precision
        let target = out.take(part: 0, bytes: ResultHeader.size + precision.bytesPerElement * (encoder.count + range.count * d))
        var writer = PayloadWriter(target)
        ResultHeader(kind: .priorBackward, part: 0).write(&writer)
        writer.append(floats: gradient.data + encoder.lowerBound, count: encoder.count, precision: precision)
        writer.append(floats: gradient.data + rows, count: range.count * d, precision: precision)
        return (target, writer.offset)
    }

    /// A data unit's fields up to its statistics, its images copied into `x` and its noise drawn
    /// into `noise` (unless `copying` is false: the unit was begun ahead from the same bytes).
    struct DataFields {
        var rows: Int, beta: Double, hasStats: Bool
    }

    func readDataFields(_ r: inout ByteReader, copying: Bool) throws -> DataFields {
        let rows = try r.readCount(maximum: welcome.plan.dataUnitSize, what: "rows of a data unit")
        let beta = try r.readDouble()
        let seed = try r.read(UInt64.self), epoch = Int(try r.read(UInt32.self))
        let rawPurpose = try r.read(UInt8.self)
        guard let purpose = RandomPurpose(rawValue: UInt32(rawPurpose)) else { throw WireError.malformedPayload("noise purpose \(rawPurpose)") }
        let hasStats = try r.read(UInt8.self) != 0
        _ = try r.read(UInt16.self)
        guard rows > 0, beta.isFinite else { throw WireError.malformedPayload("data unit of \(rows) rows, β = \(beta)") }
        guard hasStats == (config.prior == .vampprior) else { throw WireError.malformedPayload("prior statistics present: \(hasStats)") }
        if indices.count < rows { indices = [Int](repeating: 0, count: rows) }
        for i in 0..<rows {
            let sample = try r.read(Int64.self)
            guard sample >= 0 else { throw WireError.malformedPayload("sample index \(sample)") }
            indices[i] = Int(sample)
        }
        let d = config.inputSize, nw = config.noiseWidth
        let xs = try r.floats(rows * d)
        if copying {
            xs.copy(into: x.reserve(rows * d))
            let eps = noise.reserve(rows * nw)
            for i in 0..<rows {
                Units.drawNoise(seed: seed, epoch: epoch, sample: indices[i], purpose: purpose, into: eps + i * nw, count: nw)
            }
        }
        return DataFields(rows: rows, beta: beta, hasStats: hasStats)
    }

    /// A data unit begun before it was given (`prefetch`): which one, on which parameters, and
    /// how long that took; the payload bytes it was begun from are in `prefetchedBytes`.
    struct Prefetched {
        let step: UInt64, unit: UInt32, version: UInt64
        let seconds: Double
    }
    var prefetched: Prefetched?
    /// The payload start a prefetched unit was begun from (its capacity reused from step to step).
    var prefetchedBytes: [UInt8] = []

    /// Whether `payload` is the prefetched unit's `work` payload: same step, unit and parameters,
    /// and it starts with the bytes the unit was begun from.
    func continuesPrefetched(_ header: WireHeader, _ payload: UnsafeRawBufferPointer) -> Bool {
        guard let p = prefetched, header.step == p.step, header.unitID == p.unit, parameterVersion == p.version,
              payload.count > prefetchedBytes.count else { return false }
        return prefetchedBytes.withUnsafeBytes { memcmp($0.baseAddress!, payload.baseAddress!, $0.count) == 0 }
    }

    /// The first part of a prefetched data unit (no statistics: its payload ends before them).
    func beginData(_ r: inout ByteReader) throws {
        let fields = try readDataFields(&r, copying: true)
        try r.expectEnd()
        guard fields.hasStats else { throw WireError.malformedPayload("a prefetched data unit without a prior pass") }
        Units.dataBeforePrior(model, x: x.data, noise: noise.data, rows: fields.rows, values: parameters, scratch: gradient.data)
    }

    func data(_ work: WorkHeader, _ r: inout ByteReader, out: inout ResultSink,
              early: (ResultTarget, Int) throws -> Void) throws -> [(ResultTarget, Int)] {
        let begun = prefetched
        let fields = try readDataFields(&r, copying: begun == nil)
        let rows = fields.rows, hasStats = fields.hasStats
        var statsPointer: UnsafePointer<Float>?
        if hasStats {
            let section = try r.floats(statsCount)
            let s = stats.reserve(statsCount)
            section.copy(into: s)
            statsPointer = UnsafePointer(s)
        }
        try r.expectEnd()
        let precision = welcome.precision, dataCount = ranges.data.count
        // Part 1: the gradient, written straight into its slot or send buffer when it travels as fp32.
        var gradientBuffer: ResultTarget?
        var target: UnsafeMutablePointer<Float>?
        if work.gradient {
            let buffer = out.take(part: 1, bytes: ResultHeader.dataGradientCapacity(layoutCount: model.layout.count, dataCount: dataCount,
                                                                                     precision: precision))
            gradientBuffer = buffer
            target = precision == .fp32
                ? (buffer.base + ResultHeader.size).assumingMemoryBound(to: Float.self)   // 16-byte aligned
                : gradient.data
        }
        let vampGradient = hasStats && work.gradient
        let ds = vampGradient ? dStats.reserve(statsCount) : nil
        // Part 0: the loss sums and ∂loss/∂S. With ∂S it is sent as soon as ∂S is final, so that
        // the coordinator can issue the prior's backward units while this unit finishes.
        let first = out.take(part: 0, bytes: ResultHeader.size + LossSums.wireSize + (vampGradient ? 4 * statsCount : 0))
        func firstPart(_ sums: LossSums) -> (ResultTarget, Int) {
            var writer = PayloadWriter(first)
            ResultHeader(kind: .data, part: 0).write(&writer)
            sums.write(&writer)
            if let ds { writer.append(floats: ds, count: statsCount) }
            return (first, writer.offset)
        }
        var messages: [(ResultTarget, Int)] = []
        var earlyError: Error?
        let ready = { (sums: LossSums) in
            guard vampGradient else { return }
            let (t, n) = firstPart(sums)
            do { try early(t, n) } catch { earlyError = error }
        }
        let sums = begun == nil
            ? Units.data(model, x: x.data, noise: noise.data, rows: rows, beta: Float(fields.beta), stats: statsPointer,
                         values: parameters, gradient: target, dStats: ds, scratch: gradient.data, dStatsReady: ready)
            : Units.dataWithPrior(model, beta: Float(fields.beta), stats: statsPointer, values: parameters, gradient: target,
                                  dStats: ds, scratch: gradient.data, dStatsReady: ready)
        if let earlyError { throw earlyError }
        if !vampGradient { messages.append(firstPart(sums)) }
        if let buffer = gradientBuffer {
            var g = PayloadWriter(buffer)
            ResultHeader(kind: .data, part: 1).write(&g)
            if precision == .bf16 { g.append(floats: gradient.data, count: dataCount, precision: .bf16) }
            messages.append((buffer, ResultHeader.size + precision.bytesPerElement * dataCount))
        }
        return messages
    }

    func logLikelihood(_ r: inout ByteReader, out: inout ResultSink) throws -> (ResultTarget, Int) {
        let rows = try r.readCount(maximum: 1024, what: "rows of a likelihood unit")
        let first = try r.read(UInt64.self)
        let samples = try r.readCount(maximum: 10_000_000, what: "importance samples")
        let seed = try r.read(UInt64.self)
        guard rows > 0, samples > 0, first < UInt64(Int32.max) else { throw WireError.malformedPayload("likelihood unit of \(rows) rows, S = \(samples)") }
        let xs = try r.floats(rows * config.inputSize)
        try r.expectEnd()
        let xp = x.reserve(rows * config.inputSize)
        xs.copy(into: xp)
        let ll = Units.logLikelihood(model, x: xp, rows: rows, firstImage: Int(first), samples: samples, seed: seed,
                                     values: parameters, scratch: gradient.data)
        let target = out.take(part: 0, bytes: ResultHeader.size + 8 * rows)
        var writer = PayloadWriter(target)
        ResultHeader(kind: .logLikelihood, part: 0).write(&writer)
        for v in ll { writer.append(v) }
        return (target, writer.offset)
    }
}
