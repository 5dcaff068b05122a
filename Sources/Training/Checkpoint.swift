import Foundation
import Tensor
import NN
import VAE
import Artifacts

/// A problem with a checkpoint that is not a format error of the file itself.
public enum CheckpointError: Error, LocalizedError, Equatable {
    case missingTensor(name: String, path: String)
    case wrongShape(name: String, expected: [Int], found: [Int], path: String)
    case missingMetadata(key: String, path: String)
    case configMismatch(path: String)
    /// No checkpoint could be read; each entry is a file and what was wrong with it.
    case noUsableCheckpoint([String])

    public var errorDescription: String? {
        switch self {
        case let .missingTensor(name, path):
            return "checkpoint \(path) has no tensor '\(name)': it was written for another model or is damaged"
        case let .wrongShape(name, expected, found, path):
            return "checkpoint \(path): tensor '\(name)' has shape \(found), the model needs \(expected)"
        case let .missingMetadata(key, path):
            return "checkpoint \(path) lacks the metadata '\(key)'; it was not written by largevae train"
        case let .configMismatch(path):
            return "checkpoint \(path) was written for a different model configuration than this run's config.json"
        case let .noUsableCheckpoint(reasons):
            return "no usable checkpoint to resume from: " + reasons.joined(separator: "; ")
        }
    }
}

/// Everything a run needs to continue exactly: parameters, Adam's moments and step, the best
/// parameters so far, and the loop's counters. The data order and the noise are keyed by
/// (seed, epoch, sample), so (epoch, step in epoch) is the whole data cursor and the RNG state.
/// Stored as safetensors with a CRC-32C of the data section: parameters under their own names,
/// moments under `adam.m.<name>` and `adam.v.<name>`, best parameters under `best.<name>`,
/// counters and the config as metadata (loss sums as exact Float64 bit patterns).
public enum Checkpoint {
    /// Writes the run's state atomically (temp file, fsync, rename), with `extra` metadata.
    public static func save(_ run: TrainingRun, to url: URL, extra: [String: String] = [:]) throws {
        let layout = run.trainer.model.layout
        var tensors: [String: SafeTensor] = [:]
        for e in layout.entries {
            tensors[e.name] = try tensor(run.trainer.values, e)
            tensors["adam.m." + e.name] = try tensor(run.trainer.adam.firstMoments, e)
            tensors["adam.v." + e.name] = try tensor(run.trainer.adam.secondMoments, e)
            tensors["best." + e.name] = try tensor(run.bestValues, e)
        }
        var meta = extra
        meta["format"] = "largevae.checkpoint.v1"
        meta["model"] = try configJSON(run.config)
        meta["epoch"] = String(run.epoch)
        meta["adam_step"] = String(run.trainer.adam.step)
        meta["best_validation_loss"] = "\(run.bestValidationLoss)"
        meta["best_validation_elbo"] = "\(-run.bestValidationLoss)"
        meta["best_epoch"] = String(run.bestEpoch)
        meta["epochs_without_improvement"] = String(run.epochsWithoutImprovement)
        meta["seed"] = String(run.options.seed)
        meta["step_in_epoch"] = String(run.stepInEpoch)
        let sums = run.epochSums
        meta["epoch_sums"] = [sums.reconstruction, sums.kl, sums.loss].map { String($0.bitPattern, radix: 16) }
            .joined(separator: ",") + ",\(sums.count)"
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    /// Restores from the first of `urls` that reads back whole, and says which files it skipped
    /// and why (damaged: checksum, truncation; or missing). Throws if none is usable.
    @discardableResult
    public static func restoreNewest(_ run: TrainingRun, from urls: [URL]) throws -> (used: URL, skipped: [(URL, Error)]) {
        var skipped: [(URL, Error)] = []
        for url in urls {
            do {
                try restore(run, from: url)
                return (url, skipped)
            } catch {
                skipped.append((url, error))
            }
        }
        throw CheckpointError.noUsableCheckpoint(skipped.map { "\($0.0.lastPathComponent): \($0.1.localizedDescription)" })
    }

    /// Writes parameters only (the best model), with `metadata`.
    public static func saveParameters(_ values: ParameterVector<Float>, config: ModelConfig, metadata: [String: String],
                                      to url: URL) throws {
        var tensors: [String: SafeTensor] = [:]
        for e in values.layout.entries { tensors[e.name] = try tensor(values, e) }
        var meta = metadata
        meta["format"] = "largevae.parameters.v1"
        meta["model"] = try configJSON(config)
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    /// Restores a run's state from `save`'s file; the run must have been built with the same config.
    public static func restore(_ run: TrainingRun, from url: URL) throws {
        let file = try SafeTensors.read(from: url)
        try checkModel(file, run.config, url)
        let layout = run.trainer.model.layout
        for e in layout.entries {
            try load(file, e.name, e, into: run.trainer.values, url)
            try load(file, "adam.m." + e.name, e, into: run.trainer.adam.firstMoments, url)
            try load(file, "adam.v." + e.name, e, into: run.trainer.adam.secondMoments, url)
        }
        run.trainer.adam.step = try integer(file, "adam_step", url)
        run.epoch = try integer(file, "epoch", url)
        run.bestEpoch = try integer(file, "best_epoch", url)
        run.epochsWithoutImprovement = try integer(file, "epochs_without_improvement", url)
        guard let best = file.metadata["best_validation_loss"].flatMap(Double.init) else {
            throw CheckpointError.missingMetadata(key: "best_validation_loss", path: url.path)
        }
        run.bestValidationLoss = best
        if file["best." + layout.entries[0].name] != nil {
            for e in layout.entries { try load(file, "best." + e.name, e, into: run.bestValues, url) }
        } else {   // written before checkpoints held the best parameters: they are in best.safetensors beside it
            try loadParameters(from: url.deletingLastPathComponent().appendingPathComponent("best.safetensors"),
                               config: run.config, into: run.bestValues)
        }
        run.stepInEpoch = file.metadata["step_in_epoch"] == nil ? 0 : try integer(file, "step_in_epoch", url)
        run.epochSums = LossSums()
        if let text = file.metadata["epoch_sums"] {
            let f = text.split(separator: ",")
            guard f.count == 4, let r = UInt64(f[0], radix: 16), let k = UInt64(f[1], radix: 16),
                  let l = UInt64(f[2], radix: 16), let n = Int(f[3]), n >= 0 else {
                throw CheckpointError.missingMetadata(key: "epoch_sums", path: url.path)
            }
            run.epochSums.reconstruction = Double(bitPattern: r)
            run.epochSums.kl = Double(bitPattern: k)
            run.epochSums.loss = Double(bitPattern: l)
            run.epochSums.count = n
        }
    }

    /// Reads parameters (from either kind of file) into `values`.
    public static func loadParameters(from url: URL, config: ModelConfig, into values: ParameterVector<Float>) throws {
        let file = try SafeTensors.read(from: url)
        try checkModel(file, config, url)
        for e in values.layout.entries { try load(file, e.name, e, into: values, url) }
    }

    /// The model config as JSON with sorted keys, so that equal runs write equal bytes.
    static func configJSON(_ config: ModelConfig) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(config), as: UTF8.self)
    }

