import ArgumentParser
import Foundation
import Tensor
import NN
import VAE
import Training
import Datasets
import Artifacts
import Transport

/// `largevae train`: one training run, start to finish, leaving a run directory behind.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a VAE or HVAE on a real dataset and evaluate it on the test set.",
        discussion: "Every option defaults to the paper (batch 100, Adam 5e-4, 100 warm-up epochs, K = 500, S = 5000, patience 50). --config takes a JSON file with any subset of a run's config.json, and flags override it. --schedule quick is a short run (minutes) for a first look.\n\nThe run directory receives config.json, metrics.jsonl and metrics.csv, TensorBoard events, PNG grids, last.safetensors (resume) and best.safetensors.\n\nExample: largevae train --dataset mnist --model vae --prior vampprior --threads 2")

    @OptionGroup var job: TrainJob

    func run() throws { try job.run() }

    /// Catches SIGINT and SIGTERM until the process ends. The first calls `handler` once (the run
    /// then stops after its current step, or a coordinator gives that step up at once, since its
    /// workers may be gone too, and saves the state of the last completed step); a second one, or
    /// any one once `signalled` was requested (training is over), ends the process at once
    /// through `quitNow`.
    static func onInterrupt(_ signalled: StopRequest, _ handler: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
        catchInterrupts {   // one `signalled` for both: SIGINT then SIGTERM is a second signal too
            guard signalled.requestFirst() else { quitNow() }
            FileHandle.standardError.write(Data("\nstopping: the state after the last completed step is saved (signal again to quit now)\n".utf8))
            handler()
        }
    }

    /// Calls `handler` on a dispatch queue for every SIGINT and SIGTERM until the process ends
    /// (keep the sources returned).
    static func catchInterrupts(_ handler: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    /// Ends the process at once with status 130, first stopping the processes it started (its
    /// local workers, a benchmark's measuring processes) and removing the names that would
    /// otherwise outlive it: its shared-memory segments and its private temporary directories
    /// (the local workers' socket and keys), both found by this process's id in their names.
    static func quitNow() -> Never {
        ChildProcesses.terminateAll()
        _ = SharedSegment.removeOwn()
        ClusterSession.removeOwnPrivateDirectories()
        Foundation.exit(130)
    }
}

/// The options of a training run and the run itself: `largevae train`, and `largevae coordinator`
/// with the same options (an option group, so that the coordinator's usage line is its own).
struct TrainJob: ParsableArguments {
    @Option(help: "Dataset: mnist, fashion-mnist or frey.")
    var dataset: DatasetName?
    @OptionGroup var data: DataCommand.Location
    @Option(name: .customLong("run-dir"), help: "Where the run writes its files (default: runs/DATASET-MODEL-PRIOR-TIME).")
    var runDirectory: String?
    @Option(help: "JSON config file (any subset of a run's config.json).")
    var config: String?
    @Option(help: "paper (the defaults) or quick (MNIST, a few minutes on 2 cores: 10 epochs, 3 warm-up, 2 threads, S = 1000 on 1,000 test images).")
    var schedule: Schedule = .paper
    @Option(help: "Continue the run in this directory from its last.safetensors.")
    var resume: String?
    @OptionGroup var model: ModelOptions
    @OptionGroup var training: TrainingFlags
    @Option(help: "Compute each step's units on N local worker processes (a coordinator in this process); the weights are the same bits as with --threads.")
    var workers: Int?
    @OptionGroup var cluster: ClusterFlags

    @Flag(name: .customLong("step-log"), help: "Append one line per step to steps.csv in the run directory (global step, epoch, step, loss, time, traffic).")
    var stepLog = false

    enum Schedule: String, ExpressibleByArgument, CaseIterable { case paper, quick }

    func validate() throws {
        if let n = workers, n < 1 || n > 256 { throw ValidationError("--workers must be between 1 and 256.") }
        if resume != nil && (config != nil || dataset != nil) {
            throw ValidationError("--resume continues a run with its own config.json; drop --config and --dataset.")
        }
    }

    func run() throws {
        try reportingErrors {
            guard let n = workers else { return try train(cluster: nil) }
            let session = try ClusterSession(options: cluster.options(bind: "tcp://127.0.0.1:*", minimumWorkers: n))
            session.bindLocally()
            session.localWorkers = n
            session.pinWorkers = !cluster.noPinWorkers
            try train(cluster: session)
        }
    }

