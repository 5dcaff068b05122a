import Foundation
import Tensor
import NN
import VAE

/// Per-image means of an epoch's (or a set's) loss parts.
public struct LossSummary: Codable, Equatable, Sendable {
    /// Mean of `RE + β·KL`.
    public var loss: Double
    /// Mean `−log p(x|z)`.
    public var reconstruction: Double
    /// Mean KL estimate.
    public var kl: Double

    public init(_ s: LossSums) {
        let n = Double(Swift.max(s.count, 1))
        loss = s.loss / n
        reconstruction = s.reconstruction / n
        kl = s.kl / n
    }

    /// The evidence lower bound per image, `−(RE + KL)`.
    public var elbo: Double { -(reconstruction + kl) }
}

/// What one epoch did.
public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var beta: Double
    public var train: LossSummary
    /// β = 1 on the validation set.
    public var validation: LossSummary
    public var seconds: Double
    public var samplesPerSecond: Double
    /// Whether this epoch's validation loss is the best so far.
    public var isBest: Bool
    /// Distributed runs: the mean step's time split and bytes on the wire.
    public var cluster: StepMetrics?
}

/// Progress inside an epoch, for progress bars.
public struct StepProgress: Sendable {
    public var epoch: Int
    public var step: Int
    public var stepsPerEpoch: Int
    public var loss: Double
    public var samplesPerSecond: Double
    public var elapsed: Double
    /// Distributed runs: the last step's time split and traffic.
    public var cluster: StepMetrics?
    /// Adam steps applied so far in the whole run, this one included.
    public var globalStep = 0
}

/// A request, from another thread (a signal's handler), to stop a run after its current step.
public final class StopRequest: @unchecked Sendable {
    // @unchecked: `flag` is only read and written under `lock`.
    private let lock = NSLock()
    private var flag = false
    public init() {}
    public func request() { lock.lock(); flag = true; lock.unlock() }
    /// Requests a stop; true when this is the first request (one test-and-set, for handlers that
    /// may run side by side).
    public func requestFirst() -> Bool { lock.lock(); defer { lock.unlock() }; let first = !flag; flag = true; return first }
    public var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return flag }
}

/// Receives progress and epoch results (logging, metrics files, checkpoints).
public protocol TrainingObserver: AnyObject {
    func stepFinished(_ progress: StepProgress)
    /// Called after each epoch, with the run's state already updated (best parameters included).
    func epochFinished(_ record: EpochRecord, run: TrainingRun) throws
    /// Called inside an epoch every `options.checkpointSteps` steps (not after its last step:
    /// `epochFinished` follows that), and after any step when a stop was requested, with
    /// `run.stepInEpoch` and `run.epochSums` current.
    func checkpointDue(run: TrainingRun) throws
}

extension TrainingObserver {
    public func checkpointDue(run: TrainingRun) throws {}
}

/// A training run: epochs of shuffled minibatches with KL warm-up, validation every epoch,
/// early stopping after warm-up, and the best parameters kept.
///
/// ```
/// epoch e (1-based): order = permutation(seed, e, shuffle); β = min(1, e / warmup)
/// stop when e − warmup ≥ 0 and no validation improvement for `patience` epochs
/// ```
public final class TrainingRun {
    public let config: ModelConfig
    public let options: TrainingOptions
    public let trainer: Trainer<Float>
    public let train: ImageSource, validation: ImageSource
    /// Completed epochs.
    public internal(set) var epoch = 0
    /// Best validation loss (β = 1) so far, and the parameters that reached it.
    public internal(set) var bestValidationLoss = Double.infinity
    public internal(set) var bestEpoch = 0
    public let bestValues: ParameterVector<Float>
    /// Epochs since the validation loss last improved (counted after warm-up only).
    public internal(set) var epochsWithoutImprovement = 0
    /// The data cursor inside epoch `epoch + 1`: steps already applied (0 between epochs), and
    /// the loss sums of those steps. A mid-epoch checkpoint stores both, so that a resumed run
    /// takes up the epoch at its next step with the same order, noise and sums.
    public internal(set) var stepInEpoch = 0
    public internal(set) var epochSums = LossSums()
    public var history: [EpochRecord] = []
    /// Checked after every step: when requested, the state is saved (`checkpointDue`) and the
    /// run throws `TrainingError.interrupted`; a resume takes up at the next step.
    public var stop: StopRequest?
    let batch = Workspace<Float>()

    public init(config: ModelConfig, options: TrainingOptions, train: ImageSource, validation: ImageSource,
                pseudoInputImages: Tensor<Float>? = nil, engine: Trainer<Float>.EngineFactory? = nil) throws {
        self.config = config
        self.options = options
        self.train = train
        self.validation = validation
        var adam = Adam<Float>.Options()
        adam.learningRate = options.learningRate
        adam.normalizeGradients = options.normalizeGradients
        trainer = try Trainer(config: config, plan: options.plan, threads: options.threads, seed: options.seed,
                              adam: adam, pseudoInputImages: pseudoInputImages, engine: engine)
        bestValues = ParameterVector(layout: trainer.model.layout)
        bestValues.storage.copy(from: trainer.values.storage)
    }

    /// Training images used per epoch.
    public var trainCount: Int {
        options.trainLimit > 0 ? Swift.min(options.trainLimit, train.count) : train.count
    }

