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
        }
    }
}

/// Everything a run needs to continue exactly: parameters, Adam's moments and step, and the
/// loop's counters (the data order and the noise are keyed by seed and epoch, so the epoch is
/// the data cursor). Stored as safetensors: parameters under their own names, moments under
/// `adam.m.<name>` and `adam.v.<name>`, counters and the config as metadata.
public enum Checkpoint {
    /// Writes the run's state atomically (temp file, fsync, rename), with `extra` metadata.
    public static func save(_ run: TrainingRun, to url: URL, extra: [String: String] = [:]) throws {
        let layout = run.trainer.model.layout
        var tensors: [String: SafeTensor] = [:]
        for e in layout.entries {
            tensors[e.name] = try tensor(run.trainer.values, e)
            tensors["adam.m." + e.name] = try tensor(run.trainer.adam.firstMoments, e)
            tensors["adam.v." + e.name] = try tensor(run.trainer.adam.secondMoments, e)
        }
        var meta = extra
        meta["format"] = "largevae.checkpoint.v1"
        meta["model"] = String(decoding: try JSONEncoder().encode(run.config), as: UTF8.self)
        meta["epoch"] = String(run.epoch)
        meta["adam_step"] = String(run.trainer.adam.step)
        meta["best_validation_loss"] = "\(run.bestValidationLoss)"
        meta["best_validation_elbo"] = "\(-run.bestValidationLoss)"
        meta["best_epoch"] = String(run.bestEpoch)
        meta["epochs_without_improvement"] = String(run.epochsWithoutImprovement)
        meta["seed"] = String(run.options.seed)
        try SafeTensors.write(tensors, metadata: meta, to: url)
    }

    /// Writes parameters only (the best model), with `metadata`.
    public static func saveParameters(_ values: ParameterVector<Float>, config: ModelConfig, metadata: [String: String],
                                      to url: URL) throws {
        var tensors: [String: SafeTensor] = [:]
        for e in values.layout.entries { tensors[e.name] = try tensor(values, e) }
        var meta = metadata
        meta["format"] = "largevae.parameters.v1"
        meta["model"] = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
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
    }

    /// Reads parameters (from either kind of file) into `values`.
    public static func loadParameters(from url: URL, config: ModelConfig, into values: ParameterVector<Float>) throws {
        let file = try SafeTensors.read(from: url)
        try checkModel(file, config, url)
        for e in values.layout.entries { try load(file, e.name, e, into: values, url) }
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
