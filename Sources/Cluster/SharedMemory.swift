import Foundation
import Logging
import Transport

/// The shared-memory bulk path for workers on the coordinator's host.
///
/// Control messages stay on the socket, with every check; only parameters and result bodies move
/// through `/dev/shm`:
/// ```
/// /dev/shm/largevae-RUN-PID-parameters   token | region 0 | region 1   version v in region v % 2
/// /dev/shm/largevae-RUN-PID-wN           token | slot 0 | slot 1 | …   one per admitted worker
///                                    slot 2·(u mod N) + p: result part p of the round's unit u
/// parameters (flag sharedMemory):    u32 region, u32 0, u64 element count   (precision from the flags)
/// result     (flag sharedMemory):    result header (16 B), u32 arena id, u32 slot, u64 bytes
/// ready      (flag sharedMemory):    the worker mapped arena `unitID` and will use it
/// ```
///
/// Why a slot can be reused without a lock:
/// - A worker writes slot 2·(u mod N) + p only while computing a unit with index u, one unit at a time,
///   and writes the slot's bytes before it sends the message naming them.
/// - The coordinator reads a slot only after a message naming it has passed the run, step, unit,
///   holder and size checks, so a straggler's write for an earlier round (whose message fails the
///   step check) is never read, and the step's later write to the slot is ordered after it on the
///   worker's one thread.
/// - Once a worker has named slot s in a message of step t, it writes s again only for a unit of a
///   step after t (units u and u + N of one step, or one unit given to it twice, share a slot: the
///   later result goes over the socket). It receives such a unit only after the coordinator began that round, which it
///   does only after the round of step t was reduced and read: so an accepted slot never changes
///   under the coordinator. A unit of step t given to the same worker twice sends its second
///   result over the socket.
/// - Parameter region v % 2 is rewritten only at version v + 2, which is published after every
///   round that used version v is done; a straggler still computing with v can only produce a
///   result of a finished round, which the step check drops.
struct SharedMemoryOffer: Codable, Equatable {
    struct Segment: Codable, Equatable {
        var path: String
        var size: Int
        /// The 128-bit token at the start of the segment, as hex.
        var token: String

        /// What a worker needs to open `segment`.
        init(_ segment: SharedSegment) {
            path = segment.path
            size = segment.size
            token = segment.token.hexString
        }
    }

    var parameters: Segment
    /// Byte offsets of the two parameter regions, each `regionBytes` long.
    var parameterRegions: [Int]
    var regionBytes: Int
    /// This worker's result arena and its id (which the worker's `ready` and results repeat).
    var arena: Segment
    var arenaID: Int
    /// N: units u and u + N share slots (so that an arena stays small however many units a round has).
    var unitSlots: Int
    /// Slot i's byte offset and capacity in the arena (capacity 0: that part travels by socket).
    var slotOffsets: [Int]
    var slotBytes: [Int]

    /// Result parts a unit may have; slot index = (unit mod N) · 2 + part.
    static let partsPerUnit = 2
    static func slot(unit: Int, part: Int, unitSlots: Int) -> Int { (unit % Swift.max(unitSlots, 1)) * partsPerUnit + part }

    /// Folds the largest result of each (unit, part) of a round (`sizes[2·u + p]`) onto N unit
    /// slots, N as large as the units allow with the arena within `budget` bytes (at least 1):
    /// slot (j, p) holds the largest part p of the units u ≡ j mod N.
    static func fold(_ sizes: [Int], budget: Int) -> (unitSlots: Int, bytes: [Int]) {
        let units = sizes.count / partsPerUnit
        for n in stride(from: units, through: 1, by: -1) {
            var bytes = [Int](repeating: 0, count: n * partsPerUnit)
            for (i, s) in sizes.enumerated() {
                let j = slot(unit: i / partsPerUnit, part: i % partsPerUnit, unitSlots: n)
                bytes[j] = Swift.max(bytes[j], s)
            }
            if sharedLayout(bytes).size <= budget || n == 1 { return (n, bytes) }
        }
        return (0, [])
    }
}

/// Removes the names of segments whose coordinator is no longer running (`SharedSegment.removeStale`),
/// and says so: a coordinator does this as it starts, a worker when its coordinator falls silent.
func removeStaleSegments(log: Logger) {
    let removed = SharedSegment.removeStale()
    if !removed.isEmpty {
        log.info("removed \(removed.count) shared-memory segment(s) of coordinators no longer running: \(removed.joined(separator: ", "))")
    }
}

/// Page-aligned regions of `sizes` after the token's page: their offsets and the segment's size.
func sharedLayout(_ sizes: [Int]) -> (offsets: [Int], size: Int) {
    var offset = SharedSegment.dataOffset
    var offsets: [Int] = []
    for s in sizes {
        offsets.append(s > 0 ? offset : 0)
        offset += (s + 4095) / 4096 * 4096
    }
    return (offsets, offset)
}

/// The bytes of a result part as the coordinator keeps them: the whole result payload (result
/// header, then the body), either in a received frame or in a worker's slot, kept alive by `owner`.
struct ResultBytes {
    let owner: AnyObject
    let payload: UnsafeRawBufferPointer

    /// A result that came in its message's payload frame.
    init(message: ReceivedMessage) {
        owner = message
        payload = message.frame(2)
    }

    /// A result in bytes `[0, count)` of a worker's arena slot.
    init(arena: ResultArena, slot: Int, count: Int) {
        owner = arena
        payload = UnsafeRawBufferPointer(arena.segment.bytes(at: arena.offsets[slot], count: count))
    }
}

