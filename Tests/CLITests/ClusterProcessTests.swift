import XCTest
import Foundation
import Artifacts
import Transport
import Checksums

/// A `largevae` process whose output is collected as it runs, so a test can wait for a line.
final class Spawned: @unchecked Sendable {
    // @unchecked: `text` is only touched under `lock`, from the pipe's handler and the test thread.
    let process = Process()
    private let lock = NSLock()
    private var text = ""

    init(_ arguments: [String], executable: URL = CLITests.executable, environment: [String: String] = [:]) throws {
        process.executableURL = executable
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LARGEVAE_DATA"] = CLITests.dataDirectory.path
        env["OPENBLAS_NUM_THREADS"] = "1"
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        reader = pipe.fileHandleForReading
        reader.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            // At the end of the output, stop watching: a handler left on a finished pipe fires
            // again and again, and its dispatch source outlived the handle (a crash in libdispatch).
            if data.isEmpty { handle.readabilityHandler = nil; return }
            guard let self else { return }
            self.lock.lock(); self.text += String(decoding: data, as: UTF8.self); self.lock.unlock()
        }
        try process.run()
    }

    /// The read end of the process's output pipe.
    private let reader: FileHandle

    deinit { reader.readabilityHandler = nil }

    var output: String { lock.lock(); defer { lock.unlock() }; return text }

    /// Waits until the output contains `needle` (true) or `seconds` pass (false).
    func waitFor(_ needle: String, seconds: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if output.contains(needle) { return true }
            usleep(20_000)
        }
        return false
    }

    /// Waits for exit (killing the process after `seconds`) and returns its status.
    @discardableResult
    func finish(seconds: Double = 120) -> Int32 {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        usleep(50_000)   // let the pipe handler take the last output
        return process.terminationStatus
    }
}

