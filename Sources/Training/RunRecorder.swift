import Foundation
import Tensor
import NN
import VAE
import Artifacts

/// Writes what a run leaves behind in its directory, epoch by epoch:
///
/// ```
/// metrics.jsonl, metrics.csv       one line per epoch
/// events.out.tfevents.*            TensorBoard scalars and image grids
/// last.safetensors                 full state (resume), every epoch and every --checkpoint-steps
/// previous.safetensors             the state before it, should the last one be damaged
/// best.safetensors                 parameters at the best validation loss
/// reconstructions.png samples.png pseudo_inputs.png loss.png
/// test.json                        the final test report
/// ```
public final class RunRecorder: TrainingObserver {
    public let directory: URL
    public let imageHeight: Int, imageWidth: Int
    /// Images shown next to their reconstructions, `[n, D]`.
    let showcase: [Float]
    let events: EventWriter
    /// Write image grids every this many epochs (and on the best epoch's last save).
    public var imageEvery = 1
    public var onStep: ((StepProgress) -> Void)?
    public var onEpoch: ((EpochRecord) -> Void)?

    public init(directory: URL, imageHeight: Int, imageWidth: Int, showcase: [Float]) throws {
        self.directory = directory
        self.imageHeight = imageHeight
        self.imageWidth = imageWidth
        self.showcase = showcase
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // A resumed run appends a second event file; the process id keeps their names apart.
        events = try EventWriter(directory: directory, suffix: ".\(ProcessInfo.processInfo.processIdentifier)")
    }

    public func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Append a line per step to `steps.csv` (global step, epoch, step, loss, seconds, traffic).
    public var stepLog = false
    var stepLogHandle: FileHandle?

    public func stepFinished(_ progress: StepProgress) {
        if stepLog { logStep(progress) }
        onStep?(progress)
    }

    func logStep(_ p: StepProgress) {
        if stepLogHandle == nil {
            let file = url("steps.csv")
            if !FileManager.default.fileExists(atPath: file.path) {
                let header = "global_step,epoch,step,mean_loss,elapsed_seconds,step_seconds,bytes_sent,bytes_received,workers\n"
                _ = FileManager.default.createFile(atPath: file.path, contents: Data(header.utf8))
            }
            stepLogHandle = try? FileHandle(forWritingTo: file)
            _ = try? stepLogHandle?.seekToEnd()
        }
        let c = p.cluster
        let fields: [String] = [String(p.globalStep), String(p.epoch), String(p.step), "\(p.loss)", "\(p.elapsed)",
                                "\(c?.seconds ?? 0)", "\(c?.bytesSent ?? 0)", "\(c?.bytesReceived ?? 0)", "\(c?.workers ?? 0)"]
        try? stepLogHandle?.write(contentsOf: Data((fields.joined(separator: ",") + "\n").utf8))
    }

    public func epochFinished(_ r: EpochRecord, run: TrainingRun) throws {
        try appendMetrics(r)
        for (tag, value) in [("train/loss", r.train.loss), ("train/reconstruction", r.train.reconstruction),
                             ("train/kl", r.train.kl), ("beta", r.beta), ("validation/elbo", r.validation.elbo),
                             ("validation/loss", r.validation.loss), ("samples_per_second", r.samplesPerSecond)] {
            try events.scalar(tag: tag, value: Float(value), step: r.epoch)
        }
        if r.isBest {
            try Checkpoint.saveParameters(run.bestValues, config: run.config,
                                          metadata: ["epoch": String(r.epoch), "validation_loss": "\(r.validation.loss)"],
                                          to: url("best.safetensors"))
        }
        try saveState(run)
        if r.epoch % imageEvery == 0 || run.isFinished { try writeImages(run, values: run.trainer.values, step: r.epoch) }
        try writeLossPlot(run.history)
        try events.flush()
        onEpoch?(r)
    }

    public func checkpointDue(run: TrainingRun) throws { try saveState(run) }

    /// The files `saveState` writes, newest first: what a resume tries, in order.
    public var stateFiles: [URL] { [url("last.safetensors"), url("previous.safetensors")] }

    /// Saves the full state as `last.safetensors`, first renaming the one it replaces to
    /// `previous.safetensors` (both renames are atomic, so a crash leaves at least one whole file).
    public func saveState(_ run: TrainingRun) throws {
        let last = url("last.safetensors")
        if FileManager.default.fileExists(atPath: last.path), rename(last.path, url("previous.safetensors").path) != 0 {
            throw AtomicFileError.renameFailed(path: last.path, reason: String(cString: strerror(errno)))
        }
        try Checkpoint.save(run, to: last)
    }