    /// Whether early stopping has fired or the epoch budget is spent.
    public var isFinished: Bool {
        epoch >= options.epochs || (epoch >= options.warmupEpochs && epochsWithoutImprovement >= options.patience)
    }

    /// Runs epochs until `isFinished`; throws `TrainingError.nonFinite` on a NaN (no bad update is applied).
    public func run(observer: TrainingObserver?) throws {
        while !isFinished { try runEpoch(observer: observer) }
    }

    /// One epoch of training, then validation and the early-stopping bookkeeping.
    @discardableResult
    public func runEpoch(observer: TrainingObserver?) throws -> EpochRecord {
        let e = epoch + 1, beta = options.beta(epoch: e), b = options.batchSize
        let order = KeyedRandom.permutation(count: trainCount,
                                            key: RandomKey(seed: options.seed, epoch: UInt32(e), index: 0, purpose: .shuffle))
        let steps = (order.count + b - 1) / b
        let start = Date()
        let resumedCount = epochSums.count, firstStep = stepInEpoch
        var cluster: StepMetrics?
        let x = batch.reserve(b * config.inputSize)
        try order.withUnsafeBufferPointer { all in
            for s in firstStep..<steps {
                let rows = UnsafeBufferPointer(rebasing: all[(s * b)..<Swift.min((s + 1) * b, all.count)])
                train.fill(indices: rows, epoch: e, into: x)
                let sums = try stoppable(epoch: e, step: s, observer) {
                    try trainer.step(x: x, sampleIndices: rows, epoch: e, beta: beta)
                }
                epochSums = epochSums + sums
                stepInEpoch = s + 1
                let elapsed = Date().timeIntervalSince(start)
                let metrics = trainer.engine.stepMetrics
                if let m = metrics { cluster = cluster.map { $0 + m } ?? m }
                observer?.stepFinished(StepProgress(epoch: e, step: s + 1, stepsPerEpoch: steps, loss: epochSums.loss / Double(epochSums.count),
                                                    samplesPerSecond: Double(epochSums.count - resumedCount) / Swift.max(elapsed, 1e-9),
                                                    elapsed: elapsed, cluster: metrics, globalStep: trainer.adam.step))
                if stop?.isRequested == true { try interrupt(epoch: e, step: s + 1, observer) }
                if options.checkpointSteps > 0 && (s + 1) % options.checkpointSteps == 0 && s + 1 < steps {
                    try observer?.checkpointDue(run: self)
                }
            }
        }
        let seconds = Date().timeIntervalSince(start)
        let val = try stoppable(epoch: e, step: steps, observer) {   // every step done, validation not
            try evaluate(validation, values: trainer.values)
        }
        let sums = epochSums
        epoch = e
        stepInEpoch = 0
        epochSums = LossSums()
        let improved = val.loss < bestValidationLoss
        if improved {
            bestValidationLoss = val.loss
            bestEpoch = e
            bestValues.storage.copy(from: trainer.values.storage)
        }
        if e > options.warmupEpochs { epochsWithoutImprovement = improved ? 0 : epochsWithoutImprovement + 1 }
        let record = EpochRecord(epoch: e, beta: beta, train: LossSummary(sums), validation: val, seconds: seconds,
                                 samplesPerSecond: Double(sums.count - resumedCount) / Swift.max(seconds, 1e-9), isBest: improved,
                                 cluster: cluster?.scaled(by: Double(steps - firstStep)))
        history.append(record)
        try observer?.epochFinished(record, run: self)
        return record
    }

    /// Saves the state as it is (after `step` of `epoch`) and stops the run.
    func interrupt(epoch: Int, step: Int, _ observer: TrainingObserver?) throws -> Never {
        try observer?.checkpointDue(run: self)
        throw TrainingError.interrupted(epoch: epoch, step: step)
    }

    /// `body()`, or, when the engine gives it up because a stop was requested (`StepAbandoned`),
    /// `interrupt` at the state before it: after `step` of `epoch`.
    func stoppable<R>(epoch: Int, step: Int, _ observer: TrainingObserver?, _ body: () throws -> R) throws -> R {
        do { return try body() } catch is StepAbandoned where stop?.isRequested == true {
            try interrupt(epoch: epoch, step: step, observer)
        }
    }

    /// The β = 1 loss of a whole image set under `values`, with evaluation noise keyed by
    /// (seed, image index) so that every epoch sees the same noise.
    public func evaluate(_ set: ImageSource, values: ParameterVector<Float>, limit: Int = 0) throws -> LossSummary {
        let b = options.batchSize, n = limit > 0 ? Swift.min(limit, set.count) : set.count
        let x = batch.reserve(b * config.inputSize)
        var sums = LossSums()
        var indices = [Int](repeating: 0, count: b)
        var first = 0
        while first < n {
            let rows = Swift.min(b, n - first)
            for r in 0..<rows { indices[r] = first + r }
            try indices.withUnsafeBufferPointer { idx in
                set.fill(indices: UnsafeBufferPointer(rebasing: idx[0..<rows]), epoch: 0, into: x)
                sums = sums + (try trainer.engine.evaluate(x: x, rows: rows, beta: 1, values: values,
                                                        noise: .keyed(seed: options.seed, epoch: 0, indices: idx.baseAddress!,
                                                                      purpose: .evaluation)))
            }
            first += rows
        }
        return LossSummary(sums)
    }
}