    /// Trains in this process, or as the coordinator of `cluster`'s workers.
    func train(cluster: ClusterSession?) throws {
        let (runConfig, directory) = try resume.map(resumedConfig) ?? (try freshConfig(), runDirectoryURL())
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writeConfig(runConfig, to: directory)
        let name = try runConfig.datasetName()
        let data = try Dataset.load(name: name, directory: self.data.url, seed: runConfig.training.seed,
                                    staticBinarization: !runConfig.training.dynamicBinarization)
        try check(runConfig, against: data)
        let splits = Splits(data, dynamicBinarization: runConfig.training.dynamicBinarization, seed: runConfig.training.seed)
        let run = try TrainingRun(config: runConfig.model, options: runConfig.training, train: splits.train,
                              validation: splits.validation, pseudoInputImages: pseudoInputs(runConfig, splits),
                                  engine: cluster?.factory())
        defer { cluster?.finish() }
        let stop = StopRequest()
        run.stop = stop
        cluster?.engine?.coordinator.stop = stop   // a coordinator gives its current step (or its wait for workers) up
        // Caught from before the wait for workers: a signal then must not end the process before
        // `finish` removes the shared-memory segments and private directories.
        let signalled = StopRequest()
        let signals = Train.onInterrupt(signalled) { stop.request() }
        defer { withExtendedLifetime(signals) {} }
        do { try cluster?.start() } catch is StepAbandoned {
            Console.logger.notice("stopped on request while waiting for workers; nothing was trained")
            throw ExitCode(130)
        }
        let recorder = try RunRecorder(directory: directory, imageHeight: data.height, imageWidth: data.width,
                                       showcase: splits.validation.firstImages(16))
        if resume != nil { try restore(run, recorder) }
        attach(recorder, epochs: runConfig.training.epochs)
        recorder.stepLog = stepLog
        if run.epoch == 0 && run.stepInEpoch == 0 {   // a good checkpoint exists before the first step, should that step fail
            try recorder.saveState(run)
        }
        Console.logger.info("training \(runConfig.model.architecture)/\(runConfig.model.prior)/\(runConfig.model.likelihood) on \(name.rawValue) (\(splits.train.count) train, \(splits.validation.count) validation, \(splits.test.count) test) into \(directory.path)")
        do {
            // Once training is over, a signal (in the evaluation, or while the workers are
            // reaped) quits at once, as it would by default, but without leaving names behind.
            defer { _ = signalled.requestFirst() }
            try run.run(observer: recorder)
        } catch TrainingError.interrupted(let epoch, let step) {
            print("")
            let again = cluster.map { $0.localWorkers > 0 ? "train --workers \($0.localWorkers)" : "coordinator --bind ..." } ?? "train"
            Console.logger.notice("stopped on request after step \(step) of epoch \(epoch); the state is in \(recorder.url("last.safetensors").path). Continue with: largevae \(again) --resume \(directory.path)")
            throw ExitCode(130)
        } catch let error as TrainingError {
            throw RunFailure(message: "\(error.localizedDescription) The last good checkpoint is \(recorder.url("last.safetensors").path).")
        }
        try finish(run, splits, recorder, likelihood: runConfig.model.likelihood)
    }

    func freshConfig() throws -> RunConfig {
        var (c, keys) = try config.map { try RunConfig.loadWithKeys(URL(fileURLWithPath: $0)) } ?? (RunConfig(), [])
        if schedule == .quick {
            c.dataset = "mnist"
            c.training.epochs = 10; c.training.warmupEpochs = 3; c.training.threads = 2
            c.training.importanceSamples = 1000; c.training.testLimit = 1000
        }
        if let d = dataset { c.dataset = d.rawValue }
        model.apply(to: &c.model)
        training.apply(to: &c.training)
        let name = DatasetName(rawValue: c.dataset)
        guard let name = name else { throw ValidationError("dataset '\(c.dataset)' in the config is not one of mnist, fashion-mnist, frey.") }
        if model.likelihood == nil && !keys.contains("model.likelihood") {
            c.model.likelihood = name.pixelKind == .binary ? .bernoulli : .logistic256
        }
        let (h, w) = name.imageShape
        c.model.inputSize = h * w
        return c
    }

    func resumedConfig(_ path: String) throws -> (RunConfig, URL) {
        let directory = URL(fileURLWithPath: path)
        var c = try RunConfig.load(directory.appendingPathComponent("config.json"))
        training.apply(to: &c.training)          // e.g. more --epochs
        return (c, directory)
    }

    func check(_ c: RunConfig, against data: Dataset) throws {
        if c.model.prior != .standard && c.training.pseudoInputsFromData && c.model.components > data.train.count {
            throw ValidationError("--components \(c.model.components) is more than the \(data.train.count) training images to draw pseudo-inputs from.")
        }
        if c.model.likelihood == .bernoulli && data.pixelKind == .grey {
            throw ValidationError("\(data.name.rawValue) has grey pixels; use --likelihood logistic256 (Bernoulli needs binary images).")
        }
    }

