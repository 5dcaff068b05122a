import Foundation
import XCTest
import Tensor

/// Tests for `FastMath`: accuracy sweeps against Double-precision references, special
/// values, bitwise agreement of the scalar and array forms (any length / offset), and
/// in-place operation.
final class FastMathTests: XCTestCase {

    // MARK: Helpers

    /// Error of `f` in ulps of the correctly rounded Float result near `d`
    /// (ulp taken at |d|'s binade, 2^-149 in the denormal range).
    private static func ulpError(_ f: Float, _ d: Double) -> Double {
        if d.isNaN { return f.isNaN ? 0 : .infinity }
        if f.isNaN { return .infinity }
        if d.isInfinite || f.isInfinite {
            if Double(f) == d { return 0 }
            return Float(d) == f ? 0 : .infinity
        }
        let ad = abs(d)
        let e = ad == 0 ? -126 : max(Int(ad.exponent), -126)
        let ulp = Double(sign: .plus, exponent: e - 23, significand: 1)
        return abs(Double(f) - d) / ulp
    }

    private static func sigmoidRef(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
    }

    private static func softplusRef(_ x: Double) -> Double {
        Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
    }

    private typealias ArrayKernel = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void

    private struct Kernel {
        let name: String
        let array: ArrayKernel
        let scalar: (Float) -> Float
        let reference: (Double) -> Double
    }

    private static let kernels: [Kernel] = [
        Kernel(name: "exp", array: { FastMath.exp($0, $1, count: $2) }, scalar: { FastMath.exp($0) },
               reference: { Foundation.exp($0) }),
        Kernel(name: "log", array: { FastMath.log($0, $1, count: $2) }, scalar: { FastMath.log($0) },
               reference: { Foundation.log($0) }),
        Kernel(name: "sigmoid", array: { FastMath.sigmoid($0, $1, count: $2) }, scalar: { FastMath.sigmoid($0) },
               reference: sigmoidRef),
        Kernel(name: "softplus", array: { FastMath.softplus($0, $1, count: $2) }, scalar: { FastMath.softplus($0) },
               reference: softplusRef),
        Kernel(name: "log1p", array: { FastMath.log1p($0, $1, count: $2) }, scalar: { FastMath.log1p($0) },
               reference: { Foundation.log1p($0) }),
        Kernel(name: "expm1", array: { FastMath.expm1($0, $1, count: $2) }, scalar: { FastMath.expm1($0) },
               reference: { Foundation.expm1($0) }),
    ]

    private static func kernel(_ name: String) -> Kernel { kernels.first { $0.name == name }! }

