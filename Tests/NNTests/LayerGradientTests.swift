import XCTest
import Tensor
import NN
import TestSupport

/// Finite-difference checks, in Double, of every layer's backward pass.
final class LayerGradientTests: XCTestCase {
    /// Checks `backward` of a layer y = layer(x) against central differences of `Σ w ∘ y`,
    /// with respect to every parameter and every input.
    func checkLayer(inputs: Int, rows: Int, seed: UInt64,
                    make: (ParameterLayout) -> (forward: (UnsafePointer<Double>, Int, ParameterAccess<Double>) -> MatrixBuffer<Double>,
                                                backward: (UnsafePointer<Double>, ParameterAccess<Double>, UnsafeMutablePointer<Double>) -> Void),
                    file: StaticString = #filePath, line: UInt = #line) {
        let layout = ParameterLayout()
        let layer = make(layout)
        var rng = FixtureRandom(seed: seed)
        let theta = rng.normals(layout.count, scale: 0.5)
        let x = rng.normals(rows * inputs)
        let values = ParameterVector<Double>(layout: layout), grads = ParameterVector<Double>(layout: layout)
        func objective(_ theta: [Double], _ x: [Double], weights: [Double]?) -> (Double, Int) {
            for i in 0..<theta.count { values.data[i] = theta[i] }
            var xs = x
            let y = xs.withUnsafeMutableBufferPointer { layer.forward($0.baseAddress!, rows, ParameterAccess(values: values, gradients: grads)) }
            let w = weights ?? [Double](repeating: 1, count: y.count)
            var s = 0.0
            for i in 0..<y.count { s += w[i] * y.data[i] }
            return (s, y.count)
        }
        let (_, outCount) = objective(theta, x, weights: nil)
        let w = rng.normals(outCount)
        // Analytic.
        _ = objective(theta, x, weights: w)
        grads.zero()
        var dx = [Double](repeating: .nan, count: x.count)
        var xs = x
        xs.withUnsafeMutableBufferPointer { xp in
            _ = layer.forward(xp.baseAddress!, rows, ParameterAccess(values: values, gradients: grads))
            w.withUnsafeBufferPointer { wp in
                dx.withUnsafeMutableBufferPointer { layer.backward(wp.baseAddress!, ParameterAccess(values: values, gradients: grads), $0.baseAddress!) }
            }
        }
        let analyticTheta = grads.storage.scalars
        let numericTheta = numericalGradient(at: theta) { objective($0, x, weights: w).0 }
        let numericX = numericalGradient(at: x) { objective(theta, $0, weights: w).0 }
        assertClose(analyticTheta, numericTheta, rtol: 1e-6, atol: 1e-7, "parameters", file: file, line: line)
        assertClose(dx, numericX, rtol: 1e-6, atol: 1e-7, "inputs", file: file, line: line)
    }

    func testLinear_Gradients() {
        checkLayer(inputs: 4, rows: 5, seed: 1) { layout in
            let l = Linear<Double>("l", inputs: 4, outputs: 3, layout: layout)
            return ({ l.forward($0, rows: $1, $2) }, { l.backward($0, $1, inputGradient: $2) })
        }
    }

    func testLinear_FusedHeads_Gradients() {
        checkLayer(inputs: 3, rows: 4, seed: 2) { layout in
            let l = Linear<Double>("l", inputs: 3, outputs: 2, heads: ["mean", "logvar"], layout: layout)
            return ({ l.forward($0, rows: $1, $2) }, { l.backward($0, $1, inputGradient: $2) })
        }
    }

    func testGatedDense_Gradients() {
        checkLayer(inputs: 5, rows: 3, seed: 3) { layout in
            let l = GatedDense<Double>("g", inputs: 5, outputs: 4, layout: layout)
            return ({ l.forward($0, rows: $1, $2) }, { l.backward($0, $1, inputGradient: $2) })
        }
    }

    func testGatedDense_ParameterNamesAndLayout() {
        let layout = ParameterLayout()
        _ = GatedDense<Float>("encoder.0", inputs: 5, outputs: 4, layout: layout)
        XCTAssertEqual(layout.entries.map(\.name),
                       ["encoder.0.h.weight", "encoder.0.g.weight", "encoder.0.h.bias", "encoder.0.g.bias"])
        XCTAssertEqual(layout.entries.map(\.shape), [[4, 5], [4, 5], [4], [4]])
        XCTAssertEqual(layout.entries.map(\.offset), [0, 20, 40, 44])
    }

    /// A gated layer's output equals h ∘ σ(g) computed from separate Linear maps.
    func testGatedDense_ForwardMatchesDefinition() {
        let layout = ParameterLayout()
        let l = GatedDense<Double>("g", inputs: 2, outputs: 1, layout: layout)
        let values = ParameterVector<Double>(layout: layout, repeating: 0), grads = ParameterVector<Double>(layout: layout)
        // h = 1·x0 + 2·x1 + 0.5, g = −1·x0 + 0.5·x1 − 0.25
        for (i, v) in [1.0, 2, -1, 0.5, 0.5, -0.25].enumerated() { values.data[i] = v }
        let x: [Double] = [0.3, -0.7]
        let y = x.withUnsafeBufferPointer { l.forward($0.baseAddress!, rows: 1, ParameterAccess(values: values, gradients: grads)).data[0] }
        let h = 0.3 + 2 * -0.7 + 0.5, g = -0.3 + 0.5 * -0.7 - 0.25
        assertClose(y, h / (1 + exp(-g)), rtol: 1e-15)
    }
}
