import Foundation
import Dispatch
import Synchronization
import CKernels

/// A fixed set of threads that run one parallel region at a time, without allocating per region
/// (libdispatch's `concurrentPerform` allocates on every call, which a steady-state step must not).
///
/// `run()` calls `work(t)` once for each thread index `t in 0..<threads`, the caller's thread
/// taking `t = 0`, and returns when all have finished. `work` is fixed before the first region,
/// so a region needs no closure, and hence no allocation.
///
/// Waiting spins before it sleeps. A step is a few regions a few milliseconds apart, and a
/// thread that sleeps on a semaphore between them is woken late: on this project's virtual
/// machine an idle vCPU halts, and the lags of waking (a region's start, and noticing its end)
/// came to 2.7 ms a two-thread step of five regions, against 0.7 ms with polling.
/// So a thread polls for up to `spin` first (with the CPU's pause hint), then parks on its
/// semaphore. Spinning is off when there are more threads than cores, where it would take a
/// core from a thread with work.
public final class ThreadPool {
    /// A flag a waiter raises before it parks, so that the one who makes it ready knows to
    /// signal (and no wake-up is lost: see `wait(until:)`).
    private final class Parked: Sendable {
        let flag = Atomic<Bool>(false)
        let semaphore = DispatchSemaphore(value: 0)
    }

    /// What the threads share. They hold it strongly and never touch the pool itself, so the
    /// pool can be released (and stop its threads) at any time between regions.
    private final class Shared: @unchecked Sendable {
        // @unchecked: `work` and `stopping` are written by the owner only between regions, before
        // it publishes the next region by incrementing `generation` (sequentially consistent), and a
        // thread reads them only after it has seen that increment; `remaining` orders the threads'
        // writes in a region before the owner's return from `run`. So these accesses never race.
        let generation = Atomic<Int>(0)
        let remaining = Atomic<Int>(0)
        let helpers: [Parked]
        let owner = Parked()
        let exited = DispatchSemaphore(value: 0)
        let spin: Duration
        /// Whether helpers poll for the next region before parking (`run(linger:)`, `prewake`).
        let lingering = Atomic<Bool>(true)
        var work: (Int) -> Void = { _ in }
        var stopping = false

        init(threads: Int, spin: Duration) {
            helpers = (0..<threads).map { _ in Parked() }
            self.spin = spin
        }

        /// Returns once `ready()` holds: polls it for up to `spin` (when `spinning()`), then parks
        /// on `parked`; woken without `ready()` (a late signal, or `prewake`), it polls and parks again.
        ///
        /// The waiter raises its flag and then checks `ready()` again; whoever makes it ready does so
        /// and then lowers the flag, signalling if it was raised. All four are sequentially
        /// consistent, so at least one of the two sees the other's write: either the waiter sees
        /// `ready()` (and takes its flag back, or consumes the signal if the other was first), or
        /// the other sees the flag and signals. Every signal answers one raised flag, so a late
        /// signal (from a waker of the region before) only makes the waiter check once more.
        func wait(until ready: () -> Bool, _ parked: Parked, spinning: () -> Bool) {
            while true {
                if ready() { return }
                if spin > .zero && spinning() {
                    let deadline = ContinuousClock.now + spin
                    var polls = 0
                    while true {
                        largevae_cpu_relax()
                        if ready() { return }
                        polls += 1
                        if polls & 255 == 0 && ContinuousClock.now >= deadline { break }
                    }
                }
                parked.flag.store(true, ordering: .sequentiallyConsistent)
                if ready() {
                    // Took the flag back, or a waker was first: consume its signal.
                    if !parked.flag.exchange(false, ordering: .sequentiallyConsistent) { parked.semaphore.wait() }
                    return
                }
                parked.semaphore.wait()
            }
        }

        /// Wakes `parked` if it went to sleep; call after making its condition true.
        func wake(_ parked: Parked) {
            if parked.flag.exchange(false, ordering: .sequentiallyConsistent) { parked.semaphore.signal() }
        }

        func loop(_ t: Int) {
            var seen = 0
            while true {
                seen += 1
                wait(until: { generation.load(ordering: .sequentiallyConsistent) >= seen }, helpers[t],
                     spinning: { lingering.load(ordering: .relaxed) })
                if stopping { exited.signal(); return }
                work(t)
                if remaining.subtract(1, ordering: .sequentiallyConsistent).newValue == 0 { wake(owner) }
            }
        }

        /// Starts a region on every helper.
        func publish() {
            generation.add(1, ordering: .sequentiallyConsistent)
            for t in 1..<helpers.count { wake(helpers[t]) }
        }
    }

    public let threads: Int
    private let shared: Shared

    /// Starts `threads − 1` threads.
    /// - Parameter spin: how long a waiting thread polls before it parks; by default 2 ms when
    ///   `threads` fit the machine's cores, else 0 (`LARGEVAE_SPIN_US` overrides it).
    public init(threads: Int, spin: Duration? = nil) {
        precondition(threads >= 1)
        self.threads = threads
        shared = Shared(threads: threads, spin: spin ?? Self.defaultSpin(threads: threads))
        for t in 1..<threads {
            let thread = Thread { [shared] in shared.loop(t) }
            thread.name = "largevae-step-\(t)"
            thread.start()
        }
    }

    static func defaultSpin(threads: Int) -> Duration {
        if let text = ProcessInfo.processInfo.environment["LARGEVAE_SPIN_US"], let us = Int(text), us >= 0 {
            return .microseconds(us)
        }
        return threads > 1 && threads <= ProcessInfo.processInfo.activeProcessorCount ? .milliseconds(2) : .zero
    }

    deinit {
        shared.stopping = true
        shared.publish()
        for _ in 1..<threads { shared.exited.wait() }
    }

    /// Sets what each region runs (before the first `run`, never during one).
    public func setWork(_ work: @escaping (Int) -> Void) { shared.work = work }

    /// Runs `work(t)` on every thread and waits for all of them.
    /// - Parameter linger: whether the helpers then poll for the next region (up to `spin`) before
    ///   they park: true when another region follows soon; false when the cores are wanted by
    ///   others next (a coordinator whose workers start computing).
    public func run(linger: Bool = true) {
        let shared = shared
        guard threads > 1 else { return shared.work(0) }
        shared.lingering.store(linger, ordering: .relaxed)
        shared.remaining.store(threads - 1, ordering: .sequentiallyConsistent)
        shared.publish()
        shared.work(0)
        shared.wait(until: { shared.remaining.load(ordering: .sequentiallyConsistent) == 0 }, shared.owner, spinning: { true })
    }

    /// Wakes parked helpers to poll for the next region (up to `spin`), so that a region known to
    /// come soon starts without their wake-up latency.
    public func prewake() {
        guard threads > 1 else { return }
        shared.lingering.store(true, ordering: .relaxed)
        for t in 1..<threads { shared.wake(shared.helpers[t]) }
    }
}
