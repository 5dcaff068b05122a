import XCTest
import Foundation
import Tensor
import NN
import VAE
import TestSupport

/// Each model's loss in Float on fixed weights and inputs, against the independent numpy
/// reference in `Reference/reference.py` (its output is `Reference/cases.json`).
final class ReferenceLossTests: XCTestCase {
    struct Parameter: Decodable { let name: String; let shape: [Int]; let values: [Double] }
    struct Case: Decodable {
        let architecture: Architecture, prior: PriorKind, likelihood: Likelihood
        let inputSize: Int, hiddenSize: Int, latentSize: Int, components: Int, batch: Int
        let beta: Double
        let parameters: [Parameter]
        let x: [Double], noise: [Double]
        let reconstruction: [Double], kl: [Double], loss: [Double]
        let mean_loss: Double
    }
    struct File: Decodable { let cases: [Case] }

    func loadCases() throws -> [Case] {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "cases", withExtension: "json", subdirectory: "Reference"))
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    func testLoss_MatchesNumpyReference_Float() throws {
        let cases = try loadCases()
        XCTAssertEqual(cases.count, 12)
        for c in cases {
            let name = "\(c.architecture)/\(c.prior)/\(c.likelihood)"
            let config = ModelConfig(architecture: c.architecture, prior: c.prior, likelihood: c.likelihood,
                                     inputSize: c.inputSize, hiddenSize: c.hiddenSize, latentSize: c.latentSize,
                                     components: c.components)
            let model = LatentModel<Float>.make(config)
            XCTAssertEqual(model.layout.entries.map(\.name), c.parameters.map(\.name), name)
            XCTAssertEqual(model.layout.entries.map(\.shape), c.parameters.map(\.shape), name)
            let values = ParameterVector<Float>(layout: model.layout), grads = ParameterVector<Float>(layout: model.layout)
            for p in c.parameters {
                let e = try XCTUnwrap(model.layout.entry(named: p.name))
                for (i, v) in p.values.enumerated() { values.data[e.offset + i] = Float(v) }
            }
            let x = c.x.map(Float.init), noise = c.noise.map(Float.init)
            let sums = x.withUnsafeBufferPointer { xp in
                noise.withUnsafeBufferPointer { np in
                    model.loss(x: xp.baseAddress!, noise: np.baseAddress!, rows: c.batch, beta: Float(c.beta),
                               ParameterAccess(values: values, gradients: grads))
                }
            }
            let re = (0..<c.batch).map { Double(model.reconstructionPerRow.data[$0]) }
            let kl = (0..<c.batch).map { Double(model.klPerRow.data[$0]) }
            let loss = (0..<c.batch).map { re[$0] + c.beta * kl[$0] }
            assertClose(loss, c.loss, rtol: 1e-5, name + " loss")
            assertClose(re, c.reconstruction, rtol: 1e-5, name + " reconstruction")
            // The KL estimate can be near 0; judge it relative to the loss it is part of.
            let klScale = c.loss.map { abs($0) }.max()!
            assertClose(kl, c.kl, rtol: 1e-5, atol: 1e-5 * klScale, name + " kl")
            assertClose(sums.loss / Double(c.batch), c.mean_loss, rtol: 1e-5, name + " mean")
        }
    }

    /// The same cases in Double agree to 1e-10: the Float tolerance is rounding, not a formula gap.
    func testLoss_MatchesNumpyReference_Double() throws {
        for c in try loadCases() {
            let config = ModelConfig(architecture: c.architecture, prior: c.prior, likelihood: c.likelihood,
                                     inputSize: c.inputSize, hiddenSize: c.hiddenSize, latentSize: c.latentSize,
                                     components: c.components)
            let model = LatentModel<Double>.make(config)
            let values = ParameterVector<Double>(layout: model.layout), grads = ParameterVector<Double>(layout: model.layout)
            for p in c.parameters {
                let e = try XCTUnwrap(model.layout.entry(named: p.name))
                for (i, v) in p.values.enumerated() { values.data[e.offset + i] = v }
            }
            _ = c.x.withUnsafeBufferPointer { xp in
                c.noise.withUnsafeBufferPointer { np in
                    model.loss(x: xp.baseAddress!, noise: np.baseAddress!, rows: c.batch, beta: c.beta,
                               ParameterAccess(values: values, gradients: grads))
                }
            }
            let loss = (0..<c.batch).map { model.reconstructionPerRow.data[$0] + c.beta * model.klPerRow.data[$0] }
            assertClose(loss, c.loss, rtol: 1e-10, "\(c.architecture)/\(c.prior)/\(c.likelihood)")
        }
    }
}
