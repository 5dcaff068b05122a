import XCTest
import Tensor
import NN
import VAE
import Training
import TestSupport

/// The split step (prior units + data units, summed in a fixed order) gives bit-identical
/// gradients however the units are grouped onto threads.
final class SplitStepTests: XCTestCase {
    static func config(_ a: Architecture) -> ModelConfig {
        ModelConfig(architecture: a, prior: .vampprior, likelihood: .bernoulli,
                    inputSize: 20, hiddenSize: 8, latentSize: 3, components: 10)
    }
    let plan = StepPlan(batchSize: 12, dataUnitSize: 4, priorUnitSize: 3)   // 3 data units, 4 prior units

    func batch(rows: Int, d: Int) -> [Float] {
        var rng = FixtureRandom(seed: 11)
        return (0..<(rows * d)).map { _ in rng.uniform() < 0.3 ? 1 : 0 }
    }

    func gradient(_ a: Architecture, threads: Int) -> [Float] {
        let trainer = Trainer<Float>(config: Self.config(a), plan: plan, threads: threads, seed: 3)
        let x = batch(rows: 12, d: 20)
        let eps = UnsafeMutablePointer<Float>.allocate(capacity: 12 * trainer.model.noiseWidth)
        defer { eps.deallocate() }
        trainer.fillNoise(sampleIndices: Array(0..<12), epoch: 0, into: eps)
        _ = x.withUnsafeBufferPointer {
            (trainer.engine as! StepExecutor).run(x: $0.baseAddress!, noise: eps, rows: 12, beta: 0.5, values: trainer.values)
        }
        return trainer.engine.gradient.storage.scalars
    }

    func testSplitStep_BitIdenticalForAnyThreadCount() {
        for a in Architecture.allCases {
            let one = gradient(a, threads: 1)
            for t in [2, 3, 4] {
                let other = gradient(a, threads: t)
                XCTAssertEqual(one.map(\.bitPattern), other.map(\.bitPattern), "\(a): \(t) threads differ from 1")
            }
            XCTAssertTrue(one.contains { $0 != 0 })
        }
    }

    /// The split step equals the whole step (one replica, one unit, one prior chunk) up to
    /// rounding, in Double: the split is a regrouping of the same sums, not different maths.
    func testSplitStep_EqualsWholeStep_Double() {
        for a in Architecture.allCases {
            let trainer = Trainer<Double>(config: Self.config(a), plan: plan, threads: 2, seed: 3)
            let x = batch(rows: 12, d: 20).map(Double.init)
            var eps = [Double](repeating: 0, count: 12 * trainer.model.noiseWidth)
            eps.withUnsafeMutableBufferPointer { trainer.fillNoise(sampleIndices: Array(0..<12), epoch: 0, into: $0.baseAddress!) }
            let split = x.withUnsafeBufferPointer { xp in
                eps.withUnsafeBufferPointer { (trainer.engine as! StepExecutor).run(x: xp.baseAddress!, noise: $0.baseAddress!, rows: 12, beta: 0.5, values: trainer.values) }
            }
            let splitGradient = trainer.engine.gradient.storage.scalars.map { $0 * 12 }   // the mean, times B
            let whole = LatentModel<Double>.make(Self.config(a))
            let grads = ParameterVector<Double>(layout: whole.layout)
            let wholeSums = x.withUnsafeBufferPointer { xp in
                eps.withUnsafeBufferPointer {
                    whole.lossAndGradient(x: xp.baseAddress!, noise: $0.baseAddress!, rows: 12, beta: 0.5,
                                          ParameterAccess(values: UnsafePointer(trainer.values.data), gradients: grads.data))
                }
            }
            assertClose(split.loss, wholeSums.loss, rtol: 1e-13)
            assertClose(splitGradient, grads.storage.scalars, rtol: 1e-10, atol: 1e-12, "\(a)")
        }
    }

