import Tensor

/// Elementwise maps the models use, each with its backward beside its forward.
public enum Activation {
    /// `y = min(max(x, lower), upper)`, PyTorch's hardtanh.
    @inlinable
    public static func hardtanh<T: Scalar>(_ x: UnsafeMutablePointer<T>, count: Int, lower: T, upper: T) {
        for i in 0..<count { x[i] = Swift.min(Swift.max(x[i], lower), upper) }
    }

    /// Backward of hardtanh, given its *output* `y`: the gradient passes where `lower < y < upper`
    /// strictly (PyTorch's rule), and is 0 on the clamped plateaus.
    @inlinable
    public static func hardtanhBackward<T: Scalar>(_ grad: UnsafeMutablePointer<T>, output y: UnsafePointer<T>,
                                                   count: Int, lower: T, upper: T) {
        for i in 0..<count where !(y[i] > lower && y[i] < upper) { grad[i] = 0 }
    }

    /// Backward of a clamp to `[lower, upper]`, given its *input* `x`: the gradient passes
    /// where `lower ≤ x ≤ upper` (PyTorch's `clamp` rule, inclusive at the bounds).
    @inlinable
    public static func clampBackward<T: Scalar>(_ grad: UnsafeMutablePointer<T>, input x: UnsafePointer<T>,
                                                count: Int, lower: T, upper: T) {
        for i in 0..<count where !(x[i] >= lower && x[i] <= upper) { grad[i] = 0 }
    }
}
