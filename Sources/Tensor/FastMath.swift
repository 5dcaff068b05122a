// TEMPORARY placeholder until the vectorised kernels land (same API, libm-based).
import Foundation
public enum FastMath {
    @inlinable public static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { for i in 0..<count { y[i] = exp(x[i]) } }
    @inlinable public static func log(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { for i in 0..<count { y[i] = log(x[i]) } }
    @inlinable public static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { for i in 0..<count { y[i] = sigmoid(x[i]) } }
    @inlinable public static func softplus(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { for i in 0..<count { y[i] = softplus(x[i]) } }
    @inlinable public static func log1p(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { for i in 0..<count { y[i] = log1p(x[i]) } }
    @inlinable public static func expm1(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int) { for i in 0..<count { y[i] = expm1(x[i]) } }
    @inlinable public static func exp(_ x: Float) -> Float { Foundation.expf(x) }
    @inlinable public static func log(_ x: Float) -> Float { Foundation.logf(x) }
    @inlinable public static func sigmoid(_ x: Float) -> Float { x >= 0 ? 1 / (1 + Foundation.expf(-x)) : Foundation.expf(x) / (1 + Foundation.expf(x)) }
    @inlinable public static func softplus(_ x: Float) -> Float { Swift.max(x, 0) + Foundation.log1pf(Foundation.expf(-Swift.abs(x))) }
    @inlinable public static func log1p(_ x: Float) -> Float { Foundation.log1pf(x) }
    @inlinable public static func expm1(_ x: Float) -> Float { Foundation.expm1f(x) }
}
