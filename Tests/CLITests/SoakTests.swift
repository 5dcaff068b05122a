import XCTest
import Foundation
import Artifacts

/// The long soak (`bash Tests/long.sh`): one coordinator, 16 emulated-compute workers exchanging
/// messages of the real size, and churn — a worker killed or started every few seconds — for
/// `LARGEVAE_SOAK_SECONDS`. Then SIGINT; the step log must hold every global step exactly once,
/// in order, matching the saved state, and the coordinator's memory must stay flat.
final class SoakTests: XCTestCase {
    func testSoak_SixteenEmulatedWorkersWithChurn() throws {
        guard let seconds = ProcessInfo.processInfo.environment["LARGEVAE_SOAK_SECONDS"].flatMap(Double.init) else {
            throw XCTSkip("the soak runs for minutes: set LARGEVAE_SOAK_SECONDS=600, or run bash Tests/long.sh")
        }
        CLITests.makeFixtures()
        let dir = CLITests.work.appendingPathComponent("soak")
        let endpoint = "tcp://127.0.0.1:\(Int.random(in: 20_000..<60_000))"
        let coordinator = try Spawned(["coordinator", "--bind", endpoint, "--min-workers", "16", "--heartbeat-ms", "200",
                                       "--worker-timeout", "2", "--unit-deadline", "10", "--dataset", "frey", "--model", "vae",
                                       "--prior", "vampprior", "--epochs", "1000000", "--patience", "1000000", "--warmup", "1",
                                       "--data-unit", "10", "--prior-unit", "50", "--importance-samples", "10", "--test-limit", "10",
                                       "--step-log", "--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        XCTAssertTrue(coordinator.waitFor("listening on"), coordinator.output)
        var workers: [Spawned] = []
        var started = 0, killed = 0
        func start() throws {
            workers.append(try Spawned(["worker", "--connect", endpoint, "--name", "soak-\(started)", "--emulate-compute",
                                        "--connect-timeout", "30"]))
            started += 1
        }
        defer { for w in workers where w.process.isRunning { w.process.terminate() } }
        for _ in 0..<16 { try start() }
        XCTAssertTrue(coordinator.waitFor("epoch 1 ", seconds: 120), coordinator.output)
        let pid = coordinator.process.processIdentifier
        let begin = Date()
        // The coordinator's private memory must not grow; the workers' arena pages it has read
        // (shared, in /dev/shm) stay mapped while their worker lives, so they are bounded instead.
        func sample(_ t: Double) -> (Double, Int, Int) {
            (t, WireFuzzTests.residentKB(pid, "RssAnon"), WireFuzzTests.residentKB(pid, "RssShmem"))
        }
        var rss = [sample(0)]
        var rng = SystemRandomNumberGenerator()
        while Date().timeIntervalSince(begin) < seconds && coordinator.process.isRunning {
            usleep(UInt32.random(in: 1_500_000...3_500_000, using: &rng))
            workers.removeAll { !$0.process.isRunning }
            if workers.count > 12 && (workers.count >= 20 || Bool.random(using: &rng)) {
                let victim = workers.remove(at: Int.random(in: 0..<workers.count, using: &rng))
                kill(victim.process.processIdentifier, SIGKILL)
                victim.finish(seconds: 5)
                killed += 1
            } else {
                try start()
            }
            let t = Date().timeIntervalSince(begin)
            if t - (rss.last?.0 ?? 0) >= 30 { rss.append(sample(t)) }
        }
        rss.append(sample(Date().timeIntervalSince(begin)))
        kill(pid, SIGINT)
        XCTAssertEqual(coordinator.finish(seconds: 120), 130, String(coordinator.output.suffix(3000)))

        // The step log: global steps 1...N once each, (epoch, step) strictly increasing.
        let lines = try String(contentsOf: dir.appendingPathComponent("steps.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        let rows = lines.map { $0.split(separator: ",").prefix(3).map { Int($0)! } }
        XCTAssertEqual(rows.map { $0[0] }, Array(1...max(rows.count, 1)), "global steps lost or repeated")
        for (a, b) in zip(rows, rows.dropFirst()) {
            XCTAssertTrue((b[1], b[2]) > (a[1], a[2]), "step \(b) after \(a)")
        }
        let state = try SafeTensors.read(from: dir.appendingPathComponent("last.safetensors")).metadata
        XCTAssertEqual(Int(state["adam_step"] ?? ""), rows.count, "the saved state is at the log's last step")
        let lost = coordinator.output.components(separatedBy: "lost worker").count - 1
        let growth = rss.last!.1 - rss[1 < rss.count - 1 ? 1 : 0].1
        print("soak: \(Int(rss.last!.0)) s, \(rows.count) steps (last: epoch \(rows.last?[1] ?? 0) step \(rows.last?[2] ?? 0)), "
              + "\(started) workers started, \(killed) killed, \(lost) lost notices; coordinator private / shared "
              + "resident kB at s: " + rss.map { "\(Int($0.0)): \($0.1) / \($0.2)" }.joined(separator: ", "))
        XCTAssertLessThan(growth, 50_000, "the coordinator's private memory grew by \(growth) kB after its first 30 s")
        let sharedBound = 22 * (64 << 10)   // kB: at most 21 workers at once (20 and one joining) with 64 MB arenas, and the parameters
        XCTAssertLessThan(rss.map(\.2).max() ?? 0, sharedBound, "the coordinator keeps more shared pages mapped than its live workers' arenas")
    }
}