/// Distributed training with real `largevae coordinator` / `worker` processes over tcp.
final class ClusterProcessTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        CLITests.makeFixtures()
    }

    struct Outcome { let status: Int32; let stdout: String; let stderr: String }

    /// Runs `largevae` to completion.
    func largevae(_ arguments: [String]) throws -> Outcome {
        let p = try Spawned(arguments)
        let status = p.finish(seconds: 300)
        return Outcome(status: status, stdout: p.output, stderr: p.output)
    }

    func runDirectory(_ name: String) -> URL { CLITests.work.appendingPathComponent("cluster-\(name)") }

    /// Small VampPrior runs with several units per phase: batch 40 in data units of 10, K = 12 in
    /// prior units of 4.
    func args(_ model: String, prior: String = "vampprior") -> [String] {
        ["--dataset", "frey", "--model", model, "--prior", prior, "--hidden", "24", "--latent", "4", "--components", "12",
         "--warmup", "1", "--epochs", "2", "--train-limit", "200", "--batch-size", "40", "--data-unit", "10",
         "--prior-unit", "4", "--importance-samples", "20", "--test-limit", "16"]
    }

    func tensors(_ dir: URL, _ file: String = "last.safetensors") throws -> [String: SafeTensor] {
        try SafeTensors.read(from: dir.appendingPathComponent(file)).tensors
    }

    func freePort() -> Int { Int.random(in: 20_000..<60_000) }

    /// The same bits — parameters and Adam moments — with 1 in-process worker and with 1–4
    /// worker processes, for both VampPrior models.
    func testWorkerProcesses_BitIdenticalToOneProcess() throws {
        for model in ["vae", "hvae"] {
            let local = runDirectory("local-\(model)")
            let r = try largevae(["train"] + args(model) + ["--threads", "1", "--run-dir", local.path])
            XCTAssertEqual(r.status, 0, r.stderr)
            let reference = try tensors(local)
            for n in 1...4 {
                let dir = runDirectory("workers-\(model)-\(n)")
                let r = try largevae(["train"] + args(model) + ["--workers", String(n), "--run-dir", dir.path])
                XCTAssertEqual(r.status, 0, r.stdout + r.stderr)
                XCTAssertEqual(try tensors(dir), reference, "\(model)/vampprior with \(n) worker processes")
                XCTAssertEqual(try tensors(dir, "best.safetensors"), try tensors(local, "best.safetensors"))
                let test = try String(contentsOf: dir.appendingPathComponent("test.json"), encoding: .utf8)
                XCTAssertEqual(test, try String(contentsOf: local.appendingPathComponent("test.json"), encoding: .utf8),
                               "sharded test log-likelihood with \(n) workers")
                let metrics = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
                XCTAssertTrue(metrics.contains("\"bytesSent\""), "per-step bytes in the metrics")
            }
        }
    }

    /// `worker --cpu N` keeps the whole worker on CPU N, its ZeroMQ threads too (they inherit it);
    /// a CPU it may not use is refused with exit 64, naming the ones it may. With
    /// `--idle-priority` the computing (main) thread has the SCHED_IDLE policy and libzmq's threads
    /// keep the normal one; `train --workers 2` gives it to its workers when they fill every CPU,
    /// and `--poll-ms 20` when each also has a CPU of its own. A bad `--poll-ms` is refused.
    func testWorker_PinnedToItsCPU_BadCPURefused() throws {
        let bad = try largevae(["worker", "--connect", "tcp://127.0.0.1:\(freePort())", "--cpu", "4095"])
        XCTAssertEqual(bad.status, 64, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("--cpu 4095 is not a CPU this process may run on"), bad.stderr)
        let badPoll = try largevae(["worker", "--connect", "tcp://127.0.0.1:\(freePort())", "--poll-ms", "5000"])
        XCTAssertEqual(badPoll.status, 64, badPoll.stderr)
        XCTAssertTrue(badPoll.stderr.contains("--poll-ms must be between 0 and 1000"), badPoll.stderr)

        func allowed(_ statusFile: String) throws -> String {
            let status = try String(contentsOfFile: statusFile, encoding: .utf8)
            let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
            return line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)
        }
        // The last CPU this test may use (so that pinning is not a no-op on a one-CPU machine's CPU 0 alone).
        let mine = try allowed("/proc/self/status")
        let cpu = try XCTUnwrap(mine.split(separator: ",").last?.split(separator: "-").last.flatMap { Int($0) })
        let worker = try Spawned(["worker", "--connect", "tcp://127.0.0.1:\(freePort())", "--connect-timeout", "3", "--cpu", String(cpu),
                                  "--idle-priority"])
        usleep(800_000)   // joining by then: the socket, and with it libzmq's threads, exist
        let wpid = worker.process.processIdentifier
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(wpid)/task")
        XCTAssertGreaterThanOrEqual(tasks.count, 2, "the worker and libzmq's I/O thread")
        for task in tasks {
            XCTAssertEqual(try allowed("/proc/\(wpid)/task/\(task)/status"), String(cpu), "thread \(task)")
            XCTAssertEqual(try policy(wpid, task: Int32(task)!), task == String(wpid) ? 5 : 0, "SCHED_IDLE only for the main thread \(task)")
        }
        XCTAssertEqual(worker.finish(seconds: 30), 1, worker.output)   // nobody answered

        // `train --workers 2` pins local worker i to the i-th CPU when there are two to use.
        let cpus = mine.split(separator: ",").flatMap { part -> [Int] in
            let ends = part.split(separator: "-").compactMap { Int($0) }
            return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
        }
        let train = try Spawned(["train"] + args("vae") + ["--epochs", "500", "--workers", "2", "--run-dir", runDirectory("pinned").path])
        defer { train.process.terminate(); train.finish(seconds: 30) }
        XCTAssertTrue(train.waitFor("epoch 1", seconds: 120), train.output)
        let pid = train.process.processIdentifier
        let children = try childProcesses(of: pid)
        XCTAssertEqual(children.count, 2, train.output)
        for child in children {
            let cmdline = try String(contentsOfFile: "/proc/\(child)/cmdline", encoding: .utf8).split(separator: "\0").map(String.init)
            guard let i = cmdline.firstIndex(of: "--name").map({ Int(cmdline[$0 + 1].dropFirst("local-".count))! }) else {
                XCTFail("no --name in \(cmdline)"); continue
            }
            XCTAssertEqual(try allowed("/proc/\(child)/status"), cpus.count >= 2 ? String(cpus[i]) : mine, "local-\(i)")
            XCTAssertEqual(cmdline.contains("--idle-priority"), cpus.count <= 2, "local-\(i) at idle priority when the workers fill the CPUs")
            XCTAssertEqual(try policy(child, task: child), cpus.count <= 2 ? 5 : 0, "local-\(i)'s scheduling policy")
            XCTAssertEqual(cmdline.firstIndex(of: "--poll-ms").map { cmdline[$0 + 1] }, cpus.count == 2 ? "20" : nil,
                           "local-\(i) polls for its messages when it has a CPU of its own and the workers fill the CPUs")
        }
    }

    /// The processes that process `pid`'s main thread started.
    func childProcesses(of pid: Int32) throws -> [Int32] {
        try String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8).split(separator: " ").compactMap { Int32($0) }
    }

    /// Thread `task` of process `pid`'s scheduling policy (`/proc/…/stat` field 41; 5 is SCHED_IDLE).
    func policy(_ pid: Int32, task: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8)
        let fields = try XCTUnwrap(stat.range(of: ")", options: .backwards)).upperBound
        return try XCTUnwrap(Int(stat[fields...].split(separator: " ")[38]))   // field 3 is the first after ")"
    }

    /// Workers that join after training has begun take units from the next step on; a worker
    /// for another model, and a client speaking another protocol version, are refused while
    /// the run goes on; a joined peer sending 600 malformed messages is ignored; `largevae status`
    /// lists the workers. The result is unchanged.
    func testJoinPartwayRefusalsAndStatus_ResultUnchanged() throws {
        let reference = runDirectory("join-reference")
        let args = self.args("vae") + ["--epochs", "12", "--train-limit", "400"]
        XCTAssertEqual(try largevae(["train"] + args + ["--threads", "1", "--run-dir", reference.path]).status, 0)

        let port = freePort(), endpoint = "tcp://127.0.0.1:\(port)"
        let dir = runDirectory("join")
        let coordinator = try Spawned(["coordinator", "--bind", endpoint, "--min-workers", "1"] + args + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        XCTAssertTrue(coordinator.waitFor("listening on"), coordinator.output)
        let first = try Spawned(["worker", "--connect", endpoint, "--name", "first"])
        XCTAssertTrue(coordinator.waitFor("epoch 1 "), coordinator.output)

        let wrongModel = try Spawned(["worker", "--connect", endpoint, "--model", "hvae/standard", "--name", "wrong"])
        XCTAssertNotEqual(wrongModel.finish(seconds: 30), 0)
        XCTAssertTrue(wrongModel.output.contains("refused") && wrongModel.output.contains("vae/vampprior"), wrongModel.output)

        let refusal = try foreignVersionHello(endpoint)
        XCTAssertTrue(refusal.contains("Protocol version 2"), refusal)

        let junk = try sendJunk(endpoint, count: 600)
        XCTAssertGreaterThan(junk, 0, "the junk sender was welcomed")

        let late = try (0..<2).map { try Spawned(["worker", "--connect", endpoint, "--name", "late-\($0)"]) }
        XCTAssertTrue(coordinator.waitFor("late-1 (pid"), coordinator.output)
        let status = try largevae(["status", "--connect", endpoint])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.contains("first") && status.stdout.contains("late-0"), status.stdout)

        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        let log = coordinator.output
        let joined = try XCTUnwrap(log.range(of: "late-1 (pid")), end = try XCTUnwrap(log.range(of: "evaluating the best model"))
        XCTAssertLessThan(joined.lowerBound, end.lowerBound, "the late workers joined during training")
        for w in [first] + late { XCTAssertEqual(w.finish(seconds: 20), 0, w.output) }
        XCTAssertTrue(late.contains { $0.output.contains("units computed") && !$0.output.contains("; 0 units computed") },
                      "a late worker computed units")
        XCTAssertEqual(try tensors(dir), try tensors(reference))
    }

    /// Coordinator and two workers each in their own network namespace, joined by veth pairs
    /// with their own addresses (Tests/cluster/netns.sh): the same bits as one process.
    /// Tests/cluster/netns.sh `up 2`, or a skip with its reason where namespaces are not permitted.
    func namespaces() throws -> (ip: URL, down: () -> Void) {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("cluster/netns.sh").path
        let bash = URL(fileURLWithPath: "/bin/bash")
        let check = try Spawned([script, "check"], executable: bash)
        if check.finish(seconds: 30) != 0 {
            throw XCTSkip("network namespaces unavailable: \(check.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        XCTAssertEqual(try Spawned([script, "up", "2"], executable: bash).finish(seconds: 30), 0)
        let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first { FileManager.default.isExecutableFile(atPath: $0) }!
        return (URL(fileURLWithPath: ip), { _ = try? Spawned([script, "down"], executable: bash).finish(seconds: 30) })
    }

    func inNamespace(_ ip: URL, _ ns: String, _ args: [String]) throws -> Spawned {
        try Spawned(["netns", "exec", ns, CLITests.executable.path] + args, executable: ip)
    }

    /// Runs `ip` (or `tc` through `ip netns exec`) and returns its exit status and output.
    @discardableResult
    func command(_ ip: URL, _ args: [String]) throws -> (Int32, String) {
        let p = try Spawned(args, executable: ip)
        return (p.finish(seconds: 20), p.output)
    }

    func testAcrossNetworkNamespaces_BitIdentical() throws {
        let (ip, down) = try namespaces()
        defer { down() }
        let inNamespace = { (ns: String, args: [String]) in try self.inNamespace(ip, ns, args) }
        let reference = runDirectory("netns-reference"), dir = runDirectory("netns")
        XCTAssertEqual(try largevae(["train"] + args("hvae") + ["--threads", "1", "--run-dir", reference.path]).status, 0)
        let keys = try makeKeys("netns", ["coordinator", "ns-1", "ns-2"])   // every address is bound: keys
        let coordinator = try inNamespace("lv-coord", ["coordinator", "--bind", "tcp://0.0.0.0:5555", "--min-workers", "2"]
                                          + keys.server + args("hvae") + ["--run-dir", dir.path])
        let workers = try (1...2).map { try inNamespace("lv-w\($0)", ["worker", "--connect", "tcp://10.77.0.1:5555", "--name", "ns-\($0)"] + keys.client("ns-\($0)")) }
        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        for w in workers { XCTAssertEqual(w.finish(seconds: 20), 0, w.output) }
        XCTAssertTrue(coordinator.output.contains("ns-1") && coordinator.output.contains("ns-2"), coordinator.output)
        XCTAssertEqual(try tensors(dir), try tensors(reference))
    }

    /// Worker 1's link (its veth on the switch) goes down for longer than the worker timeout and
    /// comes back: the coordinator drops the worker, the worker joins again by itself, and the
    /// run ends with the same bits. Then worker 2's link is made slow (a 20 Mbit/s token bucket,
    /// plus 5% loss and 20 ms delay where the kernel has netem) for 10 epochs.
    func testBrokenAndSlowLinks_WorkerDroppedRejoins_ResultUnchanged() throws {
        let (ip, down) = try namespaces()
        defer { down() }
        // Long enough that the run outlasts the outage and the rejoin (about 8 s from epoch 2): at
        // 40 epochs a fast build finished 7 s after starting, before worker 1 was back. The slow
        // link is lifted after 10 epochs, or the 100 epochs left would take minutes.
        let args = self.args("vae") + ["--epochs", "120", "--train-limit", "400"]
        let reference = runDirectory("link-reference"), dir = runDirectory("link")
        XCTAssertEqual(try largevae(["train"] + args + ["--threads", "1", "--run-dir", reference.path]).status, 0)
        let keys = try makeKeys("link", ["coordinator", "ns-1", "ns-2"])
        let coordinator = try inNamespace(ip, "lv-coord", ["coordinator", "--bind", "tcp://0.0.0.0:5555", "--min-workers", "2",
                                                           "--heartbeat-ms", "200", "--worker-timeout", "2", "--unit-deadline", "3"]
                                          + keys.server + args + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        let workers = try (1...2).map {
            try inNamespace(ip, "lv-w\($0)", ["worker", "--connect", "tcp://10.77.0.1:5555", "--name", "ns-\($0)", "--connect-timeout", "120"]
                            + keys.client("ns-\($0)"))
        }
        XCTAssertTrue(coordinator.waitFor("epoch 2 "), coordinator.output)
        XCTAssertEqual(try command(ip, ["-n", "lv-switch", "link", "set", "lvs1", "down"]).0, 0)
        XCTAssertTrue(coordinator.waitFor("lost worker ns-1", seconds: 20), coordinator.output)
        usleep(4_000_000)
        XCTAssertEqual(try command(ip, ["-n", "lv-switch", "link", "set", "lvs1", "up"]).0, 0)
        let rejoined = { coordinator.output.components(separatedBy: "worker ns-1 (pid").count - 1 >= 2 }
        let deadline = Date().addingTimeInterval(60)
        while !rejoined() && coordinator.process.isRunning && Date() < deadline { usleep(50_000) }
        XCTAssertTrue(rejoined(), "ns-1 did not join again: \(coordinator.output)")

        var slow = ["netns", "exec", "lv-switch", "tc", "qdisc", "add", "dev", "lvs2", "root", "netem", "loss", "5%", "delay", "20ms",
                    "rate", "20mbit"]
        if try command(ip, slow).0 != 0 {
            print("tc netem is not available in this kernel: the slow link is a token bucket without loss")
            slow = ["netns", "exec", "lv-switch", "tc", "qdisc", "add", "dev", "lvs2", "root", "tbf", "rate", "20mbit", "burst", "32kb",
                    "latency", "100ms"]
            XCTAssertEqual(try command(ip, slow).0, 0)
        }
        let epochs = { coordinator.output.components(separatedBy: "  β ").count - 1 }
        let slowFrom = epochs(), slowDeadline = Date().addingTimeInterval(200)
        while epochs() < slowFrom + 10 && coordinator.process.isRunning && Date() < slowDeadline { usleep(50_000) }
        XCTAssertEqual(try command(ip, ["netns", "exec", "lv-switch", "tc", "qdisc", "del", "dev", "lvs2", "root"]).0, 0)
        XCTAssertEqual(coordinator.finish(seconds: 300), 0, coordinator.output)
        for w in workers { XCTAssertEqual(w.finish(seconds: 30), 0, w.output) }
        XCTAssertGreaterThanOrEqual(workers[0].output.components(separatedBy: "joined run").count - 1, 2,
                                    "ns-1 joined once only: \(workers[0].output)")
        XCTAssertEqual(try tensors(dir), try tensors(reference))
    }

    /// Key pairs made with `largevae keygen` in a fresh directory: the first name is the
    /// coordinator, whose allow-list (a directory of .pub files) holds the others.
    func makeKeys(_ name: String, _ names: [String]) throws -> (server: [String], client: (String) -> [String], directory: URL) {
        let dir = runDirectory("keys-\(name)"), allowed = dir.appendingPathComponent("allowed")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: allowed, withIntermediateDirectories: true)
        for (i, n) in names.enumerated() {
            let r = try largevae(["keygen", "--out", (i == 0 ? dir : allowed).appendingPathComponent(n).path])
            XCTAssertEqual(r.status, 0, r.stdout)
        }
        for n in names.dropFirst() {
            try FileManager.default.moveItem(at: allowed.appendingPathComponent("\(n).key"), to: dir.appendingPathComponent("\(n).key"))
        }
        let server = ["--curve-secret", dir.appendingPathComponent("\(names[0]).key").path, "--allow", allowed.path]
        let serverPublic = dir.appendingPathComponent("\(names[0]).pub").path
        return (server, { ["--curve-secret", dir.appendingPathComponent("\($0).key").path, "--server-key", serverPublic] }, dir)
    }

    /// A coordinator bound to every address with keys: a listed worker trains and `status` with a
    /// listed key sees it; a worker whose key is not listed, and a plaintext `status`, get no
    /// answer (and say what to check), and the coordinator logs the refusal with the key. The
    /// result is unchanged.
    func testCurveKeys_UnlistedWorkerAndPlaintextStatusShutOut_ResultUnchanged() throws {
        let args = self.args("vae")
        let reference = runDirectory("curve-reference"), dir = runDirectory("curve")
        XCTAssertEqual(try largevae(["train"] + args + ["--threads", "1", "--run-dir", reference.path]).status, 0)
        let keys = try makeKeys("curve", ["coordinator", "w1", "w2", "watcher"])
        XCTAssertEqual(try largevae(["keygen", "--out", keys.directory.appendingPathComponent("stranger").path]).status, 0)
        let strangerKey = try String(contentsOf: keys.directory.appendingPathComponent("stranger.pub"), encoding: .utf8)
            .split(separator: "\n").last.map(String.init) ?? ""

        let port = freePort(), endpoint = "tcp://127.0.0.1:\(port)"
        let coordinator = try Spawned(["coordinator", "--bind", "tcp://0.0.0.0:\(port)", "--min-workers", "2"] + keys.server + args
                                      + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        XCTAssertTrue(coordinator.waitFor("listening on"), coordinator.output)
        let w1 = try Spawned(["worker", "--connect", endpoint, "--name", "w1"] + keys.client("w1"))
        XCTAssertTrue(coordinator.waitFor("w1 (pid"), coordinator.output)

        // All three while the coordinator waits for its second worker.
        let intruder = try Spawned(["worker", "--connect", endpoint, "--name", "intruder", "--connect-timeout", "3"] + keys.client("stranger"))
        let plain = try Spawned(["status", "--connect", endpoint, "--timeout", "2"])
        let status = try largevae(["status", "--connect", endpoint] + keys.client("watcher"))
        XCTAssertEqual(status.status, 0, status.stdout)
        XCTAssertTrue(status.stdout.contains("w1") && !status.stdout.contains("intruder"), status.stdout)
        XCTAssertEqual(plain.finish(seconds: 30), 1)
        XCTAssertTrue(plain.output.contains("no coordinator answered") && plain.output.contains("--server-key"), plain.output)
        XCTAssertNotEqual(intruder.finish(seconds: 30), 0)
        XCTAssertTrue(intruder.output.contains("no coordinator answered") && intruder.output.contains("--allow"), intruder.output)
        XCTAssertTrue(coordinator.process.isRunning)
        let w2 = try Spawned(["worker", "--connect", endpoint, "--name", "w2"] + keys.client("w2"))

        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        for w in [w1, w2] { XCTAssertEqual(w.finish(seconds: 20), 0, w.output) }
        XCTAssertTrue(coordinator.output.contains("refused a CURVE client from 127.0.0.1 with key \(strangerKey)"), coordinator.output)
        XCTAssertFalse(coordinator.output.contains("intruder"), "the intruder's hello never reached the coordinator")
        XCTAssertEqual(try tensors(dir), try tensors(reference))
    }

    /// A fault drill: trains `vae/vampprior` for `epochs` in one process, then as a coordinator
    /// (with `flags`) that `drill` disturbs, and checks that both end with the same bits.
    /// `drill` gets the endpoint and the running coordinator.
    func faultDrill(_ name: String, epochs: Int, flags: [String], drill: (String, Spawned) throws -> Void) throws {
        let args = self.args("vae") + ["--epochs", String(epochs), "--train-limit", "400"]
        let reference = runDirectory("\(name)-reference"), dir = runDirectory(name)
        XCTAssertEqual(try largevae(["train"] + args + ["--threads", "1", "--run-dir", reference.path]).status, 0)
        let endpoint = "tcp://127.0.0.1:\(freePort())"
        let coordinator = try Spawned(["coordinator", "--bind", endpoint] + flags + args + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        try drill(endpoint, coordinator)
        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        XCTAssertEqual(try tensors(dir), try tensors(reference))
    }

    func worker(_ endpoint: String, _ name: String) throws -> Spawned {
        try Spawned(["worker", "--connect", endpoint, "--name", name])
    }

    /// A worker killed with SIGKILL mid-run is declared lost after the worker timeout, its units go
    /// to the other worker, and the run ends with the same bits as one process.
    func testKilledWorker_UnitsReissued_ResultUnchanged() throws {
        try faultDrill("kill", epochs: 12, flags: ["--min-workers", "2", "--worker-timeout", "1", "--heartbeat-ms", "100"]) { endpoint, coordinator in
            let workers = try (0..<2).map { try worker(endpoint, "w\($0)") }
            XCTAssertTrue(coordinator.waitFor("epoch 2 "), coordinator.output)
            kill(workers[0].process.processIdentifier, SIGKILL)
            XCTAssertTrue(coordinator.waitFor("lost worker w0"), coordinator.output)
            XCTAssertEqual(workers[1].finish(seconds: 60), 0, workers[1].output)
        }
    }

    /// A worker paused with SIGSTOP past the unit deadline has its units issued to the other
    /// worker; resumed, its late results are dropped. The run ends with the same bits.
    func testPausedWorker_UnitsReissued_ResultUnchanged() throws {
        try faultDrill("pause", epochs: 12, flags: ["--min-workers", "2", "--unit-deadline", "0.5", "--worker-timeout", "30"]) { endpoint, coordinator in
            let workers = try (0..<2).map { try worker(endpoint, "w\($0)") }
            XCTAssertTrue(coordinator.waitFor("epoch 2 "), coordinator.output)
            kill(workers[0].process.processIdentifier, SIGSTOP)
            XCTAssertTrue(coordinator.waitFor("is overdue"), coordinator.output)
            usleep(1_500_000)
            kill(workers[0].process.processIdentifier, SIGCONT)
            for w in workers { XCTAssertEqual(w.finish(seconds: 60), 0, w.output) }
        }
    }

    /// A worker that sends NaN in every 5th result: each such result is discarded and the unit
    /// computed again by the other worker, which clears it, so the sender is quarantined (refused,
    /// exit 1). Alone, a worker's NaN unit is computed again by itself. The result is unchanged.
    func testNonFiniteResults_RecomputedAndSenderQuarantined() throws {
        try faultDrill("nan", epochs: 4, flags: ["--min-workers", "2"]) { endpoint, coordinator in
            let bad = try Spawned(["worker", "--connect", endpoint, "--name", "bad", "--inject-nan-every", "5"])
            let good = try worker(endpoint, "good")
            XCTAssertNotEqual(bad.finish(seconds: 120), 0, bad.output)
            XCTAssertTrue(bad.output.contains("quarantined"), bad.output)
            XCTAssertEqual(good.finish(seconds: 120), 0, good.output)
            XCTAssertTrue(coordinator.output.contains("bad sent NaN or infinity"), coordinator.output)
            XCTAssertTrue(coordinator.output.contains("worker bad (pid"), coordinator.output)
        }
        try faultDrill("nan-alone", epochs: 2, flags: []) { endpoint, coordinator in
            let alone = try Spawned(["worker", "--connect", endpoint, "--name", "alone", "--inject-nan-every", "4"])
            XCTAssertEqual(alone.finish(seconds: 120), 0, alone.output)
            XCTAssertTrue(coordinator.output.contains("computing the unit again"), coordinator.output)
            XCTAssertFalse(coordinator.output.contains("quarantined"), coordinator.output)
        }
    }

    /// A model that really diverges (learning rate 1e30): every unit is non-finite from any
    /// worker, so after one recomputation the step fails cleanly, as in one process.
    func testDivergedModel_FailsCleanlyWithWorkers() throws {
        let r = try largevae(["train"] + args("vae") + ["--lr", "1e30", "--epochs", "3", "--workers", "2",
                                                        "--run-dir", runDirectory("diverged").path])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stdout.contains("not finite") && r.stdout.contains("last.safetensors"), r.stdout)
        XCTAssertFalse(r.stdout.contains("quarantined"), "an honest worker was quarantined: \(r.stdout)")
    }

    /// Every worker killed: the coordinator says it is waiting, and goes on when a new worker
    /// joins; the result is unchanged.
    func testAllWorkersLost_CoordinatorWaitsForANewOne() throws {
        try faultDrill("orphan", epochs: 6, flags: ["--worker-timeout", "1", "--heartbeat-ms", "100"]) { endpoint, coordinator in
            let first = try worker(endpoint, "first")
            XCTAssertTrue(coordinator.waitFor("epoch 1 "), coordinator.output)
            kill(first.process.processIdentifier, SIGKILL)
            XCTAssertTrue(coordinator.waitFor("no workers: waiting"), coordinator.output)
            XCTAssertEqual(try worker(endpoint, "second").finish(seconds: 60), 0)
        }
    }

    /// A worker whose coordinator is killed notices the silence, tries to join again for its
    /// connect timeout, and exits with a message, instead of blocking on a full send queue.
    func testCoordinatorKilled_WorkerGivesUp() throws {
        let endpoint = "tcp://127.0.0.1:\(freePort())"
        let coordinator = try Spawned(["coordinator", "--bind", endpoint, "--heartbeat-ms", "100", "--worker-timeout", "5"]
                                      + args("vae") + ["--epochs", "50", "--run-dir", runDirectory("dead").path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        let w = try Spawned(["worker", "--connect", endpoint, "--name", "orphan", "--connect-timeout", "2"])
        XCTAssertTrue(coordinator.waitFor("epoch 1 "), coordinator.output)
        kill(coordinator.process.processIdentifier, SIGKILL)
        let start = Date()
        XCTAssertNotEqual(w.finish(seconds: 30), 0)
        XCTAssertLessThan(Date().timeIntervalSince(start), 20, "the worker gave up in bounded time")
        XCTAssertTrue(w.output.contains("no coordinator answered"), w.output)
    }

    /// A coordinator killed with SIGKILL mid-epoch and started again with `--resume` on the same
    /// endpoint: the two workers notice the silence, join the new coordinator by themselves, and
    /// the run ends with the same bits as one process (checkpoints every 3 steps; the steps
    /// after the last one are replayed exactly).
    func testCoordinatorKilled_ResumesAndWorkersRejoin_ResultUnchanged() throws {
        let args = self.args("vae") + ["--epochs", "8", "--train-limit", "400"]
        let reference = runDirectory("resume-reference"), dir = runDirectory("resume")
        XCTAssertEqual(try largevae(["train"] + args + ["--threads", "1", "--run-dir", reference.path]).status, 0)
        let endpoint = "ipc://" + CLITests.work.appendingPathComponent("coordinator-\(getpid()).sock").path
        let flags = ["--bind", endpoint, "--min-workers", "2", "--heartbeat-ms", "100", "--worker-timeout", "2"]
        let first = try Spawned(["coordinator"] + flags + args + ["--checkpoint-steps", "3", "--run-dir", dir.path])
        defer { if first.process.isRunning { first.process.terminate() } }
        let workers = try (0..<2).map { try Spawned(["worker", "--connect", endpoint, "--name", "w\($0)", "--connect-timeout", "60"]) }
        defer { for w in workers where w.process.isRunning { w.process.terminate() } }
        XCTAssertTrue(first.waitFor("epoch 2 "), first.output)
        usleep(150_000)
        kill(first.process.processIdentifier, SIGKILL)
        first.finish()
        let second = try Spawned(["coordinator"] + flags + ["--resume", dir.path])
        defer { if second.process.isRunning { second.process.terminate() } }
        XCTAssertEqual(second.finish(seconds: 180), 0, second.output)
        XCTAssertTrue(second.output.contains("resuming"), second.output)
        for w in workers {
            XCTAssertEqual(w.finish(seconds: 30), 0, w.output)
            XCTAssertTrue(w.output.contains("joining again"), w.output)
        }
        XCTAssertEqual(try tensors(dir), try tensors(reference))
        XCTAssertEqual(try tensors(dir, "best.safetensors"), try tensors(reference, "best.safetensors"))
        XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("test.json")),
                       try Data(contentsOf: reference.appendingPathComponent("test.json")))
    }

    /// SIGTERM to a coordinator whose workers were just killed mid-step (what a launcher's Ctrl-C
    /// does): it gives the step up at once instead of waiting for a worker, saves the state of the
    /// last completed step, exits 130, and `--resume` with a new worker ends on the bits of an
    /// uninterrupted run.
    func testStopWithWorkersGone_GivesTheStepUpAndResumes() throws {
        let args = self.args("vae") + ["--epochs", "6", "--train-limit", "400"]
        let reference = runDirectory("stop-reference"), dir = runDirectory("stop")
        XCTAssertEqual(try largevae(["train"] + args + ["--threads", "1", "--run-dir", reference.path]).status, 0)
        let endpoint = "tcp://127.0.0.1:\(freePort())"
        let first = try Spawned(["coordinator", "--bind", endpoint, "--min-workers", "2"] + args + ["--run-dir", dir.path])
        defer { if first.process.isRunning { first.process.terminate() } }
        let workers = try (0..<2).map { try worker(endpoint, "w\($0)") }
        XCTAssertTrue(first.waitFor("epoch 2 "), first.output)
        for w in workers { kill(w.process.processIdentifier, SIGKILL); w.finish() }
        kill(first.process.processIdentifier, SIGTERM)
        let start = Date()
        XCTAssertEqual(first.finish(seconds: 30), 130, first.output)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "the coordinator waited for its dead workers")
        XCTAssertTrue(first.output.contains("stopped on request"), first.output)
        let second = try Spawned(["coordinator", "--bind", endpoint, "--resume", dir.path])
        defer { if second.process.isRunning { second.process.terminate() } }
        let third = try worker(endpoint, "w2")
        XCTAssertEqual(second.finish(seconds: 180), 0, second.output)
        XCTAssertEqual(third.finish(seconds: 30), 0, third.output)
        XCTAssertEqual(try tensors(dir), try tensors(reference))
        XCTAssertEqual(try tensors(dir, "best.safetensors"), try tensors(reference, "best.safetensors"))
    }

    /// Joins as a worker (so it has the run id), never asks for work, and sends `count`
    /// malformed messages: random bytes, bad checksums, wrong run ids, unknown types, results for
    /// units that do not exist or of the wrong size, truncated frames, extra frames. Returns how
    /// many it sent.
    func sendJunk(_ endpoint: String, count: Int) throws -> Int {
        let socket = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
        try socket.connect(endpoint)
        let hello = #"{"blasThreads":1,"engine":"largevae-engine/1 units/2 float32","name":"junk","pid":1}"#
        try socket.send([.bytes(WireMessage(header: WireHeader(type: .hello, runID: 0, step: 0), payload: Array(hello.utf8)).header.encoded()),
                         .bytes(Array(hello.utf8))])
        var runID: UInt64?
        let deadline = Date().addingTimeInterval(20)
        while runID == nil && Date() < deadline {
            guard let frames = try socket.receive(timeout: .seconds(1)), frames.count == 2,
                  let h = try? WireHeader.decode(frames[0].bytes), h.type == .welcome else { continue }
            runID = h.runID
        }
        guard let runID else { return 0 }
        var rng = SystemRandomNumberGenerator()
        for i in 0..<count {
            let payload = (0..<Int.random(in: 0..<512, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var header = WireHeader(type: .result, runID: runID, step: UInt64.random(in: 0...1000, using: &rng),
                                    unitID: UInt32.random(in: 0...100, using: &rng))
            switch i % 6 {
            case 0: try socket.send([.bytes(payload)])                                              // not our protocol
            case 1: try socket.send(WireMessage(header: header, payload: payload).frames)           // wrong sizes / unknown units
            case 2:
                var bytes = WireMessage(header: header, payload: payload).header.encoded()
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 0x10                          // bad header CRC
                try socket.send([.bytes(bytes), .bytes(payload)])
            case 3:
                header.runID = runID &+ 1                                                            // another run
                try socket.send(WireMessage(header: header, payload: payload).frames)
            case 4:
                header.type = [.parameters, .work, .welcome, .refuse][i % 4]                          // types a worker never sends
                try socket.send(WireMessage(header: header, payload: payload).frames)
            default:
                let m = WireMessage(header: header, payload: payload)
                try socket.send([.bytes(m.header.encoded()), .bytes(Array(payload.dropLast())), .bytes([1, 2, 3])])   // truncated, extra frame
            }
        }
        return count
    }

    /// Sends a hello with protocol version 2 from a raw dealer and returns the refusal's text.
    func foreignVersionHello(_ endpoint: String) throws -> String {
        let socket = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
        try socket.connect(endpoint)
        var header = WireHeader(type: .hello, runID: 0, step: 0).encoded()
        header[4] = 2   // version 2, header CRC recomputed so only the version is wrong
        let crc = CRC32C.checksum(Array(header[0..<52]))
        for i in 0..<4 { header[52 + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
        try socket.send([.bytes(header), .bytes([])])
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            guard let frames = try socket.receive(timeout: .seconds(1)), frames.count == 2,
                  let h = try? WireHeader.decode(frames[0].bytes), h.type == .refuse else { continue }
            return String(decoding: frames[1].bytes, as: UTF8.self)
        }
        return "(no refusal)"
    }
}
