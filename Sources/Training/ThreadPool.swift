import Foundation
import Dispatch

/// A fixed set of threads that run one parallel region at a time, without allocating per region
/// (libdispatch's `concurrentPerform` allocates on every call, which a steady-state step must not).
///
/// `run()` calls `work(t)` once for each thread index `t in 0..<threads`, the caller's thread
/// taking `t = 0`, and returns when all have finished. `work` is fixed at creation, so a region
/// needs no closure, and hence no allocation.
final class ThreadPool: @unchecked Sendable {
    // @unchecked: `work` is set once before the threads start; `stopping` is written by the caller only while every worker is parked
    // on its `start` semaphore, and read by workers only after that semaphore is signalled; the
    // semaphores order these accesses, so there is no concurrent access to either.
    let threads: Int
    private let start: [DispatchSemaphore]
    private let done = DispatchSemaphore(value: 0)
    private var work: (Int) -> Void = { _ in }
    private var stopping = false

    /// Starts `threads − 1` threads; `setWork` must be called before the first `run`.
    init(threads: Int) {
        precondition(threads >= 1)
        self.threads = threads
        start = (0..<threads).map { _ in DispatchSemaphore(value: 0) }
        for t in 1..<threads {
            let thread = Thread { [unowned self] in self.loop(t) }
            thread.name = "largevae-step-\(t)"
            thread.start()
        }
    }

    deinit {
        stopping = true
        for t in 1..<threads { start[t].signal() }
        for _ in 1..<threads { done.wait() }
    }

    /// Sets what each region runs (call before the first `run`, never during one).
    func setWork(_ work: @escaping (Int) -> Void) { self.work = work }

    private func loop(_ t: Int) {
        while true {
            start[t].wait()
            if stopping { done.signal(); return }
            work(t)
            done.signal()
        }
    }

    /// Runs `work(t)` on every thread and waits for all of them.
    func run() {
        for t in 1..<threads { start[t].signal() }
        work(0)
        for _ in 1..<threads { done.wait() }
    }
}
