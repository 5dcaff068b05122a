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
    /// Set when one pass runs several units stacked: each group's parameter gradients go to a
    /// buffer of its own (written, not added), and `gradients` is not used.
    public let groups: RowGroups<T>?

    public init(values: UnsafePointer<T>, gradients: UnsafeMutablePointer<T>, accumulate: Bool = true,
                groups: RowGroups<T>? = nil) {
        precondition(groups == nil || !accumulate, "stacked units write their gradients")
        self.values = values
        self.gradients = gradients
        self.accumulate = accumulate
        self.groups = groups
    }

    /// The gradient buffers a backward pass writes, one per group of rows: each group's with
    /// `groups`, else `gradients` alone for all the rows. Reductions over rows loop over these.
    @inlinable public var gradientGroups: Int { groups?.count ?? 1 }
    /// Group g's gradient vector.
    @inlinable public func gradients(group g: Int) -> UnsafeMutablePointer<T> { groups?.gradients[g] ?? gradients }
    /// Group g's rows of a pass over `rows` rows.
    @inlinable public func rows(group g: Int, of rows: Int) -> Range<Int> { groups?.rows(g) ?? 0..<rows }
    /// Group g's gradient with respect to the VampPrior's statistics: the group's own with `groups`,
    /// else `whole`.
    @inlinable public func statsGradients(group g: Int, whole: UnsafeMutablePointer<T>?) -> UnsafeMutablePointer<T>? {
        if let groups { return groups.statsGradients[g] }
        return whole
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

/// Units stacked into one pass: group g is rows `bounds[g] ..< bounds[g + 1]` of every `[rows, ·]`
/// matrix of the pass. Rows never mix in the forward pass or in an input gradient, so those run as
/// one GEMM over all rows; each reduction over rows (a weight or bias gradient, a prior's
/// statistics gradient) runs per group, over the group's rows only, into the group's buffers:
/// ```
/// dW_g = dY[g]ᵀ · X[g]     db_g = Σ_{r ∈ g} dY[r]
/// ```
/// so group g gets the bits its unit would get alone, provided the GEMM gives each row the same
/// bits whatever the row count (the executor checks that before it stacks).
public final class RowGroups<T: Scalar> {
    /// `count + 1` row bounds, from 0.
    public private(set) var bounds: [Int] = [0]
    /// Group g's parameter gradient vector.
    public private(set) var gradients: [UnsafeMutablePointer<T>] = []
    /// Group g's gradient with respect to the VampPrior's `[K, 2M]` statistics, if any.
    public private(set) var statsGradients: [UnsafeMutablePointer<T>?] = []

    public init() {}

    /// Number of groups.
    @inlinable public var count: Int { gradients.count }
    /// The rows of group g.
    @inlinable public func rows(_ g: Int) -> Range<Int> { bounds[g]..<bounds[g + 1] }

    /// Removes every group (keeping the arrays' storage, so a step allocates nothing once warm).
    public func removeAll() {
        bounds.removeAll(keepingCapacity: true)
        bounds.append(0)
        gradients.removeAll(keepingCapacity: true)
        statsGradients.removeAll(keepingCapacity: true)
    }

    /// Adds a group of `rows` rows after the others.
    public func append(rows: Int, gradients g: UnsafeMutablePointer<T>, statsGradients ds: UnsafeMutablePointer<T>?) {
        bounds.append(bounds[bounds.count - 1] + rows)
        gradients.append(g)
        statsGradients.append(ds)
    }

    /// Replaces the groups.
    public func set(rowCounts: [Int], gradients: [UnsafeMutablePointer<T>], statsGradients: [UnsafeMutablePointer<T>?]) {
        precondition(rowCounts.count == gradients.count && statsGradients.count == gradients.count,
                     "one gradient buffer per group")
        removeAll()
        for g in rowCounts.indices { append(rows: rowCounts[g], gradients: gradients[g], statsGradients: statsGradients[g]) }
    }
}
