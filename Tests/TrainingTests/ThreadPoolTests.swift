import XCTest
import Training

/// The pool's regions: every thread's work of a region is done when `run` returns, and nothing
/// of the next region starts before it is published, whether threads spin, park, or are more
/// than the cores (where a late wake-up from one region meets the waiter of the next).
final class ThreadPoolTests: XCTestCase {
    /// Each region, thread t adds 1 to its own counter and reads the region number the owner
    /// wrote before `run`; after `run`, every counter must equal the region number.
    func check(threads: Int, spin: Duration, regions: Int, mixed: Bool = false) {
        let pool = ThreadPool(threads: threads, spin: spin)
        let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
        let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
        let current = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        defer { counts.deallocate(); seen.deallocate(); current.deallocate() }
        counts.initialize(repeating: 0)
        seen.initialize(repeating: 0)
        current.pointee = 0
        pool.setWork { t in
            counts[t] += 1
            seen[t] = current.pointee
            if t % 2 == 1 && current.pointee % 3 == 0 { sched_yield() }   // uneven regions: odd threads sometimes finish late
        }
        var failures = 0
        for r in 1...regions {
            current.pointee = r
            if mixed && r % 5 == 0 { pool.prewake() }
            pool.run(linger: !mixed || r % 3 != 0)
            for t in 0..<threads where counts[t] != r || seen[t] != r { failures += 1 }
        }
        XCTAssertEqual(failures, 0, "\(threads) threads, spin \(spin): \(failures) region(s) returned before all work was done")
    }

    /// (On one core a polling helper holds the core until preempted, so fewer regions there.)
    func testRegions_Spinning() {
        check(threads: 2, spin: .milliseconds(2), regions: ProcessInfo.processInfo.activeProcessorCount >= 2 ? 20_000 : 500)
    }
    func testRegions_Parking() { check(threads: 2, spin: .zero, regions: 20_000) }
    func testRegions_ShortSpin_MoreThreadsThanCores() { check(threads: 8, spin: .microseconds(20), regions: 5_000) }
    /// Regions after which helpers park at once (`linger: false`), and wake-ups between regions.
    func testRegions_NotLingering_Prewoken() { check(threads: 3, spin: .microseconds(200), regions: 20_000, mixed: true) }
    func testRegions_OneThread() { check(threads: 1, spin: .zero, regions: 100) }

    /// Pools started and released repeatedly stop their threads (a leaked thread would hang
    /// `deinit`, which waits for every thread to exit).
    func testReleaseStopsThreads() {
        for i in 0..<200 {
            let pool = ThreadPool(threads: 3, spin: i % 2 == 0 ? .zero : .microseconds(50))
            pool.setWork { _ in }
            if i % 3 == 0 { pool.run() }
        }
    }
}