    /// Several Adam steps with 1 and with 3 threads end on the same bits, also when the threads
    /// claim the reduction's and the update's blocks many at a time (blocks of 7 elements).
    func testTraining_ParametersBitIdenticalAcrossThreads() throws {
        func train(threads: Int, blockSize: Int? = nil) throws -> [UInt32] {
            let plan = self.plan
            let trainer = Trainer<Float>(config: Self.config(.hvae), plan: plan, threads: threads, seed: 5) {
                StepExecutor(model: $0, plan: $1, threads: threads, blockSize: blockSize)
            }
            let x = batch(rows: 12, d: 20)
            for s in 0..<4 {
                try x.withUnsafeBufferPointer {
                    _ = try trainer.step(x: $0.baseAddress!, sampleIndices: Array((s * 12)..<(s * 12 + 12)), epoch: 0, beta: 0.3)
                }
            }
            return trainer.values.storage.scalars.map(\.bitPattern)
        }
        let one = try train(threads: 1)
        XCTAssertEqual(one, try train(threads: 3))
        XCTAssertEqual(one, try train(threads: 2, blockSize: 7))
        XCTAssertEqual(one, try train(threads: 3, blockSize: 7))
    }

    /// A data unit's ∂loss/∂S is final when `dStatsReady` is called (a worker sends it from
    /// there), the call comes once, and asking for it leaves every gradient bit as it was.
    func testDataUnit_StatsGradientReadyEarly_FinalAndSameBits() {
        for a in Architecture.allCases {
            let model = LatentModel<Float>.make(Self.config(a))
            let values = ParameterVector<Float>(layout: model.layout)
            model.initialize(values, seed: 5, pseudoInputImages: nil)
            let k = model.config.components, w = 2 * model.config.latentSize, rows = 4
            let stats = ParameterVector<Float>(layout: model.layout)   // scratch for the prior pass
            var s = [Float](repeating: 0, count: k * w)
            s.withUnsafeMutableBufferPointer {
                Units.priorForward(model, chunk: 0, range: 0..<k, values: values.data, scratch: stats.data, into: $0.baseAddress!)
            }
            let x = batch(rows: rows, d: 20)
            var eps = [Float](repeating: 0, count: rows * model.noiseWidth)
            eps.withUnsafeMutableBufferPointer {
                for r in 0..<rows {
                    Units.drawNoise(seed: 1, epoch: 0, sample: r, purpose: .reparameterization,
                                    into: $0.baseAddress! + r * model.noiseWidth, count: model.noiseWidth)
                }
            }
            func run(early: Bool) -> (gradient: [Float], dStats: [Float], atReady: [[Float]]) {
                let g = ParameterVector<Float>(layout: model.layout), scratch = ParameterVector<Float>(layout: model.layout)
                var ds = [Float](repeating: .nan, count: k * w)
                var seen: [[Float]] = []
                ds.withUnsafeMutableBufferPointer { dsp in
                    let base = dsp.baseAddress!
                    _ = Units.data(model, x: x, noise: eps, rows: rows, beta: 0.7, stats: s, values: values.data,
                                   gradient: g.data, dStats: base, scratch: scratch.data,
                                   dStatsReady: { _ in if early { seen.append(Array(UnsafeBufferPointer(start: base, count: k * w))) } })
                }
                return (g.storage.scalars, ds, seen)
            }
            let plain = run(early: false), early = run(early: true)
            XCTAssertEqual(early.atReady.count, 1, "\(a)")
            XCTAssertEqual(early.atReady.first?.map(\.bitPattern), early.dStats.map(\.bitPattern), "\(a): ∂S changed after it was sent")
            XCTAssertEqual(early.gradient.map(\.bitPattern), plain.gradient.map(\.bitPattern), "\(a)")
            XCTAssertEqual(early.dStats.map(\.bitPattern), plain.dStats.map(\.bitPattern), "\(a)")
            XCTAssertTrue(early.dStats.contains { $0 != 0 } && early.gradient.contains { $0 != 0 })
        }
    }

