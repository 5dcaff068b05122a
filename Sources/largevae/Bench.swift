import ArgumentParser
import Foundation
import Tensor
import VAE
import Training

/// `largevae bench`: training throughput of the four paper models, beside a GEMM roofline.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure training samples/s (median) and the fraction of a GEMM roofline.",
        discussion: "Batch 100 of 784-pixel binary images, the paper's layer sizes, Bernoulli likelihood. Each thread count runs the step's units side by side on single-threaded BLAS, as the trainer does, so results are bit-identical whatever the thread count.\n\nBuild with -c release: swift build -c release && .build/release/largevae bench")

    @Option(help: "Comma-separated models to measure: vae/standard, vae/vampprior, hvae/standard, hvae/vampprior, vae/mog, hvae/mog.")
    var models = "vae/standard,vae/vampprior,hvae/standard,hvae/vampprior"

    @Option(help: "Comma-separated thread counts.")
    var threads = "1,2"

    @Option(help: "Timed runs per measurement; the median is reported.")
    var runs = 5

    @Option(help: "Training steps per timed run.")
    var steps = 10

    @Option(help: "Batch size.")
    var batchSize = 100

    @Option(help: "Rows per data unit.")
    var dataUnit = 50

    @Option(help: "Pseudo-inputs per prior unit.")
    var priorUnit = 250

    @Option(help: "Comma-separated worker counts: measure distributed steps with N local worker processes (1 BLAS thread each) and a coordinator in this process, instead of threads. With --pytorch-baseline, PyTorch DDP (gloo, 2 processes × 1 thread) is the baseline.")
    var workers: String?

    @Option(help: "Comma-separated worker counts for a scaling simulation: emulated-compute workers (real messages of the real size, compute replaced by sleeping its measured time), batch 50 per worker.")
    var simulate: String?

    @Flag(help: "With --simulate: start worker i in network namespace lv-wi (run inside lv-coord after `Tests/cluster/netns.sh up N [RATE]`).")
    var netns = false

    @Flag(help: "With --workers: also measure this machine's ceiling for 2 workers, two independent single-thread `largevae bench` processes at once against one alone (samples/s summed, medians of 3 interleaved rounds). No step structure, messages or coordinator can beat it.")
    var ceiling = false

    @OptionGroup var cluster: ClusterFlags

    @Flag(help: "Print one JSON object per line instead of a table.")
    var json = false

    @Flag(help: "Time the elementwise kernels (ns/element, FastMath against glibc) instead of training.")
    var kernels = false

    @Option(name: .customLong("pytorch-baseline"),
            help: "Also time this PyTorch script (Tests/Benchmarks/pytorch_baseline.py) on each model and thread count, interleaved with ours, and print the ratio. Needs torch.")
    var pytorchBaseline: String?

    func parsedModels() throws -> [(Architecture, PriorKind)] {
        try models.split(separator: ",").map { try parseModel(String($0)) }
    }

    func parsedThreads() throws -> [Int] {
        try threads.split(separator: ",").map {
            guard let t = Int($0), t >= 1, t <= 256 else { throw ValidationError("'\($0)' is not a thread count (1–256).") }
            return t
        }
    }

    func validate() throws {
        _ = try parsedModels()
        _ = try parsedThreads()
        for counts in [workers, simulate].compactMap({ $0 }) { _ = try parsedCounts(counts) }
        guard runs >= 1, steps >= 1 else { throw ValidationError("--runs and --steps must be at least 1.") }
        guard batchSize >= 1, dataUnit >= 1, priorUnit >= 1 else {
            throw ValidationError("--batch-size, --data-unit and --prior-unit must be at least 1.")
        }
        if ceiling && workers == nil { throw ValidationError("--ceiling goes with --workers (it is the ceiling for their scaling).") }
    }

    func run() throws {
        // A benchmark has nothing to save: a signal ends it at once, with the processes it started.
        let signals = Train.catchInterrupts { Train.quitNow() }
        defer { withExtendedLifetime(signals) {} }
        try reportingErrors(measure)
    }

    func measure() throws {
        if kernels {
            for r in KernelBenchmark.measure(runs: runs) {
                if json { print(String(decoding: try JSONEncoder().encode(r), as: UTF8.self)) }
                else {
                    print(r.kernel.padding(toLength: 9, withPad: " ", startingAt: 0)
                          + String(format: "FastMath %.2f ns/element   glibc %.2f ns/element", r.fastmath_ns, r.glibc_ns))
                }
            }
            return
        }
        BLAS.threads = 1
        let plan = StepPlan(batchSize: batchSize, dataUnitSize: dataUnit, priorUnitSize: priorUnit)
        if let w = workers { return try runCluster(plan: plan, workerCounts: try parsedCounts(w)) }
        if let w = simulate { return try runSimulation(workerCounts: try parsedCounts(w)) }
        let threadCounts = try parsedThreads()
        if !json {
            print("roofline: sgemm [100×784]·[784×600] on single-threaded BLAS per thread, timed between the model's runs")
            print("model            threads  samples/s   step ms  GFLOP/step  roofline GFLOP/s  fraction" + (pytorchBaseline == nil ? "" : "   pytorch  speed-up"))
        }
        for (a, p) in try parsedModels() {
            for t in threadCounts {
                let config = ModelConfig(architecture: a, prior: p, likelihood: .bernoulli)
                let r = try Benchmark.measure(config: config, plan: plan, threads: t, runs: runs, steps: steps)
                let torch = try pytorchBaseline.map { try pytorch(script: $0, model: "\(a)/\(p)", threads: t) }
                if json {
                    let data = try JSONEncoder().encode(r)
                    print(String(decoding: data, as: UTF8.self))
                    if let torch = torch { print("{\"impl\": \"pytorch\", \"model\": \"\(a)\", \"prior\": \"\(p)\", \"threads\": \(t), \"samples_per_second\": \(torch)}") }
                } else {
                    var line = String(format: "%-16@ %7d  %9.0f  %8.2f  %10.3f  %16.1f  %7.1f%%", "\(a)/\(p)" as NSString, t,
                                      r.samples_per_second, r.step_ms, r.gflops_per_step, r.roofline_gflops, 100 * r.roofline_fraction)
                    if let torch = torch { line += String(format: "  %8.0f  %7.2f×", torch, r.samples_per_second / torch) }
                    print(line)
                }
                fflush(stdout)
            }
        }
    }

    func parsedCounts(_ text: String) throws -> [Int] {
        try text.split(separator: ",").map {
            guard let n = Int($0), n >= 1, n <= 64 else { throw ValidationError("'\($0)' is not a worker count (1–64).") }
            return n
        }
    }

    /// The scaling curve of emulated-compute workers, one model.
    func runSimulation(workerCounts: [Int]) throws {
        let (a, p) = try parsedModels()[0]
        let config = ModelConfig(architecture: a, prior: p, likelihood: .bernoulli)
        if !json {
            print("scaling simulation, \(a)/\(p): emulated-compute workers, batch 50 per worker, wire \(cluster.wirePrecision)\(netns ? ", network namespaces" : ", loopback"); medians of \(runs) runs × \(steps) steps")
            print("workers  batch   step ms  samples/s  speed-up  MB/step  link MB/s  compute ms  update ms")
        }
        var first: Double?
        for w in workerCounts {
            let r = try ScalingSimulation.measure(config: config, workers: w, runs: runs, steps: steps, flags: cluster, inNamespaces: netns)
            first = first ?? r.samples_per_second / Double(w)
            if json { print(String(decoding: try JSONEncoder().encode(r), as: UTF8.self)) } else {
                print(String(format: "%7d  %5d  %8.1f  %9.0f  %7.2f×  %7.1f  %9.0f  %10.1f  %9.1f", r.workers, r.batch, r.step_ms, r.samples_per_second,
                             r.samples_per_second / first!, r.megabytes_per_step, r.coordinator_link_megabytes_per_second, r.compute_ms, r.update_ms))
            }
            fflush(stdout)
        }
    }

    /// Distributed throughput for each model and worker count, beside PyTorch DDP if asked.
    func runCluster(plan: StepPlan, workerCounts: [Int]) throws {
        if !json {
            print("distributed: N local worker processes × 1 BLAS thread, coordinator in this process, wire \(cluster.wirePrecision), \(cluster.noSharedMemory ? "all bytes over the socket" : "bulk bytes through shared memory"); medians of \(runs) runs × \(steps) steps")
            print("model            workers  samples/s   step ms  compute  comm  update  early ms  overhead  MB out/in  MB shm   vs 1 worker" + (pytorchBaseline == nil ? "" : "   vs DDP"))
        }
        for (a, p) in try parsedModels() {
            let config = ModelConfig(architecture: a, prior: p, likelihood: .bernoulli)
            let results = try ClusterBench.measure(config: config, plan: plan, workerCounts: workerCounts, runs: runs, steps: steps,
                                                   flags: cluster)
            // The DDP script covers the VAE models only.
            let ddp = a == .vae ? try pytorchBaseline.map { try pytorch(script: $0, model: "\(a)/\(p)", threads: 2, ddp: true) } : nil
            let one = results.first { $0.workers == 1 }?.samples_per_second
            for r in results {
                if json {
                    print(String(decoding: try JSONEncoder().encode(r), as: UTF8.self))
                    continue
                }
                var line = String(format: "%-16@ %7d  %9.0f  %8.2f  %7.1f %5.1f %7.1f %6.1f    %7.1f%%  %5.1f/%-5.1f %6.1f", "\(a)/\(p)" as NSString, r.workers,
                                  r.samples_per_second, r.step_ms, r.compute_ms, r.communication_ms, r.update_ms, r.early_reduction_ms,
                                  100 * r.coordinator_overhead, r.megabytes_sent_per_step, r.megabytes_received_per_step,
                                  r.megabytes_shared_per_step)
                line += one.map { String(format: "  %8.2f×", r.samples_per_second / $0) } ?? ""
                if let ddp { line += String(format: "  %7.2f×", r.samples_per_second / ddp) }
                print(line)
            }
            if ceiling {
                let (alone, pair) = try independentCeiling(model: "\(a)/\(p)")
                if json { print("{\"impl\": \"independent-processes\", \"model\": \"\(a)\", \"prior\": \"\(p)\", \"alone_samples_per_second\": \(alone), \"pair_samples_per_second\": \(pair)}") }
                else { print(String(format: "%-16@ %7d  %9.0f  (2 independent 1-thread processes; one alone: %.0f; ceiling %.2f×)", "\(a)/\(p)" as NSString, 2, pair, alone, pair / alone)) }
            }
            if let ddp {
                if json { print("{\"impl\": \"pytorch-ddp\", \"model\": \"\(a)\", \"prior\": \"\(p)\", \"workers\": 2, \"samples_per_second\": \(ddp)}") }
                else { print(String(format: "%-16@ %7d  %9.0f  (PyTorch DDP, gloo, 2 processes × 1 thread)", "\(a)/\(p)" as NSString, 2, ddp)) }
            }
            fflush(stdout)
        }
    }

    /// The machine's ceiling for two single-thread workers: the median samples/s of one
    /// `largevae bench --threads 1` process alone, and of the sum of two run at once, over 3
    /// interleaved rounds.
    func independentCeiling(model: String) throws -> (alone: Double, pair: Double) {
        let executable = try selfExecutable()
        let arguments = ["bench", "--models", model, "--threads", "1", "--runs", String(runs), "--steps", String(steps),
                         "--batch-size", String(batchSize), "--data-unit", String(dataUnit), "--prior-unit", String(priorUnit), "--json"]
        func measured(_ started: MeasuringProcess) throws -> Double {
            guard let value = started.samplesPerSecond() else {
                throw RunFailure(message: "a single-thread bench process for the ceiling of \(model) failed (exit \(started.process.terminationStatus))")
            }
            return value
        }
        var alone: [Double] = [], pair: [Double] = []
        for _ in 0..<3 {
            alone.append(try measured(try MeasuringProcess(executable, arguments)))
            let first = try MeasuringProcess(executable, arguments), second = try MeasuringProcess(executable, arguments)
            pair.append(try measured(first) + measured(second))
        }
        return (Benchmark.median(alone), Benchmark.median(pair))
    }

    /// The PyTorch script's median samples/s for one model and thread count (or DDP on 2 processes).
    func pytorch(script: String, model: String, threads: Int, ddp: Bool = false) throws -> Double {
        let started = try MeasuringProcess(URL(fileURLWithPath: "/usr/bin/env"),
                                           ["python3", script, "--json", "--models", model, "--threads", String(threads),
                                            "--runs", String(runs), "--steps", String(steps)] + (ddp ? ["--ddp"] : []))
        guard let value = started.samplesPerSecond() else {
            throw RunFailure(message: "the PyTorch baseline \(script) failed for \(model)\(ddp ? " (DDP)" : ""); is torch installed? python3 -m pip install torch")
        }
        return value
    }
}

/// A started process that prints JSON lines, the last of them with `samples_per_second`: a
/// `largevae bench --json` of one model and thread count, or the PyTorch baseline script.
struct MeasuringProcess {
    let process = Process()
    let out = Pipe()

    init(_ executable: URL, _ arguments: [String]) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = out
        try process.run()
    }

    /// Waits for the process; its last line's `samples_per_second`, or nil if it failed.
    func samplesPerSecond() -> Double? {
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
        return object["samples_per_second"] as? Double
    }
}
