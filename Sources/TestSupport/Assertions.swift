import XCTest
import Datasets

/// Fails unless `|actual − expected| ≤ atol + rtol·|expected|`, naming the caller's line.
public func assertClose(_ actual: Double, _ expected: Double, rtol: Double = 1e-6, atol: Double = 0,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    let ok = abs(actual - expected) <= atol + rtol * abs(expected)
    XCTAssertTrue(ok, "\(actual) is not close to \(expected) (rtol \(rtol), atol \(atol)) \(message())",
                  file: file, line: line)
}

/// Element-wise `assertClose`; reports the worst element only.
public func assertClose(_ actual: [Double], _ expected: [Double], rtol: Double = 1e-6, atol: Double = 0,
                        _ message: @autoclosure () -> String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(actual.count, expected.count, "length mismatch \(message())", file: file, line: line)
    var worst = -1, excess = 0.0
    for i in 0..<min(actual.count, expected.count) {
        let e = abs(actual[i] - expected[i]) - (atol + rtol * abs(expected[i]))
        if e > excess || actual[i].isNaN != expected[i].isNaN { worst = i; excess = max(e, excess) }
    }
    if worst >= 0 {
        XCTFail("element \(worst): \(actual[worst]) is not close to \(expected[worst]) (rtol \(rtol), atol \(atol)) \(message())",
                file: file, line: line)
    }
}

/// Central finite differences of `f` at `x`: `(f(x + h·e_i) − f(x − h·e_i)) / 2h` for each i.
public func numericalGradient(at x: [Double], step h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    var g = [Double](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let saved = x[i]
        x[i] = saved + h; let plus = f(x)
        x[i] = saved - h; let minus = f(x)
        x[i] = saved
        g[i] = (plus - minus) / (2 * h)
    }
    return g
}

/// A small deterministic generator for test fixtures and fuzzing: `Datasets.SplitMix64`, with the
/// draws tests need on top.
public struct FixtureRandom: RandomNumberGenerator {
    var base: SplitMix64
    public init(seed: UInt64) { base = SplitMix64(seed: seed) }
    public mutating func next() -> UInt64 { base.next() }
    /// The low byte of the next value.
    public mutating func nextByte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    /// Uniform in [lower, upper).
    public mutating func uniform(_ lower: Double = 0, _ upper: Double = 1) -> Double {
        lower + (upper - lower) * Double(next() >> 11) / Double(1 << 53)
    }
    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u = max(uniform(), 1e-300), v = uniform()
        return (-2 * Foundation.log(u)).squareRoot() * cos(2 * .pi * v)
    }
    public mutating func normals(_ n: Int, scale: Double = 1) -> [Double] { (0..<n).map { _ in scale * normal() } }
}
