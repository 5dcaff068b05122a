import Tensor

/// What a layer needs to run forward and backward: the shared parameter values and this
/// replica's gradient accumulator, both laid out by the same `ParameterLayout`.
public struct ParameterAccess<T: Scalar> {
    /// Parameter values, read only during a step.
    public let values: UnsafePointer<T>
    /// Gradients; backward passes add into them, or overwrite them.
    public let gradients: UnsafeMutablePointer<T>
    /// True: backward passes add into `gradients`. False: each parameter's gradient is written
    /// by the one backward pass that touches it, so a work unit needs no zeroed buffer first.
    /// Use false only where every parameter is reached at most once (one unit of one phase).
    public let accumulate: Bool

    public init(values: UnsafePointer<T>, gradients: UnsafeMutablePointer<T>, accumulate: Bool = true) {
        self.values = values
        self.gradients = gradients
        self.accumulate = accumulate
    }

    public init(values: ParameterVector<T>, gradients: ParameterVector<T>) {
        precondition(values.layout === gradients.layout, "values and gradients use different layouts")
        self.init(values: UnsafePointer(values.data), gradients: gradients.data)
    }
}

/// A row-major matrix in a layer's cache: the pointer to its first element and its extents.
public struct MatrixBuffer<T: Scalar> {
    public let data: UnsafeMutablePointer<T>
    public let rows: Int
    public let columns: Int
    @inlinable public init(data: UnsafeMutablePointer<T>, rows: Int, columns: Int) {
        self.data = data; self.rows = rows; self.columns = columns
    }
    @inlinable public var count: Int { rows * columns }
}
