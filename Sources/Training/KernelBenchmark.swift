import Foundation
import Tensor

/// ns per element of the FastMath kernels against glibc loops, on arrays of 30,000 floats.
public enum KernelBenchmark {
    public struct Row: Codable, Sendable {
        public var kernel: String
        public var fastmath_ns: Double
        public var glibc_ns: Double
    }

    /// Median over `runs` timings of `passes` passes each.
    public static func measure(runs: Int = 7, passes: Int = 200) -> [Row] {
        let n = 30_000
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n), y = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { x.deallocate(); y.deallocate() }
        for i in 0..<n { x[i] = -8 + 16 * Float(i) / Float(n) }
        typealias Kernel = (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
        let kernels: [(String, Kernel, Kernel)] = [
            ("exp", { FastMath.exp($0, $1, count: $2) }, { for i in 0..<$2 { $1[i] = Foundation.expf($0[i]) } }),
            ("log", { a, b, c in FastMath.log(a, b, count: c) }, { for i in 0..<$2 { $1[i] = Foundation.logf(abs($0[i]) + 1e-3) } }),
            ("sigmoid", { FastMath.sigmoid($0, $1, count: $2) }, { for i in 0..<$2 { $1[i] = 1 / (1 + Foundation.expf(-$0[i])) } }),
            ("softplus", { FastMath.softplus($0, $1, count: $2) },
             { for i in 0..<$2 { $1[i] = Swift.max($0[i], 0) + Foundation.log1pf(Foundation.expf(-abs($0[i]))) } }),
            ("expm1", { FastMath.expm1($0, $1, count: $2) }, { for i in 0..<$2 { $1[i] = Foundation.expm1f($0[i]) } }),
        ]
        func time(_ k: Kernel) -> Double {
            var samples: [Double] = []
            for _ in 0..<runs {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<passes { k(x, y, n) }
                samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / Double(passes * n))
            }
            return Benchmark.median(samples)
        }
        return kernels.map { Row(kernel: $0.0, fastmath_ns: time($0.1), glibc_ns: time($0.2)) }
    }
}
