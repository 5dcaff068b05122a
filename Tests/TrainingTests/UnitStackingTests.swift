import XCTest
import Tensor
import NN
import VAE
import Training
import TestSupport

/// Data units stacked into one pass (`RowGroups`, `Units.stackedData`) give each unit its own
/// gradients, ∂S and loss sums; the executor stacks only where that keeps every bit.
final class UnitStackingTests: XCTestCase {
    static func config(_ a: Architecture, _ prior: PriorKind, _ likelihood: Likelihood) -> ModelConfig {
        ModelConfig(architecture: a, prior: prior, likelihood: likelihood,
                    inputSize: 20, hiddenSize: 8, latentSize: 3, components: 10)
    }

    /// Units run stacked and one by one, on the same inputs: per unit, the loss sums, the gradient
    /// over the data parameters and ∂S (VampPrior).
    func runBothWays<T: Scalar>(_ type: T.Type, _ config: ModelConfig, rowCounts: [Int], gradient: Bool = true)
        -> (alone: [(LossSums, [T], [T])], stacked: [(LossSums, [T], [T])]) {
        let model = LatentModel<T>.make(config)
        let values = ParameterVector<T>(layout: model.layout), scratch = ParameterVector<T>(layout: model.layout)
        model.initialize(values, seed: 21, pseudoInputImages: nil)
        let k = config.components, w = 2 * config.latentSize, d = config.inputSize, nw = model.noiseWidth
        let vamp = config.prior == .vampprior, rows = rowCounts.reduce(0, +)
        var s = [T](repeating: 0, count: k * w)
        if vamp {
            s.withUnsafeMutableBufferPointer {
                Units.priorForward(model, chunk: 0, range: 0..<k, values: values.data, scratch: scratch.data, into: $0.baseAddress!)
            }
        }
        var rng = FixtureRandom(seed: 8)
        let x: [T] = (0..<(rows * d)).map { _ in
            config.likelihood == .bernoulli ? (rng.uniform() < 0.3 ? 1 : 0) : (T(Int(rng.uniform() * 256)) + 0.5) / 256
        }
        var eps = [T](repeating: 0, count: rows * nw)
        eps.withUnsafeMutableBufferPointer {
            for r in 0..<rows {
                Units.drawNoise(seed: 3, epoch: 0, sample: r, purpose: .reparameterization, into: $0.baseAddress! + r * nw, count: nw)
            }
        }
        let data = GradientRanges(model: model).data
        let gradients = rowCounts.map { _ in ParameterVector<T>(layout: model.layout) }
        var dStats = rowCounts.map { _ in [T](repeating: .nan, count: vamp ? k * w : 0) }
        func collect(_ sums: [LossSums]) -> [(LossSums, [T], [T])] {
            rowCounts.indices.map { g in
                (sums[g], gradient ? Array(UnsafeBufferPointer(start: gradients[g].data + data.lowerBound, count: data.count)) : [],
                 gradient ? dStats[g] : [])
            }
        }
        var start = 0, alone: [LossSums] = []
        for (g, n) in rowCounts.enumerated() {
            alone.append(s.withUnsafeBufferPointer { sp in
                dStats[g].withUnsafeMutableBufferPointer { dsp in
                    Units.data(model, x: x.withUnsafeBufferPointer { $0.baseAddress! + start * d },
                               noise: eps.withUnsafeBufferPointer { $0.baseAddress! + start * nw }, rows: n, beta: 0.6,
                               stats: vamp ? sp.baseAddress! : nil, values: values.data,
                               gradient: gradient ? gradients[g].data : nil,
                               dStats: vamp && gradient ? dsp.baseAddress! : nil, scratch: scratch.data)
                }
            })
            start += n
        }
        let first = collect(alone)
        for g in rowCounts.indices { gradients[g].zero(); dStats[g] = [T](repeating: .nan, count: vamp ? k * w : 0) }
        let groups = RowGroups<T>()
        var stacked = [LossSums](repeating: LossSums(), count: rowCounts.count)
        let dsPointers = rowCounts.indices.map { g in dStats[g].withUnsafeMutableBufferPointer { $0.baseAddress } }
        groups.set(rowCounts: rowCounts, gradients: gradients.map(\.data), statsGradients: vamp ? dsPointers : dsPointers.map { _ in nil })
        s.withUnsafeBufferPointer { sp in
            Units.stackedData(model, x: x, noise: eps, beta: 0.6, stats: vamp ? sp.baseAddress! : nil, values: values.data,
                              groups: groups, gradient: gradient, scratch: scratch.data, sums: { stacked[$0] = $1 })
        }
        return (first, collect(stacked))
    }

