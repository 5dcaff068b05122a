import Foundation
import Logging
import Transport

/// The coordinator's half of the shared-memory bulk path (see `SharedMemoryOffer`).
extension Coordinator {
    /// The name prefix of this run's segments: the run id, then this process's id (so that a later
    /// coordinator can tell a killed one's segments by their dead creator and remove them).
    static func segmentPrefix(runID: UInt64) -> String {
        "\(SharedSegment.directory)/largevae-\(String(runID, radix: 16))-\(getpid())"
    }

    /// The parameter segment, made when the coordinator starts (nil, with a warning, if it cannot be).
    static func makeSharedParameters(options: CoordinatorOptions, count: Int, log: Logger) -> SharedParameters? {
        guard options.sharedMemory, SharedSegment.hostIdentity() != nil else { return nil }
        removeStaleSegments(log: log)
        do {
            return try SharedParameters(path: segmentPrefix(runID: options.runID) + "-parameters", count: count)
        } catch {
            log.warning("workers on this host will use the socket: \(error.localizedDescription)")
            return nil
        }
    }

    /// The offer for a worker that said hello with `hello.host`, and its arena: the arena of the
    /// worker's previous admission if that never got as far as `ready` (a repeated hello, so
    /// whichever welcome the worker reads names the same arena), else a new one.
    func sharedOffer(for hello: Hello, replacing old: WorkerRecord?) -> (SharedMemoryOffer, ResultArena)? {
        guard let parameters = sharedParameters, let host = hello.host, host == hostIdentity, !resultSlotBytes.isEmpty else { return nil }
        let arena: ResultArena
        if case let .offered(previous)? = old?.shared {
            arena = previous
        } else {
            arenaCount += 1
            do {
                arena = try ResultArena(id: arenaCount, path: Self.segmentPrefix(runID: options.runID) + "-w\(arenaCount)",
                                        slotBytes: resultSlotBytes)
            } catch {
                log.warning("worker \(hello.name) will use the socket: \(error.localizedDescription)")
                return nil
            }
        }
        let offer = SharedMemoryOffer(
            parameters: .init(parameters.segment),
            parameterRegions: parameters.offsets, regionBytes: parameters.regionBytes,
            arena: .init(arena.segment), arenaID: arena.id, unitSlots: resultUnitSlots, slotOffsets: arena.offsets, slotBytes: arena.capacities)
        return (offer, arena)
    }

    /// A worker's `ready`: the first after its welcome says whether it mapped the arena offered.
    /// Either way the arena's name is removed now (the worker has opened it or given up), so a
    /// killed coordinator leaves only its parameter segment behind.
    func noteReady(_ header: WireHeader, from worker: WorkerRecord) {
        guard case let .offered(arena) = worker.shared else { return }
        arena.segment.unlink()
        if header.flags.contains(.sharedMemory) {
            guard Int(header.unitID) == arena.id else {
                return lose(worker, "it mapped shared-memory arena \(header.unitID), not the \(arena.id) it was offered")
            }
            worker.shared = .mapped(arena)
            log.info("worker \(worker.hello.name) exchanges parameters and results through shared memory")
        } else {
            worker.shared = .none
            log.info("worker \(worker.hello.name) is on this host but uses the socket (it could not map the segment, or was told not to)")
        }
    }

    /// The payload of a result message: in the frame, or (flag `sharedMemory`) in the sender's
    /// arena slot that the message names, which must be the slot of (unit, part) and hold `size`.
    /// Nil (after a logged drop) for anything else.
    func resultBytes(_ header: WireHeader, _ message: ReceivedMessage, part: Int, from worker: WorkerRecord) -> ResultBytes? {
        guard header.flags.contains(.sharedMemory) else { return ResultBytes(message: message) }
        guard case let .mapped(arena) = worker.shared else {
            drop(worker.key, "a shared-memory result from \(worker.hello.name), which has no arena")
            return nil
        }
        var reader = ByteReader(message.frame(2), offset: ResultHeader.size)
        guard let id = try? reader.read(UInt32.self), let slot = try? reader.read(UInt32.self), let size = try? reader.read(UInt64.self),
              (try? reader.expectEnd()) != nil else {
            drop(worker.key, "a shared-memory result of \(message.frame(2).count) bytes")
            return nil
        }
        let expected = SharedMemoryOffer.slot(unit: Int(header.unitID), part: part, unitSlots: resultUnitSlots)
        guard Int(id) == arena.id, Int(slot) == expected, expected < arena.capacities.count,
              size <= UInt64(arena.capacities[expected]), size >= UInt64(ResultHeader.size) else {
            drop(worker.key, "a shared-memory result naming arena \(id) slot \(slot) (\(size) bytes) for unit \(header.unitID) part \(part)")
            return nil
        }
        return ResultBytes(arena: arena, slot: expected, count: Int(size))
    }

