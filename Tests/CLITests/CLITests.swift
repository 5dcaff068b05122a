import XCTest
import Foundation
import Artifacts
import Datasets
import TestSupport

/// End-to-end runs of the real `largevae` executable on a real-format Frey Faces file that the
/// tests write themselves (random pixels, the real IDX layout: 1965 × 28 × 20).
final class CLITests: XCTestCase {
    static let work = FileManager.default.temporaryDirectory.appendingPathComponent("largevae-cli-\(getpid())")
    static var dataDirectory: URL { work.appendingPathComponent("data") }

    /// `largevae` beside the test bundle in the build directory.
    static var executable: URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.lastPathComponent.hasSuffix(".xctest") { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("largevae")
    }

    override class func setUp() {
        super.setUp()
        makeFixtures()
    }

    /// Removes `work` when the test process exits: every class of this bundle writes there (and
    /// makes the fixtures again in its own `setUp`), so no class's tear-down is the last.
    static let removeWorkAtExit: Void = { atexit { try? FileManager.default.removeItem(at: CLITests.work) } }()

    /// The random Frey Faces file, written once per process.
    static func makeFixtures() {
        _ = removeWorkAtExit
        let frey = dataDirectory.appendingPathComponent("frey")
        try? FileManager.default.createDirectory(at: frey, withIntermediateDirectories: true)
        var bytes: [UInt8] = [0, 0, 8, 3]
        for d in [1965, 28, 20] { bytes += [0, 0, UInt8(d >> 8), UInt8(d & 255)] }
        var rng = FixtureRandom(seed: 1)
        for i in 0..<(1965 * 560) { bytes.append(UInt8(truncatingIfNeeded: 40 + (i % 20) * 8 + Int(rng.uniform(0, 40)))) }
        let file = frey.appendingPathComponent("frey-faces-idx3-ubyte")
        if !FileManager.default.fileExists(atPath: file.path) { try? Data(bytes).write(to: file) }
    }

    struct Result { let status: Int32; let stdout: String; let stderr: String }