    static func checkModel(_ file: SafeTensorsFile, _ config: ModelConfig, _ url: URL) throws {
        guard let text = file.metadata["model"] else { throw CheckpointError.missingMetadata(key: "model", path: url.path) }
        guard let stored = try? JSONDecoder().decode(ModelConfig.self, from: Data(text.utf8)), stored == config else {
            throw CheckpointError.configMismatch(path: url.path)
        }
    }

    static func tensor(_ v: ParameterVector<Float>, _ e: ParameterEntry) throws -> SafeTensor {
        try SafeTensor(float32: Array(UnsafeBufferPointer(start: v.data + e.offset, count: e.count)), shape: e.shape)
    }

    static func load(_ file: SafeTensorsFile, _ name: String, _ e: ParameterEntry, into v: ParameterVector<Float>, _ url: URL) throws {
        guard let t = file[name], t.dtype == .f32 else { throw CheckpointError.missingTensor(name: name, path: url.path) }
        guard t.shape == e.shape else {
            throw CheckpointError.wrongShape(name: name, expected: e.shape, found: t.shape, path: url.path)
        }
        t.bytes.withUnsafeBytes { raw in
            for i in 0..<e.count { v.data[e.offset + i] = Float(bitPattern: UInt32(littleEndian: raw.load(fromByteOffset: 4 * i, as: UInt32.self))) }
        }
    }

    static func integer(_ file: SafeTensorsFile, _ key: String, _ url: URL) throws -> Int {
        guard let v = file.metadata[key].flatMap(Int.init) else { throw CheckpointError.missingMetadata(key: key, path: url.path) }
        return v
    }
}
