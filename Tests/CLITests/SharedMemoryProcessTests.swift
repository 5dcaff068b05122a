import XCTest
import Foundation
import Transport

/// Worker processes on the coordinator's host exchange parameters and results through
/// `/dev/shm`; the bits are those of one process, whichever path each worker takes.
extension ClusterProcessTests {
    /// The run id a coordinator printed ("… (run 1a2b…, wire fp32)").
    func runID(in output: String) -> String? {
        guard let r = output.range(of: "(run ") else { return nil }
        return String(output[r.upperBound...].prefix { $0.isHexDigit })
    }

    /// A coordinator bound to a port the system picks (a random port may be taken on a busy
    /// host), and the endpoint it printed.
    func coordinatorOnAnyPort(_ arguments: [String]) throws -> (Spawned, String) {
        let coordinator = try Spawned(["coordinator", "--bind", "tcp://127.0.0.1:*"] + arguments)
        guard coordinator.waitFor("listening on "), let r = coordinator.output.range(of: "listening on ") else {
            coordinator.process.terminate()
            throw XCTSkip("the coordinator did not start: \(coordinator.output)")
        }
        return (coordinator, String(coordinator.output[r.upperBound...].prefix { !$0.isWhitespace }))
    }

    func segments(ofRun id: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: SharedSegment.directory)) ?? []).filter { $0.hasPrefix("largevae-\(id)") }
    }

    /// `train --workers N` for N = 1, 2, 3: every local worker takes the shared-memory path, the
    /// weights, best model and test report are the bits of `--threads 1`, and no segment is left.
    func testSharedMemoryWorkerProcesses_BitIdentical_SegmentsRemoved() throws {
        let local = runDirectory("shm-local")
        XCTAssertEqual(try largevae(["train"] + args("vae") + ["--threads", "1", "--run-dir", local.path]).status, 0)
        for n in 1...3 {
            let dir = runDirectory("shm-workers-\(n)")
            let r = try largevae(["train"] + args("vae") + ["--workers", String(n), "--run-dir", dir.path])
            XCTAssertEqual(r.status, 0, r.stdout)
            XCTAssertEqual(r.stdout.components(separatedBy: "exchanges parameters and results through shared memory").count - 1, n, r.stdout)
            XCTAssertEqual(try tensors(dir), try tensors(local), "\(n) shared-memory worker processes")
            XCTAssertEqual(try tensors(dir, "best.safetensors"), try tensors(local, "best.safetensors"))
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("test.json")), try Data(contentsOf: local.appendingPathComponent("test.json")))
            let id = try XCTUnwrap(runID(in: r.stdout), r.stdout)
            XCTAssertEqual(segments(ofRun: id), [], "segments of run \(id) left in \(SharedSegment.directory)")
        }
    }

    /// One worker on the shared-memory path (polling for its messages, `--poll-ms`) and one told
    /// `--no-shared-memory`, then a coordinator told `--no-shared-memory`: the same bits as one
    /// process either way.
    func testMixedSharedMemoryAndSocketWorkerProcesses_BitIdentical() throws {
        let local = runDirectory("mixed-local")
        XCTAssertEqual(try largevae(["train"] + args("hvae") + ["--threads", "1", "--run-dir", local.path]).status, 0)
        let dir = runDirectory("mixed")
        let (coordinator, endpoint) = try coordinatorOnAnyPort(["--min-workers", "2"] + args("hvae") + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        let workers = [try Spawned(["worker", "--connect", endpoint, "--name", "shared", "--poll-ms", "20"]),
                       try Spawned(["worker", "--connect", endpoint, "--name", "socket", "--no-shared-memory"])]
        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        for w in workers { XCTAssertEqual(w.finish(seconds: 20), 0, w.output) }
        XCTAssertTrue(coordinator.output.contains("worker shared exchanges parameters and results through shared memory"), coordinator.output)
        XCTAssertFalse(coordinator.output.contains("worker socket exchanges"), coordinator.output)
        XCTAssertEqual(try tensors(dir), try tensors(local))
        XCTAssertEqual(segments(ofRun: try XCTUnwrap(runID(in: coordinator.output))), [])

        let off = runDirectory("mixed-off")
        let r = try largevae(["train"] + args("hvae") + ["--workers", "2", "--no-shared-memory", "--run-dir", off.path])
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertFalse(r.stdout.contains("shared memory"), r.stdout)
        XCTAssertEqual(try tensors(off), try tensors(local))
    }

    /// A coordinator with one shared-memory worker (2 s of patience: 20 heartbeats of 100 ms),
    /// killed with SIGKILL once training runs. Its parameter segment is left (its arena lost its
    /// name when the worker mapped it). Returns the worker and the run id.
    func killedCoordinatorWithOrphan(_ name: String) throws -> (worker: Spawned, id: String) {
        let (first, endpoint) = try coordinatorOnAnyPort(["--heartbeat-ms", "100", "--worker-timeout", "5"]
                                                         + args("vae") + ["--epochs", "50", "--run-dir", runDirectory(name).path])
        defer { if first.process.isRunning { first.process.terminate() } }
        let worker = try Spawned(["worker", "--connect", endpoint, "--name", "orphan", "--connect-timeout", "2"])
        XCTAssertTrue(first.waitFor("epoch 1 "), first.output)
        XCTAssertTrue(first.output.contains("worker orphan exchanges parameters and results through shared memory"), first.output)
        let id: String
        do { id = try XCTUnwrap(runID(in: first.output), first.output) } catch { worker.process.terminate(); throw error }
        XCTAssertEqual(segments(ofRun: id), ["largevae-\(id)-\(first.process.processIdentifier)-parameters"])
        kill(first.process.processIdentifier, SIGKILL)
        first.finish()
        return (worker, id)
    }

    /// SIGINT while the coordinator waits for its second worker, the first already on the
    /// shared-memory path: it stops with exit 130, tells that worker the run is over, and leaves no
    /// segment (before, a signal in that wait ended the process before it could remove it).
    func testSharedMemory_InterruptedWhileWaitingForWorkers_SegmentRemoved() throws {
        let (coordinator, endpoint) = try coordinatorOnAnyPort(["--min-workers", "2"] + args("vae")
                                                               + ["--run-dir", runDirectory("shm-wait-interrupted").path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        let worker = try Spawned(["worker", "--connect", endpoint, "--name", "early"])
        defer { if worker.process.isRunning { worker.process.terminate() } }
        XCTAssertTrue(coordinator.waitFor("worker early exchanges parameters and results through shared memory"), coordinator.output)
        let id = try XCTUnwrap(runID(in: coordinator.output), coordinator.output)
        XCTAssertEqual(segments(ofRun: id).count, 1)
        kill(coordinator.process.processIdentifier, SIGINT)
        XCTAssertEqual(coordinator.finish(seconds: 30), 130, coordinator.output)
        XCTAssertEqual(segments(ofRun: id), [])
        XCTAssertEqual(worker.finish(seconds: 30), 0, worker.output)
    }

    /// The names in `/dev/shm` and the temporary directory that carry process `pid`'s id: its
    /// shared-memory segments and its private directories.
    func names(ofProcess pid: Int32) -> [String] {
        let temporary = FileManager.default.temporaryDirectory.path
        return [SharedSegment.directory, temporary].flatMap { directory in
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasPrefix("largevae-") && $0.contains("-\(pid)-") }.map { "\(directory)/\($0)" }
        }
    }

    /// `largevae ARGUMENTS` started, once its output shows `ready`, and the two local worker
    /// processes it has started by then; the caller stops them all with `stop`.
    func startedWithTwoWorkers(_ arguments: [String], readyAt ready: String) throws -> (Spawned, [Int32]) {
        let spawned = try Spawned(arguments)
        XCTAssertTrue(spawned.waitFor(ready), spawned.output)
        let workers = (try? childProcesses(of: spawned.process.processIdentifier)) ?? []
        XCTAssertEqual(workers.count, 2, spawned.output)
        return (spawned, workers)
    }

    /// A test's clean-up, whatever failed: kills `workers`, then ends `spawned` if it still runs.
    func stop(_ spawned: Spawned, _ workers: [Int32]) {
        for w in workers { kill(w, SIGKILL) }
        if spawned.process.isRunning { spawned.process.terminate() }
    }

    /// A second stop signal while the first stop still runs (it waits for the local workers to
    /// exit, and they are stopped with SIGSTOP here): the process quits at once with status 130,
    /// and on the way out removes its shared-memory segment and its private socket directory,
    /// which outlived it before.
    func testSecondSignal_QuitsAtOnce_LeavesNoSegmentOrDirectory() throws {
        let (train, workers) = try startedWithTwoWorkers(["train"] + args("vae") + ["--workers", "2", "--epochs", "500",
                                                                                   "--run-dir", runDirectory("second-signal").path],
                                                         readyAt: "epoch 1 ")
        defer { stop(train, workers) }
        let pid = train.process.processIdentifier
        for w in workers { kill(w, SIGSTOP) }
        let left = names(ofProcess: pid)
        XCTAssertTrue(left.contains { $0.hasPrefix(SharedSegment.directory) }, "\(left)")
        XCTAssertTrue(left.contains { $0.contains("largevae-socket-") }, "\(left)")
        kill(pid, SIGINT)
        XCTAssertTrue(train.waitFor("stopping:"), train.output)
        usleep(300_000)
        XCTAssertTrue(train.process.isRunning, "the first stop waits for the stopped workers: \(train.output)")
        kill(pid, SIGTERM)
        XCTAssertEqual(train.finish(seconds: 5), 130, train.output)
        XCTAssertEqual(names(ofProcess: pid), [])
    }

    /// A signal ends `bench --workers 2` at once with status 130, and with it its worker
    /// processes, its shared-memory segment and its private socket directory (before, the
    /// benchmark died on the signal's default action, and its workers stayed until they gave up
    /// on the silent coordinator: still there 16 s later, gone by 36 s).
    func testBenchWithWorkers_Interrupted_StopsItsWorkersAndLeavesNoNames() throws {
        for signal in [SIGINT, SIGTERM] {
            let (bench, workers) = try startedWithTwoWorkers(["bench", "--workers", "2", "--models", "vae/vampprior", "--runs", "100", "--steps", "100"],
                                                             readyAt: "worker local-1 exchanges parameters and results through shared memory")
            defer { stop(bench, workers) }
            let pid = bench.process.processIdentifier
            XCTAssertFalse(names(ofProcess: pid).isEmpty)
            kill(pid, signal)
            XCTAssertEqual(bench.finish(seconds: 5), 130, bench.output)
            XCTAssertEqual(names(ofProcess: pid), [], "signal \(signal)")
            let deadline = Date().addingTimeInterval(5)
            while workers.contains(where: { kill($0, 0) == 0 }) && Date() < deadline { usleep(20_000) }
            XCTAssertFalse(workers.contains { kill($0, 0) == 0 }, "signal \(signal): the workers outlived the benchmark")
        }
    }

    /// A worker that notices its killed coordinator's silence removes the segment it left, as its
    /// creator is gone.
    func testSharedMemory_KilledCoordinatorsSegmentRemovedByItsWorker() throws {
        let (worker, id) = try killedCoordinatorWithOrphan("shm-killed-w")
        defer { if worker.process.isRunning { worker.process.terminate() } }
        XCTAssertNotEqual(worker.finish(seconds: 30), 0, "it gives up on its connect timeout")
        XCTAssertTrue(worker.output.contains("removed 1 shared-memory segment(s)") && worker.output.contains("largevae-\(id)-"), worker.output)
        XCTAssertEqual(segments(ofRun: id), [])
    }

    /// The same with the worker killed too, before it notices: the next coordinator on the host
    /// removes the segment, as its creator is gone, and trains with the bits of one process.
    func testSharedMemory_KilledCoordinatorsSegmentRemovedByTheNext() throws {
        let (worker, id) = try killedCoordinatorWithOrphan("shm-killed")
        kill(worker.process.processIdentifier, SIGKILL)   // within its 2 s of patience
        worker.finish(seconds: 30)
        XCTAssertEqual(segments(ofRun: id).count, 1, "a killed coordinator cannot remove its segment")

        let local = runDirectory("shm-next-local"), next = runDirectory("shm-next")
        XCTAssertEqual(try largevae(["train"] + args("vae") + ["--threads", "1", "--run-dir", local.path]).status, 0)
        let r = try largevae(["train"] + args("vae") + ["--workers", "1", "--run-dir", next.path])
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stdout.contains("removed") && r.stdout.contains("largevae-\(id)-"), r.stdout)
        XCTAssertEqual(segments(ofRun: id), [])
        XCTAssertEqual(try tensors(next), try tensors(local))
    }

    /// A run that begins with a socket worker only (so versions go into socket messages alone),
    /// joined partway by a worker on the shared-memory path: the shared region is filled from the
    /// socket message when that worker first needs a version. The bits are those of one process.
    func testSharedMemoryWorkerJoiningASocketOnlyRun_BitIdentical() throws {
        let args = self.args("vae") + ["--epochs", "12", "--train-limit", "400"]
        let local = runDirectory("shm-late-local"), dir = runDirectory("shm-late")
        XCTAssertEqual(try largevae(["train"] + args + ["--threads", "1", "--run-dir", local.path]).status, 0)
        let (coordinator, endpoint) = try coordinatorOnAnyPort(args + ["--run-dir", dir.path])
        defer { if coordinator.process.isRunning { coordinator.process.terminate() } }
        let first = try Spawned(["worker", "--connect", endpoint, "--name", "socket", "--no-shared-memory"])
        XCTAssertTrue(coordinator.waitFor("epoch 2 "), coordinator.output)
        let late = try Spawned(["worker", "--connect", endpoint, "--name", "late"])
        XCTAssertTrue(coordinator.waitFor("worker late exchanges parameters and results through shared memory"), coordinator.output)
        XCTAssertEqual(coordinator.finish(), 0, coordinator.output)
        for w in [first, late] { XCTAssertEqual(w.finish(seconds: 20), 0, w.output) }
        XCTAssertFalse(late.output.contains("; 0 units computed"), late.output)
        XCTAssertFalse(late.output.contains("dropped"), late.output)
        XCTAssertEqual(try tensors(dir), try tensors(local))
    }
}
