import Foundation
import Synchronization

/// The processes this one started and has not reaped (local workers, a benchmark's measuring
/// processes), so that a process quitting at once on a signal (`Train.quitNow`) stops them,
/// instead of leaving them to notice seconds later that their coordinator is gone.
enum ChildProcesses {
    private static let running = Mutex<Set<Int32>>([])

    /// Starts `process` and records it until `forget`.
    static func run(_ process: Process) throws {
        try running.withLock { ids in
            try process.run()
            ids.insert(process.processIdentifier)
        }
    }

    /// Stops recording `process` (it has exited, or is about to be reaped).
    static func forget(_ process: Process) {
        _ = running.withLock { $0.remove(process.processIdentifier) }
    }

    /// Sends SIGTERM to every recorded process.
    static func terminateAll() {
        running.withLock { ids in
            for id in ids { kill(id, SIGTERM) }
        }
    }
}
