import Foundation

/// One axis of a plot: a data range widened to "nice" tick values, and the labels to print.
///
/// ```
/// step  = nice(span / targetTicks), nice(s) ∈ {1, 2, 2.5, 5, 10} · 10^⌊log10 s⌋
/// lower = ⌊min / step⌋ · step,   upper = ⌈max / step⌉ · step
/// ```
public struct PlotAxis: Equatable {
    public let lower: Double
    public let upper: Double
    public let step: Double

    /// An axis covering `values` (non-finite values ignored) with about `targetTicks` intervals.
    ///
    /// - Parameters:
    ///   - values: the data along this axis.
    ///   - targetTicks: the wanted number of intervals, at least 1.
    ///   - integerSteps: whether steps must be whole numbers (epochs).
    public init(covering values: [Double], targetTicks: Int = 5, integerSteps: Bool = false) {
        let finite = values.filter { $0.isFinite }
        var low = finite.min() ?? 0, high = finite.max() ?? 1
        if high - low <= abs(high) * 1e-12 {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            (low, high) = (low - pad, high + pad)
        }
        var step = PlotAxis.niceStep((high - low) / Double(max(targetTicks, 1)))
        if integerSteps { step = max(step.rounded(.up), 1) }
        self.step = step
        lower = (low / step).rounded(.down) * step
        upper = (high / step).rounded(.up) * step
    }

    /// The smallest of 1, 2, 2.5, 5, 10 times a power of ten that is at least `raw`.
    public static func niceStep(_ raw: Double) -> Double {
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        for factor in [1, 2, 2.5, 5] where factor * magnitude >= raw * (1 - 1e-9) {
            return factor * magnitude
        }
        return 10 * magnitude
    }

    /// The tick values from `lower` to `upper`, `step` apart.
    public var ticks: [Double] {
        let count = Int(((upper - lower) / step).rounded())
        return (0...max(count, 0)).map { lower + Double($0) * step }
    }

    /// Maps a data value to a pixel coordinate between `start` (at `lower`) and `end` (at `upper`).
    public func pixel(_ value: Double, start: Int, end: Int) -> Int {
        let fraction = (value - lower) / (upper - lower)
        return start + Int((fraction * Double(end - start)).rounded())
    }

    /// A short label for tick `value`: fixed-point with as many decimals as the step needs,
    /// or `1.5e-4` style when the numbers are very large or very small.
    public func label(_ value: Double) -> String {
        let value = abs(value) < step * 1e-9 ? 0 : value
        let stepExponent = PlotAxis.decade(step)
        let largest = max(abs(lower), abs(upper))
        if largest >= 1e5 || largest < 1e-3 {
            let valueExponent = value == 0 ? stepExponent : PlotAxis.decade(abs(value))
            let digits = min(max(valueExponent - stepExponent, 0), 6)
            return PlotAxis.compactExponent(String(format: "%.\(digits)e", value))
        }
        let step25 = (step / pow(10, Double(stepExponent)) - 2.5).magnitude < 1e-9
        let decimals = max(0, -stepExponent + (step25 ? 1 : 0))
        return String(format: "%.\(decimals)f", value)
    }

    /// ⌊log10 x⌋ for x > 0, robust to `log10(1e-4)` landing just below −4.
    public static func decade(_ x: Double) -> Int {
        Int((log10(x) + 1e-9).rounded(.down))
    }

    /// Shortens `1.50e+05` to `1.50e5` and `1e-04` to `1e-4`.
    public static func compactExponent(_ text: String) -> String {
        guard let e = text.firstIndex(of: "e") else { return text }
        let mantissa = text[..<e]
        var exponent = text[text.index(after: e)...]
        var sign = ""
        if exponent.first == "-" { sign = "-" }
        exponent = exponent.drop { $0 == "+" || $0 == "-" }
        let digits = exponent.drop { $0 == "0" }
        return mantissa + "e" + sign + (digits.isEmpty ? "0" : digits)
    }
}