    private static func apply(_ k: Kernel, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer { yp in
                if let xb = xp.baseAddress, let yb = yp.baseAddress { k.array(xb, yb, x.count) }
            }
        }
        return y
    }

    /// Inputs: `n` points evenly spread over [lo, hi] plus `n/4` points evenly spread in
    /// log scale over the magnitudes [tiny, |bound|] on each side that the range covers.
    private static func sweep(_ lo: Float, _ hi: Float, _ n: Int) -> [Float] {
        var xs = [Float]()
        xs.reserveCapacity(n + n / 2)
        let l = Double(lo), h = Double(hi)
        for i in 0..<n { xs.append(Float(l + (h - l) * Double(i) / Double(n - 1))) }
        let m = n / 4
        for (sign, bound) in [(1.0, h), (-1.0, -l)] where bound > 0 {
            let a = Foundation.log(1e-30), b = Foundation.log(bound)
            for i in 0..<m {
                let v = Float(sign * Foundation.exp(a + (b - a) * Double(i) / Double(m - 1)))
                if v >= lo && v <= hi { xs.append(v) }
            }
        }
        return xs
    }

    /// Max ulp error of kernel `name` over `xs`, checked against `bound`.
    private func checkAccuracy(_ name: String, _ xs: [Float], maxUlp bound: Double,
                               file: StaticString = #filePath, line: UInt = #line) {
        let k = Self.kernel(name)
        let ys = Self.apply(k, xs)
        var worst = 0.0, worstX: Float = 0
        for (x, y) in zip(xs, ys) {
            let e = Self.ulpError(y, k.reference(Double(x)))
            if !(e <= worst) { worst = e; worstX = x }
        }
        XCTAssertLessThanOrEqual(worst, bound, "\(name): max \(worst) ulp at x = \(worstX)",
                                 file: file, line: line)
    }

    // MARK: Accuracy sweeps (bounds = documented maxima from exhaustive testing)

    func testExpAccuracy() {
        // Normal results; the denormal output range is checked separately below.
        checkAccuracy("exp", Self.sweep(-87.33, 88.72, 24_000), maxUlp: 1.0)
        checkAccuracy("exp", Self.sweep(-103.9, -87.34, 4_000), maxUlp: 1.0)    // denormals
    }

    func testLogAccuracy() {
        checkAccuracy("log", Self.sweep(1e-30, 4, 16_000), maxUlp: 1.0)
        var xs = Self.sweep(0.5, 2, 10_000)
        xs += (0..<10_000).map { Float(bitPattern: UInt32($0) &* 213_911 % 0x7f80_0000) }  // all binades
        xs += (1..<2_000).map { Float(bitPattern: UInt32($0 &* 4_193)) }                    // denormals
        checkAccuracy("log", xs, maxUlp: 1.0)
    }

    func testLog1pAccuracy() {
        checkAccuracy("log1p", Self.sweep(-0.999, 4, 24_000), maxUlp: 1.0)
        checkAccuracy("log1p", Self.sweep(4, 1e30, 4_000), maxUlp: 1.0)
    }

    func testExpm1Accuracy() {
        checkAccuracy("expm1", Self.sweep(-20, 20, 20_000), maxUlp: 1.2)
        checkAccuracy("expm1", Self.sweep(-104, 88.72, 8_000), maxUlp: 1.2)
    }

    func testSigmoidAccuracy() {
        checkAccuracy("sigmoid", Self.sweep(-87.33, 30, 28_000), maxUlp: 2.5)
    }

    func testSoftplusAccuracy() {
        checkAccuracy("softplus", Self.sweep(-87.33, 100, 20_000), maxUlp: 2.0)
    }

    // MARK: Special values

    private func assertBits(_ got: Float, _ want: Float, _ what: String,
                            file: StaticString = #filePath, line: UInt = #line) {
        if want.isNaN {
            XCTAssertTrue(got.isNaN, "\(what) = \(got), expected nan", file: file, line: line)
        } else {
            XCTAssertEqual(got.bitPattern, want.bitPattern, "\(what) = \(got), expected \(want)",
                           file: file, line: line)
        }
    }

    func testExpSpecialValues() {
        assertBits(FastMath.exp(0), 1, "exp(0)")
        assertBits(FastMath.exp(-0.0), 1, "exp(-0)")
        assertBits(FastMath.exp(1e-30), 1, "exp(1e-30)")
        assertBits(FastMath.exp(.leastNonzeroMagnitude), 1, "exp(denormal)")
        assertBits(FastMath.exp(-.leastNonzeroMagnitude), 1, "exp(-denormal)")
        assertBits(FastMath.exp(.infinity), .infinity, "exp(inf)")
        assertBits(FastMath.exp(-.infinity), 0, "exp(-inf)")
        assertBits(FastMath.exp(.nan), .nan, "exp(nan)")
        assertBits(FastMath.exp(88.72), Float(Foundation.exp(Double(Float(88.72)))), "exp(88.72)")
        XCTAssertTrue(FastMath.exp(88.72).isFinite)
        assertBits(FastMath.exp(88.7229), .infinity, "exp(88.7229)")
        assertBits(FastMath.exp(89), .infinity, "exp(89)")
        assertBits(FastMath.exp(1000), .infinity, "exp(1000)")
        assertBits(FastMath.exp(.greatestFiniteMagnitude), .infinity, "exp(max)")
        assertBits(FastMath.exp(-103.98), 0, "exp(-103.98)")
        assertBits(FastMath.exp(-104), 0, "exp(-104)")
        assertBits(FastMath.exp(-1000), 0, "exp(-1000)")
        assertBits(FastMath.exp(-.greatestFiniteMagnitude), 0, "exp(-max)")
        // Gradual underflow: denormal results are correctly rounded, not flushed.
        assertBits(FastMath.exp(-100), Float(Foundation.exp(-100.0)), "exp(-100)")
        assertBits(FastMath.exp(-103.2), Float(Foundation.exp(Double(Float(-103.2)))), "exp(-103.2)")
        XCTAssertGreaterThan(FastMath.exp(-103.9), 0)
    }

    func testLogSpecialValues() {
        assertBits(FastMath.log(1), 0, "log(1)")
        assertBits(FastMath.log(0), -.infinity, "log(0)")
        assertBits(FastMath.log(-0.0), -.infinity, "log(-0)")
        assertBits(FastMath.log(-1), .nan, "log(-1)")
        assertBits(FastMath.log(-.leastNonzeroMagnitude), .nan, "log(-denormal)")
        assertBits(FastMath.log(-.infinity), .nan, "log(-inf)")
        assertBits(FastMath.log(.infinity), .infinity, "log(inf)")
        assertBits(FastMath.log(.nan), .nan, "log(nan)")
        for x: Float in [.leastNonzeroMagnitude, .leastNormalMagnitude, Float(bitPattern: 0x0001_16c2), Float(bitPattern: 3), .greatestFiniteMagnitude, 2, 0.5] {
            XCTAssertLessThanOrEqual(Self.ulpError(FastMath.log(x), Foundation.log(Double(x))), 1.0, "log(\(x))")
        }
    }

    func testLog1pSpecialValues() {
        assertBits(FastMath.log1p(0), 0, "log1p(0)")
        assertBits(FastMath.log1p(-0.0), -0.0, "log1p(-0)")
        assertBits(FastMath.log1p(-1), -.infinity, "log1p(-1)")
        assertBits(FastMath.log1p(-2), .nan, "log1p(-2)")
        assertBits(FastMath.log1p(-.infinity), .nan, "log1p(-inf)")
        assertBits(FastMath.log1p(.infinity), .infinity, "log1p(inf)")
        assertBits(FastMath.log1p(.nan), .nan, "log1p(nan)")
        for x: Float in [1e-30, -1e-30, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                         1e-8, -1e-8, 3e-5, -3e-5, -0.9999999, .greatestFiniteMagnitude] {
            XCTAssertLessThanOrEqual(Self.ulpError(FastMath.log1p(x), Foundation.log1p(Double(x))), 1.0, "log1p(\(x))")
        }
        assertBits(FastMath.log1p(1e-30), 1e-30, "log1p(1e-30)")
        assertBits(FastMath.log1p(.leastNonzeroMagnitude), .leastNonzeroMagnitude, "log1p(denormal)")
    }

    func testExpm1SpecialValues() {
        assertBits(FastMath.expm1(0), 0, "expm1(0)")
        assertBits(FastMath.expm1(-0.0), -0.0, "expm1(-0)")
        assertBits(FastMath.expm1(1e-30), 1e-30, "expm1(1e-30)")
        assertBits(FastMath.expm1(-1e-30), -1e-30, "expm1(-1e-30)")
        assertBits(FastMath.expm1(.leastNonzeroMagnitude), .leastNonzeroMagnitude, "expm1(denormal)")
        assertBits(FastMath.expm1(-.leastNonzeroMagnitude), -.leastNonzeroMagnitude, "expm1(-denormal)")
        assertBits(FastMath.expm1(.infinity), .infinity, "expm1(inf)")
        assertBits(FastMath.expm1(-.infinity), -1, "expm1(-inf)")
        assertBits(FastMath.expm1(-1000), -1, "expm1(-1000)")
        assertBits(FastMath.expm1(-20), -1, "expm1(-20)")
        assertBits(FastMath.expm1(89), .infinity, "expm1(89)")
        assertBits(FastMath.expm1(88.7229), .infinity, "expm1(88.7229)")
        XCTAssertTrue(FastMath.expm1(88.72).isFinite)
        assertBits(FastMath.expm1(.nan), .nan, "expm1(nan)")
        for x: Float in [1e-8, -1e-8, 3e-5, -3e-5, 0.3, -0.3, 88.72] {
            XCTAssertLessThanOrEqual(Self.ulpError(FastMath.expm1(x), Foundation.expm1(Double(x))), 1.5, "expm1(\(x))")
        }
    }

    func testSigmoidSpecialValues() {
        assertBits(FastMath.sigmoid(0), 0.5, "sigmoid(0)")
        assertBits(FastMath.sigmoid(-0.0), 0.5, "sigmoid(-0)")
        assertBits(FastMath.sigmoid(.infinity), 1, "sigmoid(inf)")
        assertBits(FastMath.sigmoid(-.infinity), 0, "sigmoid(-inf)")
        assertBits(FastMath.sigmoid(.nan), .nan, "sigmoid(nan)")
        assertBits(FastMath.sigmoid(1e30), 1, "sigmoid(1e30)")
        assertBits(FastMath.sigmoid(-1e30), 0, "sigmoid(-1e30)")
        assertBits(FastMath.sigmoid(20), 1, "sigmoid(20)")
        assertBits(FastMath.sigmoid(-200), 0, "sigmoid(-200)")
        assertBits(FastMath.sigmoid(.greatestFiniteMagnitude), 1, "sigmoid(max)")
        assertBits(FastMath.sigmoid(-.greatestFiniteMagnitude), 0, "sigmoid(-max)")
        assertBits(FastMath.sigmoid(1e-30), 0.5, "sigmoid(1e-30)")
        // Tiny results: correct down to ~4e-39 (including the first denormals), 0 below.
        XCTAssertLessThanOrEqual(Self.ulpError(FastMath.sigmoid(-87), Self.sigmoidRef(-87)), 3.0)
        XCTAssertLessThanOrEqual(Self.ulpError(FastMath.sigmoid(-88), Self.sigmoidRef(-88)), 1.0)
        XCTAssertEqual(FastMath.sigmoid(-88.5), 0)
    }

    func testSoftplusSpecialValues() {
        assertBits(FastMath.softplus(0), Float(Foundation.log(2.0)), "softplus(0)")
        assertBits(FastMath.softplus(-0.0), Float(Foundation.log(2.0)), "softplus(-0)")
        assertBits(FastMath.softplus(.infinity), .infinity, "softplus(inf)")
        assertBits(FastMath.softplus(-.infinity), 0, "softplus(-inf)")
        assertBits(FastMath.softplus(.nan), .nan, "softplus(nan)")
        assertBits(FastMath.softplus(1e30), 1e30, "softplus(1e30)")
        assertBits(FastMath.softplus(-1e30), 0, "softplus(-1e30)")
        assertBits(FastMath.softplus(.greatestFiniteMagnitude), .greatestFiniteMagnitude, "softplus(max)")
        assertBits(FastMath.softplus(-.greatestFiniteMagnitude), 0, "softplus(-max)")
        assertBits(FastMath.softplus(100), 100, "softplus(100)")
        assertBits(FastMath.softplus(-200), 0, "softplus(-200)")
        // Gradual underflow: softplus(x) ~ e^x for very negative x.
        assertBits(FastMath.softplus(-100), Float(Foundation.exp(-100.0)), "softplus(-100)")
        for x: Float in [-87, -50, -17, -1, 1, 17, 50] {
            XCTAssertLessThanOrEqual(Self.ulpError(FastMath.softplus(x), Self.softplusRef(Double(x))), 3.0, "softplus(\(x))")
        }
    }

    // MARK: Determinism: scalar == array form, any length / offset / position; in place

    /// Bitwise equality (NaN results only need to both be NaN; payloads are not compared).
    private static func same(_ a: Float, _ b: Float) -> Bool {
        a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN)
    }

    private static let specials: [Float] = [
        0, -0.0, 1, -1, .infinity, -.infinity, .nan, -.nan, .leastNonzeroMagnitude,
        -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
        -.greatestFiniteMagnitude, 88.72, 88.73, -87.5, -103.9, -104.5, 1e-30, -0.999, 1e30, -1e30,
    ]

    private static func randomInputs(_ n: Int, _ rng: inout SystemRandomNumberGenerator) -> [Float] {
        (0..<n).map { _ in
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: return specials.randomElement(using: &rng)!
            case 1: return Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            case 2: return Float.random(in: -120...120, using: &rng)
            case 3: return Float.random(in: -1...1, using: &rng) * 1e-6
            default: return Float.random(in: -12...12, using: &rng)
            }
        }
    }

    func testScalarMatchesArrayBitwiseAtAllLengthsAndOffsets() {
        var rng = SystemRandomNumberGenerator()
        for k in Self.kernels {
            for length in 0...37 {
                do {
                    let offset = (length * 3) % 4                 // offsets 0...3 across lengths
                    let xs = Self.randomInputs(offset + length + 3, &rng)
                    var ys = [Float](repeating: 12345, count: xs.count)
                    xs.withUnsafeBufferPointer { xp in
                        ys.withUnsafeMutableBufferPointer { yp in
                            k.array(xp.baseAddress! + offset, yp.baseAddress! + offset, length)
                        }
                    }
                    for i in 0..<xs.count {
                        if i < offset || i >= offset + length {
                            XCTAssertEqual(ys[i], 12345, "\(k.name): wrote outside [offset, offset+count)")
                        } else {
                            let s = k.scalar(xs[i])
                            XCTAssertTrue(Self.same(ys[i], s),
                                          "\(k.name)(\(xs[i])): array \(ys[i]) != scalar \(s) (length \(length), offset \(offset))")
                        }
                    }
                }
            }
        }
    }

    func testSameValueGivesSameBitsAtEveryPosition() {
        // One value at every position of a 37-element array (body and tail lanes).
        for k in Self.kernels {
            for x: Float in [0.3183, -7.25, 88.5, -100.3, 1e-7, .nan] {
                let ys = Self.apply(k, [Float](repeating: x, count: 37))
                let s = k.scalar(x)
                for y in ys { XCTAssertTrue(Self.same(y, s), "\(k.name)(\(x)): \(y) != \(s)") }
            }
        }
    }

    func testInPlace() {
        var rng = SystemRandomNumberGenerator()
        for k in Self.kernels {
            for length in [0, 1, 15, 16, 17, 33, 100] {
                let xs = Self.randomInputs(length, &rng)
                let expected = Self.apply(k, xs)
                var buf = xs
                buf.withUnsafeMutableBufferPointer { p in
                    if let b = p.baseAddress { k.array(b, b, length) }
                }
                XCTAssertTrue(zip(buf, expected).allSatisfy { Self.same($0, $1) }, "\(k.name) in place, n = \(length)")
            }
        }
    }
}