    /// Drops metrics lines of epochs after `epoch` (written before a crash, and about to be
    /// replayed), so that a resumed run's metrics files hold each epoch once; returns the epochs
    /// kept, the run's history.
    public func truncateMetrics(after epoch: Int, globalStep: Int) throws -> [EpochRecord] {
        try truncateCSV(url("steps.csv")) { (Int($0) ?? Int.max) <= globalStep }
        try truncateCSV(url("metrics.csv")) { (Int($0) ?? Int.max) <= epoch }
        let file = url("metrics.jsonl")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return [] }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        var kept: [Substring] = [], records: [EpochRecord] = []
        for line in lines {
            guard let r = try? JSONDecoder().decode(EpochRecord.self, from: Data(line.utf8)), r.epoch <= epoch else { continue }
            kept.append(line)
            records.append(r)
        }
        if kept.count != lines.count {
            try AtomicFile.write(Data((kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).utf8), to: file)
        }
        return records
    }

    /// Keeps a CSV file's header and the lines whose first field `keep` accepts.
    func truncateCSV(_ file: URL, keep: (String) -> Bool) throws {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let kept = lines.enumerated().filter { $0.offset == 0 || keep(String($0.element.prefix { $0 != "," })) }.map(\.element)
        if kept.count != lines.count { try AtomicFile.write(Data((kept.joined(separator: "\n") + "\n").utf8), to: file) }
    }

    func appendMetrics(_ r: EpochRecord) throws {
        let json = String(decoding: try JSONEncoder().encode(r), as: UTF8.self) + "\n"
        try append(json, to: url("metrics.jsonl"))
        let csvURL = url("metrics.csv")
        if !FileManager.default.fileExists(atPath: csvURL.path) {
            try append("epoch,beta,train_loss,train_reconstruction,train_kl,validation_loss,validation_reconstruction,validation_kl,validation_elbo,seconds,samples_per_second,best\n", to: csvURL)
        }
        let fields: [String] = [String(r.epoch), "\(r.beta)", "\(r.train.loss)", "\(r.train.reconstruction)", "\(r.train.kl)",
                                "\(r.validation.loss)", "\(r.validation.reconstruction)", "\(r.validation.kl)",
                                "\(r.validation.elbo)", "\(r.seconds)", "\(r.samplesPerSecond)", r.isBest ? "1" : "0"]
        try append(fields.joined(separator: ",") + "\n", to: csvURL)
    }

    func append(_ text: String, to url: URL) throws {
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
    }

    /// Reconstructions (input beside output), samples from the prior and the pseudo-inputs.
    public func writeImages(_ run: TrainingRun, values: ParameterVector<Float>, step: Int) throws {
        let model = run.trainer.model, d = run.config.inputSize
        let grads = ParameterVector<Float>(layout: model.layout)
        let p = ParameterAccess(values: values, gradients: grads)
        let n = showcase.count / d
        if n > 0 {
            var out = [Float](repeating: 0, count: n * d)
            showcase.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { model.reconstruct(x: x.baseAddress!, rows: n, p, into: $0.baseAddress!) }
            }
            let columns = 2 * Swift.min(8, n)
            let grid = try ImageGrid(imageHeight: imageHeight, imageWidth: imageWidth, rows: (n + columns / 2 - 1) / (columns / 2),
                                 columns: columns, separator: 1, scale: 2, layout: .pairs)
            try save(grid.render(inputs: showcase, reconstructions: out), "reconstructions", step)
        }
        var samples = [Float](repeating: 0, count: 64 * d)
        samples.withUnsafeMutableBufferPointer { model.sample(rows: 64, seed: run.options.seed, p, into: $0.baseAddress!) }
        try save(try ImageGrid(imageHeight: imageHeight, imageWidth: imageWidth, rows: 8, columns: 8, scale: 2).render(samples),
                 "samples", step)
        if let e = model.prior.pseudoInputs {
            let k = Swift.min(64, e.shape[0])
            let u = (0..<(k * d)).map { Swift.min(Swift.max(values.data[e.offset + $0], 0), 1) }
            try save(try ImageGrid(imageHeight: imageHeight, imageWidth: imageWidth, rows: (k + 7) / 8, columns: 8, scale: 2).render(u),
                     "pseudo_inputs", step)
        }
    }

    func save(_ image: PNGImage, _ name: String, _ step: Int) throws {
        try PNGWriter.write(image, to: url(name + ".png"))
        try events.image(tag: name, image: image, step: step)
    }

    /// Train and validation loss against epoch.
    func writeLossPlot(_ history: [EpochRecord]) throws {
        let train = history.map { (epoch: Double($0.epoch), value: $0.train.loss) }
        let validation = history.map { (epoch: Double($0.epoch), value: $0.validation.loss) }
        let plot = try LinePlot(title: "loss per image, nats", xLabel: "epoch", yLabel: "nats")
        try plot.write([.init(name: "train", points: train), .init(name: "validation", points: validation)], to: url("loss.png"))
    }

    /// Writes the final test report as `test.json` and into TensorBoard.
    public func finish(_ report: TestReport, epoch: Int) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(report), to: url("test.json"))
        try events.scalar(tag: "test/elbo", value: Float(report.elbo.elbo), step: epoch)
        try events.scalar(tag: "test/log_likelihood", value: Float(report.logLikelihood), step: epoch)
        if let bpd = report.bitsPerDim { try events.scalar(tag: "test/bits_per_dim", value: Float(bpd), step: epoch) }
        try events.flush()
    }
}
