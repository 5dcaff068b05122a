import ArgumentParser
import Foundation
import Tensor
import NN
import VAE
import Training
import Datasets
import Artifacts

/// What `evaluate`, `sample` and `reconstruct` share: a finished (or running) run directory.
struct RunSelection: ParsableArguments {
    @Option(help: "The run directory (it holds config.json and the checkpoints).")
    var run: String
    @Option(help: "Which parameters: best (best.safetensors) or last (last.safetensors).")
    var checkpoint: Which = .best
    @OptionGroup var data: DataCommand.Location

    enum Which: String, ExpressibleByArgument, CaseIterable { case best, last }

    var directory: URL { URL(fileURLWithPath: run) }
    var checkpointURL: URL { directory.appendingPathComponent("\(checkpoint.rawValue).safetensors") }

    /// The run's config and a model with the chosen parameters.
    func load() throws -> (RunConfig, LatentModel<Float>, ParameterVector<Float>) {
        let config = try RunConfig.load(directory.appendingPathComponent("config.json"))
        let model = LatentModel<Float>.make(config.model)
        let values = ParameterVector<Float>(layout: model.layout)
        try Checkpoint.loadParameters(from: checkpointURL, config: config.model, into: values)
        return (config, model, values)
    }

    func dataset(_ config: RunConfig) throws -> Splits {
        let name = try config.datasetName()
        let data = try Dataset.load(name: name, directory: self.data.url, seed: config.training.seed,
                                    staticBinarization: !config.training.dynamicBinarization)
        return Splits(data, dynamicBinarization: config.training.dynamicBinarization, seed: config.training.seed)
    }
}


struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Test ELBO and importance-sampled log-likelihood of a trained run.",
        discussion: "Example: largevae evaluate --run runs/mnist-vae-vampprior --importance-samples 5000 --threads 2")
    @OptionGroup var selection: RunSelection
    @Option(name: .customLong("importance-samples"), help: "S (default: the run's).")
    var importanceSamples: Int?
    @Option(name: .customLong("test-limit"), help: "Only the first N test images (0: all; default: the run's).")
    var testLimit: Int?
    @Option(help: "Threads (default: the run's).")
    var threads: Int?

    func validate() throws {
        if let s = importanceSamples, s < 1 { throw ValidationError("--importance-samples must be at least 1.") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1.") }
        if let n = testLimit, n < 0 { throw ValidationError("--test-limit must be 0 (all) or more.") }
    }

    func run() throws {
        try reportingErrors {
            var config = try RunConfig.load(selection.directory.appendingPathComponent("config.json"))
            if let s = importanceSamples { config.training.importanceSamples = s }
            if let n = testLimit { config.training.testLimit = n }
            if let t = threads { config.training.threads = t }
            let splits = try selection.dataset(config)
            let run = try TrainingRun(config: config.model, options: config.training, train: splits.train, validation: splits.validation)
            try Checkpoint.loadParameters(from: selection.checkpointURL, config: config.model, into: run.bestValues)
            let report = try run.testReport(splits.test)
            var line = String(format: "test ELBO %.3f nats, log-likelihood %.3f nats (S = %d, %d images)",
                              report.elbo.elbo, report.logLikelihood, report.importanceSamples, report.images)
            if let bpd = report.bitsPerDim { line += String(format: ", %.4f bits/dim", bpd) }
            print(line)
            print(Histogram.render(edges: report.histogramEdges, counts: report.histogramCounts))
        }
    }
}

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw images from a trained model's prior into a PNG grid.",
        discussion: "Example: largevae sample --run runs/frey-vae-vampprior --count 64 --out samples.png")
    @OptionGroup var selection: RunSelection
    @Option(help: "Number of images.")
    var count = 64
    @Option(help: "Random seed.")
    var seed: UInt64 = 1
    @Option(help: "Output PNG.")
    var out = "samples.png"

    func validate() throws {
        guard (1...4096).contains(count) else { throw ValidationError("--count must be between 1 and 4096.") }
    }

    func run() throws {
        try reportingErrors {
            let (config, model, values) = try selection.load()
            let d = config.model.inputSize
            var images = [Float](repeating: 0, count: count * d)
            let grads = ParameterVector<Float>(layout: model.layout)
            images.withUnsafeMutableBufferPointer {
                model.sample(rows: count, seed: seed, ParameterAccess(values: values, gradients: grads), into: $0.baseAddress!)
            }
            let (h, w) = try config.datasetName().imageShape
            let columns = Swift.min(count, 8)
            let grid = try ImageGrid(imageHeight: h, imageWidth: w, rows: (count + columns - 1) / columns, columns: columns, scale: 2)
            try PNGWriter.write(grid.render(images), to: URL(fileURLWithPath: out))
            print("wrote \(count) samples to \(out)")
        }
    }
}

struct Reconstruct: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reconstruct test images (input beside reconstruction) into a PNG grid.",
        discussion: "Example: largevae reconstruct --run runs/mnist-vae-vampprior --count 32 --out recon.png")
    @OptionGroup var selection: RunSelection
    @Option(help: "Number of test images.")
    var count = 32
    @Option(help: "Output PNG.")
    var out = "reconstructions.png"

    func validate() throws {
        guard (1...4096).contains(count) else { throw ValidationError("--count must be between 1 and 4096.") }
    }

    func run() throws {
        try reportingErrors {
            let (config, model, values) = try selection.load()
            let splits = try selection.dataset(config)
            let x = splits.test.firstImages(count), n = x.count / config.model.inputSize
            var y = [Float](repeating: 0, count: x.count)
            let grads = ParameterVector<Float>(layout: model.layout)
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer {
                    model.reconstruct(x: xp.baseAddress!, rows: n, ParameterAccess(values: values, gradients: grads), into: $0.baseAddress!)
                }
            }
            let (h, w) = (splits.dataset.height, splits.dataset.width)
            let pairs = Swift.min(n, 8)
            let grid = try ImageGrid(imageHeight: h, imageWidth: w, rows: (n + pairs - 1) / pairs, columns: 2 * pairs,
                                     scale: 2, layout: .pairs)
            try PNGWriter.write(grid.render(inputs: x, reconstructions: y), to: URL(fileURLWithPath: out))
            print("wrote \(n) reconstructions to \(out)")
        }
    }
}
