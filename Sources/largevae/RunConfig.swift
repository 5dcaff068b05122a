import Foundation
import ArgumentParser
import VAE
import Training
import Datasets

/// Everything that defines a training run; saved as the run's `config.json`, and accepted back
/// through `--config`.
struct RunConfig: Codable, Equatable {
    var dataset: String = "frey"
    var model: ModelConfig = ModelConfig()
    var training: TrainingOptions = TrainingOptions()
    /// The software that wrote it.
    var version: String = LargeVAE.configuration.version
}

/// Model choices; every option defaults to the paper (or to `--config`).
struct ModelOptions: ParsableArguments {
    @Option(help: "Model: vae or hvae.")
    var model: Architecture?
    @Option(help: "Prior on the (top) latent: standard, vampprior or mog.")
    var prior: PriorKind?
    @Option(help: "Likelihood: bernoulli or logistic256 (default: by dataset: bernoulli for mnist, logistic256 for grey data).")
    var likelihood: Likelihood?
    @Option(name: .customLong("components"), help: "Pseudo-inputs (VampPrior) or Gaussians (MoG), K. Default 500.")
    var components: Int?
    @Option(help: "Latent size M. Default 40.")
    var latent: Int?
    @Option(help: "Units per GatedDense layer. Default 300.")
    var hidden: Int?

    func validate() throws {
        if let k = components, k < 1 { throw ValidationError("--components must be at least 1 (the paper uses 500).") }
        if let m = latent, m < 1 { throw ValidationError("--latent must be at least 1 (the paper uses 40).") }
        if let h = hidden, h < 1 { throw ValidationError("--hidden must be at least 1 (the paper uses 300).") }
    }

    func apply(to c: inout ModelConfig) {
        if let v = model { c.architecture = v }
        if let v = prior { c.prior = v }
        if let v = likelihood { c.likelihood = v }
        if let v = components { c.components = v }
        if let v = latent { c.latentSize = v }
        if let v = hidden { c.hiddenSize = v }
    }
}

extension Architecture: ExpressibleByArgument {}
extension PriorKind: ExpressibleByArgument {}
extension Likelihood: ExpressibleByArgument {}

/// Training choices; every option defaults to the paper (or to `--config`).
struct TrainingFlags: ParsableArguments {
    @Option(help: "Maximum epochs. Default 2000.")
    var epochs: Int?
    @Option(help: "KL warm-up epochs (β rises linearly from 0 to 1). Default 100.")
    var warmup: Int?
    @Option(help: "Early-stopping patience in epochs, after warm-up. Default 50.")
    var patience: Int?
    @Option(name: .customLong("batch-size"), help: "Minibatch size. Default 100.")
    var batchSize: Int?
    @Option(name: .customLong("lr"), help: "Adam learning rate. Default 5e-4.")
    var learningRate: Double?
    @Flag(name: .customLong("adam-norm-grad"), help: "Divide each tensor's gradient by its L2 norm first, as the authors' AdamNormGrad.")
    var normalizeGradients = false
    @Option(help: "Random seed for initialisation, data order and noise. Default 1.")
    var seed: UInt64?
    @Option(help: "Threads computing units side by side (results do not depend on it). Default 1.")
    var threads: Int?
    @Option(name: .customLong("data-unit"), help: "Rows per data unit. Default 50.")
    var dataUnit: Int?
    @Option(name: .customLong("prior-unit"), help: "Pseudo-inputs per prior unit. Default 250.")
    var priorUnit: Int?
    @Option(name: .customLong("importance-samples"), help: "S for the test log-likelihood. Default 5000.")
    var importanceSamples: Int?
    @Flag(name: .customLong("dynamic-binarization"), help: "Resample binary pixels each epoch instead of the static binarisation.")
    var dynamicBinarization = false
    @Flag(name: .customLong("pseudo-inputs-from-data"), help: "Initialise the pseudo-inputs from random training images.")
    var pseudoInputsFromData = false
    @Option(name: .customLong("train-limit"), help: "Use only the first N training images (0: all).")
    var trainLimit: Int?
    @Option(name: .customLong("test-limit"), help: "Evaluate the log-likelihood on the first N test images (0: all).")
    var testLimit: Int?
    @Option(name: .customLong("checkpoint-steps"), help: "Also save last.safetensors every N steps inside an epoch, so that a killed run redoes at most N steps (0: at epoch ends only).")
    var checkpointSteps: Int?

