import Foundation
import Logging
import Tensor
import NN
import VAE
import Training
import Transport
import CKernels

/// A step's units: issuing each phase's units to the workers, and reading their results.
extension ClusterEngine {
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