    /// The small `parameters` message that points a shared-memory worker at the current version's
    /// region; sent once per version.
    func sendSharedParameters(to worker: WorkerRecord, _ shared: SharedParameters) throws {
        guard worker.parameterVersion != shared.version else { return }
        var payload = [UInt8]()
        payload.reserveCapacity(16)
        for v in [UInt32(shared.version % 2), 0] { withUnsafeBytes(of: v.littleEndian) { payload += $0 } }
        withUnsafeBytes(of: UInt64(welcome.table.totalCount).littleEndian) { payload += $0 }
        let header = WireHeader(type: .parameters, runID: options.runID, step: shared.version, unitCount: 1,
                                flags: options.precision.flags.union(.sharedMemory))
        try socket.send(header, payload: payload, to: worker.key)
        count(WireHeader.size + payload.count, to: worker)
        statistics.sharedBytes += options.precision.bytesPerElement * welcome.table.totalCount
        worker.parameterVersion = shared.version
        worker.chunksSent = 0
    }

    /// The current version as one socket chunk, made from its shared region the first time a
    /// socket worker needs it (when every worker reads the region, no copy is made at all).
    func socketParameters() -> ParameterChunks? {
        if let p = parameters, p.version == currentVersion { return p }
        guard let shared = sharedParameters, shared.version == currentVersion else { return nil }
        let bytes = options.precision.bytesPerElement * welcome.table.totalCount
        let buffer = socketParameterBuffers.take(8 + bytes)
        buffer.bytes.storeBytes(of: UInt64(0), toByteOffset: 0, as: UInt64.self)
        (buffer.bytes.baseAddress! + 8).copyMemory(from: shared.region(for: shared.version), byteCount: bytes)
        var p = ParameterChunks(version: currentVersion, buffer: buffer, chunkCount: 1)
        var header = WireHeader(type: .parameters, runID: options.runID, step: currentVersion, unitID: 0, unitCount: 1,
                                flags: options.precision.flags)
        header.seal(payload: UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffer.bytes)[0..<(8 + bytes)]))
        p.chunks = [(header, 0..<(8 + bytes))]
        parameters = p
        return p
    }

    /// Whether any worker reads the shared regions, or may once it answers its welcome. Without
    /// one, versions go only into socket messages, as on a coordinator whose workers are remote.
    var hasSharedWorkers: Bool { workers.values.contains { $0.shared.arena != nil } }

    /// Makes the shared region hold the current version: copied from its socket chunks when the
    /// update did not write it there (no shared-memory worker then). False while chunks are missing.
    func ensureSharedRegion(_ shared: SharedParameters) -> Bool {
        if shared.version == currentVersion { return true }
        guard let p = parameters, p.version == currentVersion, p.chunks.count == p.chunkCount else { return false }
        let width = options.precision.bytesPerElement, region = shared.region(for: currentVersion)
        for (_, range) in p.chunks {   // each: u64 element offset, then the values (made by this process)
            let bytes = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p.buffer.bytes)[range])
            let offset = Int(UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self)))
            (region + width * offset).copyMemory(from: bytes.baseAddress! + 8, byteCount: bytes.count - 8)
        }
        shared.version = currentVersion
        return true
    }

    /// Marks the shared region of `version` complete and, when pushing, tells the shared-memory
    /// workers at once.
    func sharedParametersWritten(version: UInt64) {
        guard let shared = sharedParameters else { return }
        shared.version = version
        guard options.pushParametersDuringUpdate else { return }
        for w in workers.values { if case .mapped = w.shared { sendParameters(to: w) } }
    }

    /// Removes the names of every segment this coordinator made (mappings live on while used).
    func unlinkSegments() {
        sharedParameters?.segment.unlink()
        for w in workers.values { w.shared.arena?.segment.unlink() }
    }
}
