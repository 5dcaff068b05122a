import XCTest
import Tensor
import NN
import TestSupport

final class AdamTests: XCTestCase {
    /// Two Adam steps on a 3-element parameter, against the update written out by hand.
    func testAdam_MatchesHandComputedSteps() {
        let layout = ParameterLayout()
        layout.add("w", shape: [3])
        let theta = ParameterVector<Double>(layout: layout), grad = ParameterVector<Double>(layout: layout)
        let start: [Double] = [0.5, -1.0, 2.0]
        for i in 0..<3 { theta.data[i] = start[i] }
        var options = Adam<Double>.Options()
        options.learningRate = 0.1
        let adam = Adam<Double>(layout: layout, options: options)
        let g1: [Double] = [0.2, -0.4, 0.0], g2: [Double] = [-0.1, 0.3, 1.0]
        // By hand: β1 = 0.9, β2 = 0.999, ε = 1e-8.
        var m = [0.0, 0, 0], v = [0.0, 0, 0], expected = start
        for (t, g) in [g1, g2].enumerated() {
            let step = Double(t + 1)
            for i in 0..<3 {
                m[i] = 0.9 * m[i] + 0.1 * g[i]
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i]
                let mHat = m[i] / (1 - pow(0.9, step)), vHat = v[i] / (1 - pow(0.999, step))
                expected[i] -= 0.1 * mHat / (vHat.squareRoot() + 1e-8 * 1)
            }
            for i in 0..<3 { grad.data[i] = g[i] }
            adam.update(theta, gradient: grad)
        }
        // The hand form puts ε inside √v̂ + ε; torch puts it as √v/√bc2 + ε: identical algebra.
        assertClose(theta.storage.scalars, expected, rtol: 1e-12, atol: 1e-12)
        XCTAssertEqual(adam.step, 2)
        assertClose(adam.firstMoments.storage.scalars, m, rtol: 1e-12)
        assertClose(adam.secondMoments.storage.scalars, v, rtol: 1e-12)
    }

    /// With bias correction, Adam's first step moves each coordinate by lr·sign(g) (up to ε),
    /// and leaves coordinates with a zero gradient where they are.
    func testAdam_FirstStepIsLearningRateTimesSign() {
        let layout = ParameterLayout()
        layout.add("w", shape: [3])
        let theta = ParameterVector<Double>(layout: layout), grad = ParameterVector<Double>(layout: layout)
        for (i, g) in [0.2, -0.4, 0.0].enumerated() { theta.data[i] = 1; grad.data[i] = g }
        var options = Adam<Double>.Options(); options.learningRate = 0.1
        Adam<Double>(layout: layout, options: options).update(theta, gradient: grad)
        assertClose(theta.storage.scalars, [0.9, 1.1, 1.0], rtol: 1e-6)
    }

    /// AdamNormGrad divides each parameter tensor's gradient by its L2 norm before the update.
    func testAdam_NormalizedGradients() {
        let layout = ParameterLayout()
        layout.add("a", shape: [2]); layout.add("b", shape: [1])
        let theta = ParameterVector<Double>(layout: layout), grad = ParameterVector<Double>(layout: layout)
        for (i, g) in [3.0, 4.0, -2.0].enumerated() { grad.data[i] = g }
        var options = Adam<Double>.Options(); options.normalizeGradients = true
        let adam = Adam<Double>(layout: layout, options: options)
        adam.update(theta, gradient: grad)
        assertClose(grad.storage.scalars, [3 / (5 + 1e-7), 4 / (5 + 1e-7), -2 / (2 + 1e-7)], rtol: 1e-12)
        assertClose(adam.firstMoments.storage.scalars, grad.storage.scalars.map { 0.1 * $0 }, rtol: 1e-12)
    }

    /// The Float path (a C kernel, for vectorised sqrt) rounds exactly like the torch-order
    /// update written here in Swift Float arithmetic.
    func testAdam_FloatKernelMatchesReferenceLoopBitwise() {
        let n = 1003
        let layout = ParameterLayout()
        layout.add("w", shape: [n])
        var rng = FixtureRandom(seed: 4)
        let theta = ParameterVector<Float>(layout: layout)
        for i in 0..<n { theta.data[i] = Float(rng.normal()) }
        var options = Adam<Float>.Options(); options.weightDecay = 0.01
        let adam = Adam<Float>(layout: layout, options: options)
        var th = theta.storage.scalars, m = [Float](repeating: 0, count: n), v = m
        for step in 1...3 {
            let grads = rng.normals(n, scale: 0.05).map(Float.init)
            let gradient = ParameterVector<Float>(layout: layout)
            for i in 0..<n { gradient.data[i] = grads[i] }
            adam.update(theta, gradient: gradient)
            let bc1 = 1 - pow(0.9, Double(step)), bc2 = 1 - pow(0.999, Double(step))
            let stepSize = Float(5e-4 / bc1), bc2Sqrt = Float(bc2.squareRoot())
            for i in 0..<n {
                var g = grads[i]
                g += Float(0.01) * th[i]
                m[i] += (1 - Float(0.9)) * (g - m[i])
                v[i] = v[i] * Float(0.999) + (1 - Float(0.999)) * g * g
                th[i] -= stepSize * (m[i] / (v[i].squareRoot() / bc2Sqrt + Float(1e-8)))
            }
        }
        XCTAssertEqual(theta.storage.scalars.map(\.bitPattern), th.map(\.bitPattern))
        XCTAssertEqual(adam.secondMoments.storage.scalars.map(\.bitPattern), v.map(\.bitPattern))
    }
}
