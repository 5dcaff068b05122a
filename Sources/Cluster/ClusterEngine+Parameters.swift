import Foundation
import Logging
import Tensor
import NN
import VAE
import Training
import Transport
import CKernels

/// Parameter versions: the update over the coordinator's threads, and how each version reaches
/// the workers (a shared region, pushed chunks, or one message made when a worker needs it).
extension ClusterEngine {
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
}
