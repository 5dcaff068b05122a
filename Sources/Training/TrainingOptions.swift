import VAE

/// How a run trains, with the paper's defaults.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Maximum epochs.
    public var epochs = 2000
    /// β rises linearly from 0 to 1 over these epochs: β(e) = min(1, e / warmup), e counted from 1.
    public var warmupEpochs = 100
    /// Early stopping: stop after this many epochs past warm-up without a better validation loss.
    public var patience = 50
    public var batchSize = 100
    public var learningRate = 5e-4
    /// The authors' AdamNormGrad: each tensor's gradient divided by its L2 norm before Adam.
    public var normalizeGradients = false
    public var seed: UInt64 = 1
    /// Threads computing units side by side (the result does not depend on it).
    public var threads = 1
    public var dataUnitSize = 50
    public var priorUnitSize = 250
    /// Importance samples for the test log-likelihood.
    public var importanceSamples = 5000
    /// Resample binary pixels every epoch (x ~ Bernoulli(v/255)) instead of the static binarisation.
    public var dynamicBinarization = false
    /// Initialise the pseudo-inputs from random training images instead of N(0.05, 0.01²).
    public var pseudoInputsFromData = false
    /// Use only the first N training images (0: all); for short schedules and smoke runs.
    public var trainLimit = 0
    /// Evaluate the test log-likelihood on the first N test images (0: all).
    public var testLimit = 0
    /// Also save the full state after every N steps inside an epoch (0: at epoch ends only).
    /// A resumed run replays exactly from the saved step, so this only bounds the work redone.
    public var checkpointSteps = 0

    public init() {}

    /// β at (1-based) epoch `e`.
    public func beta(epoch e: Int) -> Double {
        warmupEpochs <= 0 ? 1 : Swift.min(1, Double(e) / Double(warmupEpochs))
    }

    /// The unit plan every step of this run uses.
    public var plan: StepPlan {
        StepPlan(batchSize: batchSize, dataUnitSize: dataUnitSize, priorUnitSize: priorUnitSize)
    }
}

/// A set of images that fills model-ready batches: `[n, D]` values for the given image indices.
public protocol ImageSource {
    /// Number of images.
    var count: Int { get }
    /// Pixels per image, D.
    var pixelsPerImage: Int { get }
    /// Writes images `indices` as model inputs into `out` `[indices.count, D]`; `epoch` keys any
    /// per-epoch randomness (dynamic binarisation).
    func fill(indices: UnsafeBufferPointer<Int>, epoch: Int, into out: UnsafeMutablePointer<Float>)
}
