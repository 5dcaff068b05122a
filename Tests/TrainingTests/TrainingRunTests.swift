import XCTest
import Foundation
import Tensor
import NN
import VAE
import Training
import Artifacts
import TestSupport

extension ArraySource: ImageSource {}

final class TrainingRunTests: XCTestCase {
    let config = ModelConfig(architecture: .vae, prior: .vampprior, likelihood: .bernoulli,
                             inputSize: 16, hiddenSize: 8, latentSize: 3, components: 6)
    var options: TrainingOptions {
        var o = TrainingOptions()
        o.epochs = 6; o.warmupEpochs = 2; o.patience = 2; o.batchSize = 10; o.dataUnitSize = 5; o.priorUnitSize = 3
        o.learningRate = 1e-2; o.importanceSamples = 20; o.threads = 2
        return o
    }
    let train = ArraySource(count: 40, pixels: 16, seed: 1), validation = ArraySource(count: 20, pixels: 16, seed: 2)

    func testRun_LossFallsAndWarmUpRamps() throws {
        let run = try TrainingRun(config: config, options: options, train: train, validation: validation)
        let first = try run.runEpoch(observer: nil)
        var last = first
        for _ in 0..<3 { last = try run.runEpoch(observer: nil) }
        XCTAssertEqual(first.beta, 0.5)
        XCTAssertEqual(last.beta, 1)
        XCTAssertLessThan(last.validation.loss, first.validation.loss)
        XCTAssertEqual(run.history.count, 4)
    }

    /// Three epochs straight, or two, a checkpoint, a fresh process-like restore and one more:
    /// the same bits in the parameters and in Adam's moments.
    func testCheckpoint_ResumeContinuesExactly() throws {
        let straight = try TrainingRun(config: config, options: options, train: train, validation: validation)
        for _ in 0..<3 { try straight.runEpoch(observer: nil) }

        let first = try TrainingRun(config: config, options: options, train: train, validation: validation)
        for _ in 0..<2 { try first.runEpoch(observer: nil) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.save(first, to: url)
        let resumed = try TrainingRun(config: config, options: options, train: train, validation: validation)
        try Checkpoint.restore(resumed, from: url)
        XCTAssertEqual(resumed.epoch, 2)
        try resumed.runEpoch(observer: nil)

        XCTAssertEqual(resumed.trainer.values.storage.scalars.map(\.bitPattern), straight.trainer.values.storage.scalars.map(\.bitPattern))
        XCTAssertEqual(resumed.trainer.adam.secondMoments.storage.scalars.map(\.bitPattern),
                       straight.trainer.adam.secondMoments.storage.scalars.map(\.bitPattern))
        XCTAssertEqual(resumed.trainer.adam.step, straight.trainer.adam.step)
        XCTAssertEqual(resumed.history.last?.validation, straight.history.last?.validation)
    }

    func testCheckpoint_WrongModelIsRefused() throws {
        let run = try TrainingRun(config: config, options: options, train: train, validation: validation)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("other-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try Checkpoint.save(run, to: url)
        var other = config
        other.components = 7
        let otherRun = try TrainingRun(config: other, options: options, train: train, validation: validation)
        XCTAssertThrowsError(try Checkpoint.restore(otherRun, from: url)) { error in
            XCTAssertEqual(error as? CheckpointError, .configMismatch(path: url.path))
        }
    }

    func testTestReport_ImportanceSampledBoundIsAboveTheELBO() throws {
        let run = try TrainingRun(config: config, options: options, train: train, validation: validation)
        let report = try run.testReport(validation)
        XCTAssertEqual(report.images, 20)
        XCTAssertGreaterThanOrEqual(report.logLikelihood, report.elbo.elbo - 0.5)
        XCTAssertEqual(report.histogramCounts.reduce(0, +), 20)
        XCTAssertNil(report.bitsPerDim)
    }
}
