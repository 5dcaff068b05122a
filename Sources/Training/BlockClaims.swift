import Synchronization

/// Block indices that threads take one at a time, each the next one left, so that a thread that
/// started late or was slowed takes fewer instead of holding the others up. The passes split this
/// way (the gradient reduction and the optimiser's update, in the executor and the coordinator)
/// are element-wise, so the order blocks are taken in changes no bit.
public final class BlockClaims: Sendable {
    /// Elements per block of the parameter passes split this way.
    public static let blockSize = 1 << 16

    private let next = Atomic<Int>(0)

    public init() {}

    /// Starts a pass at block `first`; call before the threads start (starting them publishes it).
    public func reset(to first: Int = 0) { next.store(first, ordering: .relaxed) }

    /// The next block below `count` that no thread has taken, or nil when all are taken.
    public func take(below count: Int) -> Int? {
        let b = next.add(1, ordering: .relaxed).oldValue
        return b < count ? b : nil
    }
}