    /// The grouping is right: in Double, each stacked unit matches the unit alone to rounding
    /// (a wrong row range, buffer or missing reset would be off by whole terms), for every model,
    /// prior and likelihood, with unequal groups.
    func testStackedUnits_MatchUnitsAlone_Double() {
        for a in Architecture.allCases {
            for prior in PriorKind.allCases {
                for likelihood in Likelihood.allCases {
                    let name = "\(a)/\(prior)/\(likelihood)"
                    let (alone, stacked) = runBothWays(Double.self, Self.config(a, prior, likelihood), rowCounts: [4, 1, 3])
                    for g in alone.indices {
                        assertClose(stacked[g].0.loss, alone[g].0.loss, rtol: 1e-12, "\(name) unit \(g) loss")
                        assertClose(stacked[g].0.kl, alone[g].0.kl, rtol: 1e-12, "\(name) unit \(g) KL")
                        XCTAssertEqual(stacked[g].0.count, alone[g].0.count, name)
                        assertClose(stacked[g].1, alone[g].1, rtol: 1e-10, atol: 1e-13, "\(name) unit \(g) gradient")
                        assertClose(stacked[g].2, alone[g].2, rtol: 1e-10, atol: 1e-13, "\(name) unit \(g) ∂S")
                        XCTAssertTrue(alone[g].1.contains { $0 != 0 }, name)
                        if prior == .vampprior { XCTAssertTrue(alone[g].2.contains { $0 != 0 }, name) }
                    }
                    XCTAssertNotEqual(alone[0].1, alone[2].1, "\(name): the units' gradients should differ")
                }
            }
        }
    }

    /// Without a gradient (evaluation), stacked units give each unit's loss sums.
    func testStackedUnits_LossOnly_Double() {
        for a in Architecture.allCases {
            let (alone, stacked) = runBothWays(Double.self, Self.config(a, .vampprior, .bernoulli), rowCounts: [2, 5], gradient: false)
            for g in alone.indices { assertClose(stacked[g].0.loss, alone[g].0.loss, rtol: 1e-12, "\(a) unit \(g)") }
        }
    }

    /// Prior units run as one chunk give each unit's statistics, encoder gradient and pseudo-input
    /// rows: in Double, within rounding of the units run one by one (a wrong row offset or buffer
    /// would be off by whole terms), for both architectures, with unequal units.
    func testStackedPriorUnits_MatchUnitsAlone_Double() {
        for a in Architecture.allCases {
            let config = Self.config(a, .vampprior, .bernoulli)
            let model = LatentModel<Double>.make(config)
            let values = ParameterVector<Double>(layout: model.layout), scratch = ParameterVector<Double>(layout: model.layout)
            model.initialize(values, seed: 13, pseudoInputImages: nil)
            let k = config.components, w = 2 * config.latentSize, d = config.inputSize
            let units = [0..<3, 3..<7, 7..<10]
            var rng = FixtureRandom(seed: 6)
            let dStats = (0..<(k * w)).map { _ in rng.uniform(-1, 1) }
            var aloneStats = [Double](repeating: .nan, count: k * w), stackedStats = aloneStats
            let alone = units.map { _ in ParameterVector<Double>(layout: model.layout) }
            let stacked = units.map { _ in ParameterVector<Double>(layout: model.layout) }
            aloneStats.withUnsafeMutableBufferPointer { sp in
                for (i, r) in units.enumerated() {
                    Units.priorForward(model, chunk: i, range: r, values: values.data, scratch: scratch.data, into: sp.baseAddress! + r.lowerBound * w)
                }
            }
            dStats.withUnsafeBufferPointer { ds in
                for (i, r) in units.enumerated() {
                    Units.priorBackward(model, chunk: i, dStats: ds.baseAddress! + r.lowerBound * w, values: values.data, gradient: alone[i].data)
                }
            }
            // Units 1 and 2 as one chunk, which starts at row 3, not 0.
            let chunk = units[1].lowerBound..<units[2].upperBound
            stackedStats.withUnsafeMutableBufferPointer {
                Units.priorForward(model, chunk: 5, range: chunk, values: values.data, scratch: scratch.data,
                                   into: $0.baseAddress! + chunk.lowerBound * w)
            }
            let groups = RowGroups<Double>()
            groups.set(rowCounts: [units[1].count, units[2].count], gradients: [stacked[1].data, stacked[2].data], statsGradients: [nil, nil])
            dStats.withUnsafeBufferPointer {
                Units.stackedPriorBackward(model, chunk: 5, dStats: $0.baseAddress! + chunk.lowerBound * w, values: values.data,
                                           groups: groups, scratch: scratch.data)
            }
            assertClose(Array(stackedStats[(chunk.lowerBound * w)...]), Array(aloneStats[(chunk.lowerBound * w)...]),
                        rtol: 1e-12, atol: 1e-14, "\(a) statistics")
            let ranges = GradientRanges(model: model)
            for (i, r) in units.enumerated().dropFirst() {
                func part(_ v: ParameterVector<Double>) -> [Double] {
                    Array(UnsafeBufferPointer(start: v.data + ranges.priorEncoder.lowerBound, count: ranges.priorEncoder.count))
                        + Array(UnsafeBufferPointer(start: v.data + ranges.pseudoInputs.lowerBound + r.lowerBound * d, count: r.count * d))
                }
                assertClose(part(stacked[i]), part(alone[i]), rtol: 1e-10, atol: 1e-13, "\(a) prior unit \(i)")
                XCTAssertTrue(part(alone[i]).contains { $0 != 0 }, "\(a)")
            }
            XCTAssertNotEqual(Array(UnsafeBufferPointer(start: alone[1].data + ranges.priorEncoder.lowerBound, count: 50)),
                              Array(UnsafeBufferPointer(start: alone[2].data + ranges.priorEncoder.lowerBound, count: 50)))
        }
    }