    /// A data unit computed in two parts, the first before the prior statistics exist (what a
    /// worker does with a prefetched unit), gives the bits of the unit in one go: the loss sums,
    /// the gradient, ∂S, for every model, prior and likelihood, with and without a gradient.
    func testDataUnit_InTwoParts_SameBits() {
        for a in Architecture.allCases {
            for prior in [PriorKind.standard, .vampprior, .mog] {
                for likelihood in [Likelihood.bernoulli, .logistic256] {
                    let config = ModelConfig(architecture: a, prior: prior, likelihood: likelihood,
                                             inputSize: 20, hiddenSize: 8, latentSize: 3, components: 10)
                    let model = LatentModel<Float>.make(config)
                    let values = ParameterVector<Float>(layout: model.layout)
                    model.initialize(values, seed: 9, pseudoInputImages: nil)
                    let k = config.components, w = 2 * config.latentSize, rows = 5
                    let scratch = ParameterVector<Float>(layout: model.layout)
                    var s = [Float](repeating: 0, count: k * w)
                    if prior == .vampprior {
                        s.withUnsafeMutableBufferPointer {
                            Units.priorForward(model, chunk: 0, range: 0..<k, values: values.data, scratch: scratch.data, into: $0.baseAddress!)
                        }
                    }
                    var rng = FixtureRandom(seed: 4)
                    let x: [Float] = (0..<(rows * 20)).map { _ in likelihood == .bernoulli ? (rng.uniform() < 0.3 ? 1 : 0) : (Float(Int(rng.uniform() * 256)) + 0.5) / 256 }
                    var eps = [Float](repeating: 0, count: rows * model.noiseWidth)
                    eps.withUnsafeMutableBufferPointer {
                        for r in 0..<rows {
                            Units.drawNoise(seed: 2, epoch: 1, sample: r, purpose: .reparameterization,
                                            into: $0.baseAddress! + r * model.noiseWidth, count: model.noiseWidth)
                        }
                    }
                    let stats: UnsafePointer<Float>? = prior == .vampprior ? s.withUnsafeBufferPointer { $0.baseAddress! } : nil
                    func run(twoParts: Bool, gradient: Bool) -> (LossSums, [UInt32], [UInt32]) {
                        let g = ParameterVector<Float>(layout: model.layout), scratch = ParameterVector<Float>(layout: model.layout)
                        var ds = [Float](repeating: .nan, count: k * w)
                        let sums = ds.withUnsafeMutableBufferPointer { dsp -> LossSums in
                            let dStats = prior == .vampprior && gradient ? dsp.baseAddress! : nil
                            let target = gradient ? g.data : nil
                            if twoParts {
                                Units.dataBeforePrior(model, x: x, noise: eps, rows: rows, values: values.data, scratch: scratch.data)
                                return Units.dataWithPrior(model, beta: 0.6, stats: stats, values: values.data, gradient: target,
                                                           dStats: dStats, scratch: scratch.data)
                            }
                            return Units.data(model, x: x, noise: eps, rows: rows, beta: 0.6, stats: stats, values: values.data,
                                              gradient: target, dStats: dStats, scratch: scratch.data)
                        }
                        return (sums, g.storage.scalars.map(\.bitPattern), ds.map(\.bitPattern))
                    }
                    for gradient in [true, false] {
                        let one = run(twoParts: false, gradient: gradient), two = run(twoParts: true, gradient: gradient)
                        let name = "\(a)/\(prior)/\(likelihood), gradient \(gradient)"
                        XCTAssertEqual([two.0.loss, two.0.reconstruction, two.0.kl].map(\.bitPattern),
                                       [one.0.loss, one.0.reconstruction, one.0.kl].map(\.bitPattern), name)
                        XCTAssertEqual(two.1, one.1, name)
                        XCTAssertEqual(two.2, one.2, name)
                        if gradient { XCTAssertTrue(one.1.contains { $0 != 0 }, name) }
                    }
                }
            }
        }
    }
}

final class TreeSumTests: XCTestCase {
    /// A pre-summed aligned subtree gives the same bits as summing its leaves inside the tree.
    func testTreeSum_AlignedSubtreeIsTheSame() {
        var rng = FixtureRandom(seed: 2)
        let leaves: [[Float]] = (0..<7).map { _ in (0..<33).map { _ in Float(rng.normal() * 1e3) } }
        var total = [Double](repeating: 0, count: 33)
        withPointers(leaves) { TreeSum.sum($0, count: 33, into: &total) }
        // Tree for 7 leaves: ((0+1)+(2+3)) + ((4+5)+6).
        for i in 0..<33 {
            let l = leaves.map { Double($0[i]) }
            let expected = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + l[6])
            XCTAssertEqual(total[i].bitPattern, expected.bitPattern)
        }
    }

    func withPointers(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> Void) {
        let copies = arrays.map { a -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: a.count); p.initialize(from: a, count: a.count); return p
        }
        body(copies.map { UnsafePointer($0) })
        copies.forEach { $0.deallocate() }
    }
}