/// The coordinator's side of one worker's result arena.
final class ResultArena {
    let id: Int
    let segment: SharedSegment
    let offsets: [Int], capacities: [Int]

    init(id: Int, path: String, slotBytes: [Int]) throws {
        self.id = id
        let layout = sharedLayout(slotBytes)
        segment = try SharedSegment.create(path: path, size: layout.size)
        offsets = layout.offsets
        capacities = slotBytes
    }

}

/// The coordinator's parameter segment: two regions of `4 · count` bytes.
final class SharedParameters {
    let segment: SharedSegment
    let offsets: [Int]
    let regionBytes: Int
    /// The version whose values region `version % 2` holds, once completely written.
    var version: UInt64 = 0

    init(path: String, count: Int) throws {
        regionBytes = 4 * count
        let layout = sharedLayout([regionBytes, regionBytes])
        segment = try SharedSegment.create(path: path, size: layout.size)
        offsets = layout.offsets
    }

    /// The region version `v` is written to.
    func region(for v: UInt64) -> UnsafeMutableRawPointer { segment.base + offsets[Int(v % 2)] }
}

/// How far a worker has come with the arena it was offered.
enum SharedState {
    /// Not offered (another host, turned off, or no segment).
    case none
    /// Offered in the welcome; the worker's first `ready` says whether it mapped it.
    case offered(ResultArena)
    case mapped(ResultArena)

    var arena: ResultArena? {
        switch self {
        case .none: return nil
        case let .offered(a), let .mapped(a): return a
        }
    }
}

/// A worker's side: the mapped parameter segment and its own arena.
final class WorkerSharedMemory {
    let offer: SharedMemoryOffer
    let parameters: SharedSegment
    let arena: SharedSegment
    /// Per slot: the step of the last result sent from it (the coordinator may read it until
    /// that round is done), 0 if none.
    var lent: [UInt64]

    /// Maps both segments and checks the offer's layout against their sizes.
    init(_ offer: SharedMemoryOffer) throws {
        guard offer.unitSlots >= 1, offer.slotBytes.count == offer.unitSlots * SharedMemoryOffer.partsPerUnit else {
            throw SharedSegmentError.invalid(path: offer.arena.path, reason: "\(offer.slotBytes.count) slots for \(offer.unitSlots) units")
        }
        guard let parameterToken = [UInt8](hex: offer.parameters.token), let arenaToken = [UInt8](hex: offer.arena.token) else {
            throw SharedSegmentError.invalid(path: offer.parameters.path, reason: "malformed token")
        }
        let inside = { (offset: Int, count: Int, size: Int) in
            count == 0 || (offset >= SharedSegment.dataOffset && count > 0 && offset % 64 == 0 && offset <= size - count)
        }
        guard offer.parameterRegions.count == 2, offer.regionBytes > 0,
              offer.parameterRegions.allSatisfy({ inside($0, offer.regionBytes, offer.parameters.size) }),
              offer.slotOffsets.count == offer.slotBytes.count, offer.slotBytes.count <= 1 << 20,
              zip(offer.slotOffsets, offer.slotBytes).allSatisfy({ inside($0, $1, offer.arena.size) }) else {
            throw SharedSegmentError.invalid(path: offer.arena.path, reason: "the offered layout does not fit the segments")
        }
        self.offer = offer
        parameters = try SharedSegment.open(path: offer.parameters.path, size: offer.parameters.size, token: parameterToken, writable: false)
        arena = try SharedSegment.open(path: offer.arena.path, size: offer.arena.size, token: arenaToken, writable: true)
        lent = Array(repeating: 0, count: offer.slotBytes.count)
    }

    /// The slot of (`unit`, `part`) for a result of `bytes` computed for step `step`, if it has
    /// room and is not lent out for this step already.
    func slot(unit: Int, part: Int, bytes: Int, step: UInt64) -> (index: Int, base: UnsafeMutableRawPointer)? {
        let s = SharedMemoryOffer.slot(unit: unit, part: part, unitSlots: offer.unitSlots)
        guard s < lent.count, bytes <= offer.slotBytes[s], lent[s] < step else { return nil }
        return (s, arena.base + offer.slotOffsets[s])
    }
}

/// Where one result part is written: a worker's arena slot, or a pooled send buffer.
struct ResultTarget {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    /// The send buffer, or nil for a slot.
    let buffer: OwnedBuffer?
    let slot: Int
}

/// Hands out result targets for the unit being computed: slots when the worker has an arena,
/// else (and for parts without a free slot) pooled send buffers.
struct ResultSink {
    var pool = BufferPool()
    /// The current session's segments (set before each unit).
    var shared: WorkerSharedMemory?
    var unit = 0
    var step: UInt64 = 0

    /// A target of at least `bytes` for result part `part`.
    mutating func take(part: Int, bytes: Int) -> ResultTarget {
        if let s = shared?.slot(unit: unit, part: part, bytes: bytes, step: step) {
            return ResultTarget(base: s.base, capacity: bytes, buffer: nil, slot: s.index)
        }
        let buffer = pool.take(bytes)
        return ResultTarget(base: buffer.bytes.baseAddress!, capacity: bytes, buffer: buffer, slot: -1)
    }
}

extension PayloadWriter {
    /// Writes into a result target from its start.
    init(_ target: ResultTarget) { self.init(base: target.base, capacity: target.capacity) }
}