    func pseudoInputs(_ c: RunConfig, _ splits: Splits) -> Tensor<Float>? {
        guard c.model.prior == .vampprior && c.training.pseudoInputsFromData else { return nil }
        let k = c.model.components, d = c.model.inputSize
        let order = KeyedRandom.permutation(count: splits.train.count,
                                            key: RandomKey(seed: c.training.seed, epoch: 0, index: 0, purpose: .initialization))
        let images = Tensor<Float>(shape: [k, d])
        Array(order.prefix(k)).withUnsafeBufferPointer { splits.train.fill(indices: $0, epoch: 0, into: images.data) }
        return images
    }

    /// Restores the newest whole state file (falling back to the one before it, with a warning,
    /// when the last is damaged) and drops metrics of epochs that will be replayed.
    func restore(_ run: TrainingRun, _ recorder: RunRecorder) throws {
        let (used, skipped) = try Checkpoint.restoreNewest(run, from: recorder.stateFiles)
        for (url, error) in skipped {
            Console.logger.warning("cannot resume from \(url.lastPathComponent): \(error.localizedDescription); using \(used.lastPathComponent), the checkpoint before it")
        }
        run.history = try recorder.truncateMetrics(after: run.epoch, globalStep: run.trainer.adam.step)
        let at = run.stepInEpoch > 0 ? "at step \(run.stepInEpoch) of epoch \(run.epoch + 1)" : "after epoch \(run.epoch)"
        Console.logger.info("resuming \(at) from \(used.lastPathComponent) (best validation loss \(run.bestValidationLoss) at epoch \(run.bestEpoch))")
    }

    func attach(_ recorder: RunRecorder, epochs: Int) {
        let bar = ProgressBar()
        recorder.onStep = { bar.update($0, epochs: epochs) }
        recorder.onEpoch = { r in
            bar.finishLine()
            Console.logger.info("\(String(format: "epoch %d  β %.2f  train loss %.3f (RE %.3f, KL %.3f)  validation ELBO %.3f  %.1f s  %.0f samples/s%@", r.epoch, r.beta, r.train.loss, r.train.reconstruction, r.train.kl, r.validation.elbo, r.seconds, r.samplesPerSecond, r.isBest ? "  best" : ""))")
        }
    }

    func finish(_ run: TrainingRun, _ splits: Splits, _ recorder: RunRecorder, likelihood: Likelihood) throws {
        Console.logger.info("evaluating the best model (epoch \(run.bestEpoch)) on the test set: ELBO and log-likelihood with S = \(run.options.importanceSamples)")
        let report = try run.testReport(splits.test)
        try recorder.writeImages(run, values: run.bestValues, step: run.epoch)
        try recorder.finish(report, epoch: run.epoch)
        var line = String(format: "test ELBO %.3f nats, test log-likelihood %.3f nats (S = %d, %d images)",
                          report.elbo.elbo, report.logLikelihood, report.importanceSamples, report.images)
        if let bpd = report.bitsPerDim { line += String(format: ", %.4f bits/dim", bpd) }
        Console.logger.info("\(line)")
        print(Histogram.render(edges: report.histogramEdges, counts: report.histogramCounts))
        print("run directory: \(recorder.directory.path)")
        for file in ["reconstructions.png", "samples.png", "pseudo_inputs.png", "loss.png", "metrics.csv", "test.json", "best.safetensors"]
        where FileManager.default.fileExists(atPath: recorder.url(file).path) {
            print("  \(recorder.url(file).path)")
        }
    }

    func runDirectoryURL() -> URL {
        if let r = runDirectory { return URL(fileURLWithPath: r) }
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let c = (try? freshConfig()) ?? RunConfig()
        return URL(fileURLWithPath: "runs/\(c.dataset)-\(c.model.architecture)-\(c.model.prior)-\(stamp)")
    }

    func writeConfig(_ c: RunConfig, to directory: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(c), to: directory.appendingPathComponent("config.json"))
    }
}

extension DatasetName: ExpressibleByArgument {}

/// A run that stopped for a reason the user must see (not a usage error).
struct RunFailure: Error, LocalizedError {
    let message: String
    var errorDescription: String? { message }
}

/// A text histogram of per-image log-likelihoods.
enum Histogram {
    static func render(edges: [Double], counts: [Int]) -> String {
        let top = Swift.max(counts.max() ?? 1, 1)
        var lines = ["log-likelihood histogram (nats per image):"]
        for (i, c) in counts.enumerated() where i % 2 == 0 || counts.count <= 15 {
            let n = i + 1 < counts.count && counts.count > 15 ? c + counts[i + 1] : c
            let bar = String(repeating: "#", count: Swift.max(0, 40 * n / top / (counts.count > 15 ? 2 : 1)))
            lines.append(String(format: "  %10.2f  %6d  %@", edges[i], n, bar))
        }
        return lines.joined(separator: "\n")
    }
}