    @discardableResult
    func largevae(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Result {
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["LARGEVAE_DATA"] = Self.dataDirectory.path
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    /// A small model so that a run takes seconds.
    let small = ["--dataset", "frey", "--hidden", "24", "--latent", "4", "--components", "12", "--warmup", "1",
                 "--importance-samples", "20", "--test-limit", "16", "--threads", "2"]

    func runDirectory(_ name: String) -> URL { Self.work.appendingPathComponent(name) }

    func testTrain_LeavesEveryArtifact() throws {
        let dir = runDirectory("full")
        let r = try largevae(["train"] + small + ["--epochs", "2", "--run-dir", dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        for file in ["config.json", "metrics.jsonl", "metrics.csv", "last.safetensors", "best.safetensors", "test.json",
                     "reconstructions.png", "samples.png", "pseudo_inputs.png", "loss.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir.appendingPathComponent(file).path), "missing \(file)")
        }
        let metrics = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").count, 2)
        let samples = try PNGReader.read(from: dir.appendingPathComponent("samples.png"))
        XCTAssertEqual(samples.width, 8 * 40 + 7)
        XCTAssertTrue(r.stdout.contains("run directory: \(dir.path)"))
        try checkWithPython(dir)
    }

    /// The checkpoint loads with Python's safetensors and numpy, with equal values; TensorBoard's
    /// EventAccumulator reads the scalars and images.
    func checkWithPython(_ dir: URL) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("inspect_run.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, dir.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        if process.terminationStatus == 3 { throw XCTSkip("python3 lacks safetensors/numpy/tensorboard: run cluster/setup.sh") }
        XCTAssertEqual(process.terminationStatus, 0)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let checkpoint = try XCTUnwrap(json["checkpoint"] as? [String: [String: Any]])
        let swift = try SafeTensors.read(from: dir.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(Set(checkpoint.keys), Set(swift.tensors.keys))
        for (name, tensor) in swift.tensors {
            var sha = SHA256()
            sha.update(tensor.bytes)
            let hex = sha.finalize().map { String(format: "%02x", $0) }.joined()
            XCTAssertEqual(checkpoint[name]?["sha256"] as? String, hex, name)
            XCTAssertEqual(checkpoint[name]?["shape"] as? [Int], tensor.shape, name)
        }
        XCTAssertTrue(checkpoint.keys.contains("prior.pseudo_inputs"))
        let metadata = try XCTUnwrap(json["metadata"] as? [String: String])
        XCTAssertEqual(metadata["epoch"], "2")
        let scalars = try XCTUnwrap(json["scalars"] as? [String: [Int]])
        XCTAssertEqual(scalars["train/loss"], [1, 2])
        XCTAssertEqual(scalars["validation/elbo"], [1, 2])
        let images = try XCTUnwrap(json["images"] as? [String: [[Int]]])
        XCTAssertNotNil(images["samples"])
        XCTAssertNotNil(images["reconstructions"])
    }

    /// Two epochs straight, or one and a resume for one more: the same final parameters.
    func testTrain_ResumeContinuesExactly() throws {
        let straight = runDirectory("straight"), resumed = runDirectory("resumed")
        XCTAssertEqual(try largevae(["train"] + small + ["--epochs", "2", "--run-dir", straight.path]).status, 0)
        XCTAssertEqual(try largevae(["train"] + small + ["--epochs", "1", "--run-dir", resumed.path]).status, 0)
        let r = try largevae(["train", "--resume", resumed.path, "--epochs", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let a = try SafeTensors.read(from: straight.appendingPathComponent("last.safetensors"))
        let b = try SafeTensors.read(from: resumed.appendingPathComponent("last.safetensors"))
        let different = a.tensors.filter { b.tensors[$0.key]?.bytes != $0.value.bytes }.map(\.key)
        XCTAssertEqual(different, [], "tensors that differ after resume")
    }

    /// A run killed with SIGKILL at an arbitrary moment, with a checkpoint every 2 steps, then
    /// resumed: it takes up the epoch at the saved step and ends with the same bits.
    func testTrain_KilledMidEpochResumesExactly() throws {
        let args = small + ["--epochs", "3", "--batch-size", "20", "--train-limit", "400"]
        let straight = runDirectory("kill-straight"), killed = runDirectory("kill-resumed")
        XCTAssertEqual(try largevae(["train"] + args + ["--run-dir", straight.path]).status, 0)
        let p = try Spawned(["train"] + args + ["--checkpoint-steps", "2", "--run-dir", killed.path])
        let last = killed.appendingPathComponent("last.safetensors")
        let deadline = Date().addingTimeInterval(60)
        var cursor = (epoch: 0, step: 0)
        while Date() < deadline && p.process.isRunning && !(cursor.epoch >= 1 && cursor.step > 0) {
            if let f = try? SafeTensors.read(from: last) {
                cursor = (Int(f.metadata["epoch"] ?? "") ?? 0, Int(f.metadata["step_in_epoch"] ?? "") ?? 0)
            }
            usleep(5_000)
        }
        kill(p.process.processIdentifier, SIGKILL)
        p.finish()
        XCTAssertGreaterThan(cursor.step, 0, "no mid-epoch checkpoint was seen before the kill")
        let r = try largevae(["train", "--resume", killed.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("resuming at step"), r.stdout + r.stderr)
        try assertSameTensors(straight, killed)
        let epochs = try String(contentsOf: killed.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").compactMap { try? JSONDecoder().decode(EpochLine.self, from: Data($0.utf8)).epoch }
        XCTAssertEqual(epochs, [1, 2, 3], "each epoch once in metrics.jsonl")
    }

    /// SIGINT stops a run after its current step with the state saved (exit 130); the resumed
    /// run ends with the same bits, and its step log holds every global step exactly once.
    func testTrain_InterruptSavesAndResumesExactly() throws {
        let args = small + ["--epochs", "3", "--batch-size", "20", "--train-limit", "400", "--step-log"]
        let straight = runDirectory("int-straight"), stopped = runDirectory("int-stopped")
        XCTAssertEqual(try largevae(["train"] + args + ["--run-dir", straight.path]).status, 0)
        let p = try Spawned(["train"] + args + ["--run-dir", stopped.path])
        let log = stopped.appendingPathComponent("steps.csv")
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && p.process.isRunning && ((try? String(contentsOf: log, encoding: .utf8))?.count ?? 0) < 400 { usleep(2_000) }
        kill(p.process.processIdentifier, SIGINT)
        XCTAssertEqual(p.finish(), 130, p.output)
        XCTAssertTrue(p.output.contains("stopped on request after step"), p.output)
        let r = try largevae(["train", "--resume", stopped.path, "--step-log"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try assertSameTensors(straight, stopped)
        let steps = try String(contentsOf: log, encoding: .utf8).split(separator: "\n").dropFirst().map { Int($0.prefix { $0 != "," })! }
        XCTAssertEqual(steps, Array(1...60), "global steps in steps.csv")
    }

    /// A damaged last.safetensors (one flipped bit, then a truncation) is caught by its checksum,
    /// and the resume uses previous.safetensors, saying so; the result is unchanged.
    func testTrain_DamagedCheckpointFallsBackToThePreviousOne() throws {
        let args = small + ["--train-limit", "300"]
        let straight = runDirectory("damage-straight")
        XCTAssertEqual(try largevae(["train"] + args + ["--epochs", "3", "--run-dir", straight.path]).status, 0)
        for damage in ["flip", "truncate"] {
            let dir = runDirectory("damage-\(damage)")
            XCTAssertEqual(try largevae(["train"] + args + ["--epochs", "2", "--run-dir", dir.path]).status, 0)
            let last = dir.appendingPathComponent("last.safetensors")
            var bytes = [UInt8](try Data(contentsOf: last))
            if damage == "flip" { bytes[bytes.count - 100] ^= 0x08 } else { bytes.removeLast(bytes.count / 3) }
            try Data(bytes).write(to: last)
            let r = try largevae(["train", "--resume", dir.path, "--epochs", "3"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let log = r.stdout + r.stderr
            XCTAssertTrue(log.contains("cannot resume from last.safetensors") && log.contains("using previous.safetensors"), log)
            XCTAssertTrue(log.contains(damage == "flip" ? "checksum" : "data section"), log)
            try assertSameTensors(straight, dir)
        }
        let both = runDirectory("damage-flip")
        try Data([1, 2, 3]).write(to: both.appendingPathComponent("last.safetensors"))
        try Data().write(to: both.appendingPathComponent("previous.safetensors"))
        let r = try largevae(["train", "--resume", both.path, "--epochs", "4"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("no usable checkpoint"), r.stderr)
    }

    private struct EpochLine: Decodable { let epoch: Int }

    func assertSameTensors(_ a: URL, _ b: URL, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try SafeTensors.read(from: a.appendingPathComponent("last.safetensors"))
        let y = try SafeTensors.read(from: b.appendingPathComponent("last.safetensors"))
        XCTAssertEqual(Set(x.tensors.keys), Set(y.tensors.keys), file: file, line: line)
        let different = x.tensors.filter { y.tensors[$0.key]?.bytes != $0.value.bytes }.map(\.key)
        XCTAssertEqual(different, [], "tensors that differ after resume", file: file, line: line)
        for name in ["best.safetensors", "test.json"] {
            XCTAssertEqual(try Data(contentsOf: a.appendingPathComponent(name)), try Data(contentsOf: b.appendingPathComponent(name)),
                           name, file: file, line: line)
        }
    }

    func testTrain_WrongFlagsAreRefused() throws {
        let cases: [([String], String)] = [
            (["--batch-size", "0"], "--batch-size must be at least 1"),
            (["--prior", "gaussian"], "gaussian"),
            (["--lr", "0"], "--lr must be a positive number"),
            (["--components", "5000", "--pseudo-inputs-from-data"], "more than the 1565 training images"),
            (["--likelihood", "bernoulli"], "grey pixels"),
        ]
        for (flags, message) in cases {
            let r = try largevae(["train"] + small + ["--epochs", "1", "--run-dir", runDirectory("bad").path] + flags)
            XCTAssertNotEqual(r.status, 0, "\(flags) was accepted")
            XCTAssertTrue((r.stderr + r.stdout).contains(message), "\(flags): \(r.stderr)")
        }
    }

    /// A coordinator's bad flags, its own and the training options it shares with `train`, are
    /// refused with exit 64 and the coordinator's usage line (it named a `largevae train
    /// coordinator` command that does not exist, while the options were a `train` command's).
    func testCoordinator_WrongFlagsShowItsOwnUsage() throws {
        let cases: [([String], String)] = [
            (["--bind", "foo"], "--bind takes tcp://HOST:PORT or ipc:///PATH"),
            (["--bind", "tcp://127.0.0.1:5555", "--workers", "2"], "--workers starts local workers"),
            (["--bind", "tcp://127.0.0.1:5555", "--resume", "x", "--dataset", "mnist"], "--resume continues a run"),
            (["--bind", "tcp://127.0.0.1:5555", "--batch-size", "0"], "--batch-size must be at least 1"),
        ]
        for (flags, message) in cases {
            let r = try largevae(["coordinator"] + flags)
            XCTAssertEqual(r.status, 64, "\(flags): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(flags): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("Usage: largevae coordinator "), "\(flags): \(r.stderr)")
        }
    }

    /// `bench --json`: one object per line with the keys other tools read (the issue's contract),
    /// and impossible flags refused with a sentence naming them, exit 64.
    func testBench_JSONLinesAndWrongFlags() throws {
        let r = try largevae(["bench", "--models", "vae/vampprior", "--threads", "1,2", "--runs", "1", "--steps", "1",
                              "--batch-size", "20", "--data-unit", "10", "--prior-unit", "250", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2, r.stdout)
        for (line, threads) in zip(lines, [1, 2]) {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
            XCTAssertEqual(object["model"] as? String, "vae")
            XCTAssertEqual(object["prior"] as? String, "vampprior")
            XCTAssertEqual(object["threads"] as? Int, threads)
            XCTAssertGreaterThan(object["samples_per_second"] as? Double ?? 0, 0)
            let fraction = object["roofline_fraction"] as? Double ?? -1
            XCTAssertTrue(fraction > 0 && fraction < 2, "roofline fraction \(fraction)")
        }
        let cases: [([String], String)] = [
            (["--ceiling"], "--ceiling goes with --workers"),
            (["--runs", "0"], "--runs and --steps must be at least 1"),
            (["--models", "vae/gaussian"], "gaussian"),
            (["--threads", "0"], "is not a thread count"),
            (["--workers", "1,abc"], "'abc' is not a worker count"),
            (["--simulate", "0"], "'0' is not a worker count"),
        ]
        for (flags, message) in cases {
            let bad = try largevae(["bench"] + flags)
            XCTAssertEqual(bad.status, 64, "\(flags): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains(message), "\(flags): \(bad.stderr)")
            XCTAssertTrue(bad.stderr.contains("Usage: largevae bench"), "\(flags): bench's own usage line: \(bad.stderr)")
        }
    }

    func testTrain_CorruptDataFileIsNamed() throws {
        let bad = Self.work.appendingPathComponent("bad-data/frey")
        try FileManager.default.createDirectory(at: bad, withIntermediateDirectories: true)
        let good = try Data(contentsOf: Self.dataDirectory.appendingPathComponent("frey/frey-faces-idx3-ubyte"))
        try good.prefix(5000).write(to: bad.appendingPathComponent("frey-faces-idx3-ubyte"))
        let r = try largevae(["train"] + small + ["--epochs", "1", "--data-dir", bad.deletingLastPathComponent().path,
                                                  "--run-dir", runDirectory("corrupt").path])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("frey-faces-idx3-ubyte"), r.stderr)
        XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
    }

    /// A learning rate that blows the parameters up: a clear error, exit 1, and a checkpoint
    /// from before the failure that still loads.
    func testTrain_NonFiniteLossStopsCleanly() throws {
        let dir = runDirectory("nan")
        let r = try largevae(["train"] + small + ["--epochs", "3", "--lr", "1e30", "--run-dir", dir.path])
        XCTAssertEqual(r.status, 1, r.stdout)
        XCTAssertTrue(r.stderr.contains("not finite"), r.stderr)
        XCTAssertTrue(r.stderr.contains("last.safetensors"), r.stderr)
        let file = try SafeTensors.read(from: dir.appendingPathComponent("last.safetensors"))
        for t in file.tensors.values where t.dtype == .f32 {
            t.bytes.withUnsafeBytes { raw in
                for i in 0..<(t.bytes.count / 4) {
                    XCTAssertTrue(Float(bitPattern: raw.load(fromByteOffset: 4 * i, as: UInt32.self)).isFinite)
                }
            }
        }
    }

    func testSampleReconstructEvaluate_OnATrainedRun() throws {
        let dir = runDirectory("tools")
        XCTAssertEqual(try largevae(["train"] + small + ["--epochs", "1", "--run-dir", dir.path]).status, 0)
        let png = Self.work.appendingPathComponent("s.png")
        XCTAssertEqual(try largevae(["sample", "--run", dir.path, "--count", "10", "--out", png.path]).status, 0)
        XCTAssertEqual(try PNGReader.read(from: png).height, 2 * 56 + 1)
        XCTAssertEqual(try largevae(["reconstruct", "--run", dir.path, "--count", "4", "--out", png.path]).status, 0)
        let e = try largevae(["evaluate", "--run", dir.path, "--importance-samples", "10", "--test-limit", "8"])
        XCTAssertEqual(e.status, 0, e.stderr)
        XCTAssertTrue(e.stdout.contains("bits/dim"))
        let missing = try largevae(["evaluate", "--run", Self.work.appendingPathComponent("nowhere").path])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("config.json"), missing.stderr)
    }

    /// A config file may give any subset of config.json; flags override it; a typo is named.
    func testTrain_ConfigFile() throws {
        let config = Self.work.appendingPathComponent("partial.json")
        try Data(#"{"dataset": "frey", "model": {"hiddenSize": 24, "latentSize": 4, "components": 12}, "training": {"warmupEpochs": 1, "importanceSamples": 10, "testLimit": 8}}"#.utf8).write(to: config)
        let dir = runDirectory("configured")
        let r = try largevae(["train", "--config", config.path, "--epochs", "1", "--run-dir", dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let written = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as? [String: Any])
        let model = try XCTUnwrap(written["model"] as? [String: Any]), training = try XCTUnwrap(written["training"] as? [String: Any])
        XCTAssertEqual(model["hiddenSize"] as? Int, 24)
        XCTAssertEqual(model["likelihood"] as? String, "logistic256")   // by dataset, since the file did not say
        XCTAssertEqual(training["epochs"] as? Int, 1)                   // the flag
        XCTAssertEqual(training["batchSize"] as? Int, 100)              // the default
        XCTAssertNotNil(written["version"])
        try Data(#"{"training": {"epoch": 3}}"#.utf8).write(to: config)
        let bad = try largevae(["train", "--config", config.path, "--run-dir", runDirectory("typo").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("unknown key 'training.epoch'"), bad.stderr)
    }

    /// MNIST in the real IDX layout (10,010 training and 20 test images of random grey levels),
    /// trained with dynamic binarisation: pixels resampled per epoch by key.
    func testTrain_MNISTWithDynamicBinarization() throws {
        let mnist = Self.dataDirectory.appendingPathComponent("mnist")
        try FileManager.default.createDirectory(at: mnist, withIntermediateDirectories: true)
        var rng = FixtureRandom(seed: 3)
        for (file, count) in [("train-images-idx3-ubyte", 10_010), ("t10k-images-idx3-ubyte", 20)] {
            var bytes: [UInt8] = [0, 0, 8, 3]
            for d in [count, 28, 28] { bytes += [UInt8(d >> 24), UInt8((d >> 16) & 255), UInt8((d >> 8) & 255), UInt8(d & 255)] }
            bytes += (0..<(count * 784)).map { _ in UInt8(rng.uniform(0, 256)) }
            try Data(bytes).write(to: mnist.appendingPathComponent(file))
        }
        let dir = runDirectory("dynamic")
        let r = try largevae(["train", "--dataset", "mnist", "--dynamic-binarization", "--train-limit", "200", "--epochs", "2",
                              "--hidden", "16", "--latent", "4", "--components", "8", "--warmup", "1",
                              "--importance-samples", "5", "--test-limit", "10", "--threads", "2", "--run-dir", dir.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let config = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        XCTAssertTrue(config.contains("\"dynamicBinarization\" : true"), config)
        XCTAssertTrue(config.contains("\"likelihood\" : \"bernoulli\""), config)
    }

    func testHelp_EverySubcommand() throws {
        for command in ["train", "coordinator", "worker", "status", "keygen", "evaluate", "sample", "reconstruct", "data", "bench"] {
            let r = try largevae([command, "--help"])
            XCTAssertEqual(r.status, 0)
            XCTAssertTrue(r.stdout.contains("USAGE"), command)
        }
    }
}
