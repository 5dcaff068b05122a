import Foundation
import Dispatch

/// A fixed set of threads that run one parallel region at a time, without allocating per region
/// (libdispatch's `concurrentPerform` allocates on every call, which a steady-state step must not).
///
/// `run()` calls `work(t)` once for each thread index `t in 0..<threads`, the caller's thread
/// taking `t = 0`, and returns when all have finished. `work` is fixed before the first region,
/// so a region needs no closure, and hence no allocation.
final class ThreadPool {
    /// What the threads share. They hold it strongly and never touch the pool itself, so the
    /// pool can be released (and stop its threads) at any time between regions.
    private final class Shared: @unchecked Sendable {
        // @unchecked: `work` and `stopping` are written by the owner only while every worker is
        // parked on its `start` semaphore, and read by a worker only after that semaphore is
        // signalled; the semaphores order these accesses, so they never race.
        let start: [DispatchSemaphore]
        let done = DispatchSemaphore(value: 0)
        var work: (Int) -> Void = { _ in }
        var stopping = false
        init(threads: Int) { start = (0..<threads).map { _ in DispatchSemaphore(value: 0) } }

        func loop(_ t: Int) {
            while true {
                start[t].wait()
                if stopping { done.signal(); return }
                work(t)
                done.signal()
            }
        }
    }

    let threads: Int
    private let shared: Shared

    /// Starts `threads − 1` threads.
    init(threads: Int) {
        precondition(threads >= 1)
        self.threads = threads
        shared = Shared(threads: threads)
        for t in 1..<threads {
            let thread = Thread { [shared] in shared.loop(t) }
            thread.name = "largevae-step-\(t)"
            thread.start()
        }
    }

    deinit {
        shared.stopping = true
        for t in 1..<threads { shared.start[t].signal() }
        for _ in 1..<threads { shared.done.wait() }
    }

    /// Sets what each region runs (before the first `run`, never during one).
    func setWork(_ work: @escaping (Int) -> Void) { shared.work = work }

    /// Runs `work(t)` on every thread and waits for all of them.
    func run() {
        for t in 1..<threads { shared.start[t].signal() }
        shared.work(0)
        for _ in 1..<threads { shared.done.wait() }
    }
}