    /// The executor's probe says yes exactly when the Float bits are equal, and then a step with
    /// stacking on (one thread stacks all three units) gives the bits of one with it off.
    func testExecutor_StacksOnlyWhereEveryBitIsKept() throws {
        let plan = StepPlan(batchSize: 12, dataUnitSize: 4, priorUnitSize: 3)
        for a in Architecture.allCases {
            for prior in PriorKind.allCases {
                let config = Self.config(a, prior, .bernoulli)
                let (alone, stacked) = runBothWays(Float.self, config, rowCounts: [4, 4, 4])
                let equal = zip(alone, stacked).allSatisfy { l, r in
                    l.0 == r.0 && l.1.map(\.bitPattern) == r.1.map(\.bitPattern) && l.2.map(\.bitPattern) == r.2.map(\.bitPattern)
                }
                func step(stacking: Bool) throws -> ([UInt32], Bool, Bool) {
                    let trainer = Trainer<Float>(config: config, plan: plan, seed: 3) { model, plan in
                        StepExecutor(model: model, plan: plan, threads: 1, stacking: stacking)
                    }
                    let executor = trainer.engine as! StepExecutor<Float>
                    var rng = FixtureRandom(seed: 2)
                    let x: [Float] = (0..<(12 * 20)).map { _ in rng.uniform() < 0.3 ? 1 : 0 }
                    for s in 0..<2 {
                        try x.withUnsafeBufferPointer {
                            _ = try trainer.step(x: $0.baseAddress!, sampleIndices: Array((s * 12)..<(s * 12 + 12)), epoch: 0, beta: 0.4)
                        }
                    }
                    return (trainer.values.storage.scalars.map(\.bitPattern), executor.ranStacked, executor.ranPriorStacked)
                }
                let on = try step(stacking: true), off = try step(stacking: false)
                XCTAssertFalse(off.1)
                if prior == .vampprior { print("UnitStackingTests: \(a)/vampprior: prior units stacked: \(on.2)") }
                XCTAssertEqual(on.1, equal, "\(a)/\(prior): the probe disagrees with a direct comparison")
                XCTAssertEqual(on.0, off.0, "\(a)/\(prior): stacking changed the trained bits")
                if !equal { print("UnitStackingTests: \(a)/\(prior): this CPU's BLAS gives row-count-dependent bits at these sizes; units run one by one") }
            }
        }
    }

    /// The default models' 50-row units on this machine: stacked if and only if bit-equal (which
    /// depends on the BLAS kernel: OpenBLAS's AVX-512 kernels give it, its Haswell/Zen ones do not).
    func testDefaultModels_ProbeAgreesWithBits() throws {
        for a in Architecture.allCases {
            let config = ModelConfig(architecture: a, prior: .vampprior, likelihood: .bernoulli)
            let executor = StepExecutor<Float>(model: LatentModel<Float>.make(config), plan: StepPlan(batchSize: 100), threads: 1)
            let (alone, stacked) = runBothWays(Float.self, config, rowCounts: [50, 50])
            let equal = zip(alone, stacked).allSatisfy { l, r in
                l.0 == r.0 && l.1.map(\.bitPattern) == r.1.map(\.bitPattern) && l.2.map(\.bitPattern) == r.2.map(\.bitPattern)
            }
            XCTAssertEqual(executor.stackingKeepsBits(rowCounts: [50, 50]), equal, "\(a)")
            print("UnitStackingTests: \(a)/vampprior, two 50-row units: \(equal ? "stacked (bit-equal on this CPU)" : "one by one (this CPU's BLAS gives row-count-dependent bits)")")
        }
    }
}