    func validate() throws {
        func atLeast(_ v: Int?, _ min: Int, _ flag: String, _ hint: String) throws {
            if let v = v, v < min { throw ValidationError("\(flag) must be at least \(min)\(hint).") }
        }
        try atLeast(epochs, 1, "--epochs", "")
        try atLeast(warmup, 0, "--warmup", " (0 turns warm-up off)")
        try atLeast(patience, 1, "--patience", "")
        try atLeast(batchSize, 1, "--batch-size", " (the paper uses 100)")
        try atLeast(threads, 1, "--threads", "")
        try atLeast(dataUnit, 1, "--data-unit", "")
        try atLeast(priorUnit, 1, "--prior-unit", "")
        try atLeast(importanceSamples, 1, "--importance-samples", " (the paper uses 5000)")
        try atLeast(trainLimit, 0, "--train-limit", "")
        try atLeast(testLimit, 0, "--test-limit", "")
        try atLeast(checkpointSteps, 0, "--checkpoint-steps", " (0 saves at epoch ends only)")
        if let lr = learningRate, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number (the paper uses 5e-4).") }
    }

    func apply(to t: inout TrainingOptions) {
        if let v = epochs { t.epochs = v }
        if let v = warmup { t.warmupEpochs = v }
        if let v = patience { t.patience = v }
        if let v = batchSize { t.batchSize = v }
        if let v = learningRate { t.learningRate = v }
        if normalizeGradients { t.normalizeGradients = true }
        if let v = seed { t.seed = v }
        if let v = threads { t.threads = v }
        if let v = dataUnit { t.dataUnitSize = v }
        if let v = priorUnit { t.priorUnitSize = v }
        if let v = importanceSamples { t.importanceSamples = v }
        if dynamicBinarization { t.dynamicBinarization = true }
        if pseudoInputsFromData { t.pseudoInputsFromData = true }
        if let v = trainLimit { t.trainLimit = v }
        if let v = testLimit { t.testLimit = v }
        if let v = checkpointSteps { t.checkpointSteps = v }
    }
}

extension RunConfig {
    /// The dataset this config names; a bad name (say, in an edited config.json) is an error, not a trap.
    func datasetName() throws -> DatasetName {
        guard let name = DatasetName(rawValue: dataset) else {
            throw ConfigError(message: "dataset '\(dataset)' is not one of mnist, fashion-mnist, frey")
        }
        return name
    }
}

/// A problem with a `--config` file.
struct ConfigError: Error, LocalizedError {
    let message: String
    var errorDescription: String? { message }
}

extension RunConfig {
    /// Reads a JSON config that may give any subset of the keys of `config.json`: the file's
    /// values are laid over the defaults, and an unknown key is an error that names it.
    static func load(_ url: URL) throws -> RunConfig {
        try loadWithKeys(url).config
    }

    /// `load`, plus the dotted keys the file gave (such as `model.likelihood`).
    static func loadWithKeys(_ url: URL) throws -> (config: RunConfig, keys: Set<String>) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ConfigError(message: "cannot read config file \(url.path): \(error.localizedDescription)")
        }
        guard let user = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ConfigError(message: "config file \(url.path) is not a JSON object; see a run's config.json for the format")
        }
        let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(RunConfig())) as! [String: Any]
        var keys = Set<String>()
        let merged = try overlay(user, on: defaults, path: "", file: url.path, keys: &keys)
        do {
            return (try JSONDecoder().decode(RunConfig.self, from: JSONSerialization.data(withJSONObject: merged)), keys)
        } catch {
            throw ConfigError(message: "config file \(url.path) has a value of the wrong type: \(error)")
        }
    }

    static func overlay(_ user: [String: Any], on base: [String: Any], path: String, file: String,
                        keys: inout Set<String>) throws -> [String: Any] {
        var out = base
        for (key, value) in user {
            let name = path.isEmpty ? key : "\(path).\(key)"
            guard let existing = base[key] else {
                let known = base.keys.sorted().joined(separator: ", ")
                throw ConfigError(message: "config file \(file): unknown key '\(name)'; known keys here: \(known)")
            }
            if let sub = value as? [String: Any], let baseSub = existing as? [String: Any] {
                out[key] = try overlay(sub, on: baseSub, path: name, file: file, keys: &keys)
            } else {
                out[key] = value
                keys.insert(name)
            }
        }
        return out
    }
}
