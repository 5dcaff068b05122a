import Tensor

/// One named parameter tensor inside a flat parameter vector.
public struct ParameterEntry: Equatable, Sendable {
    /// Dotted path, such as `encoder.0.h.weight`.
    public let name: String
    /// Shape; weights are `[out, in]`.
    public let shape: [Int]
    /// Index of the first element in the flat vector.
    public let offset: Int
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// The ordered list of a model's parameters and where each lives in one flat vector.
///
/// The same names and order key the checkpoint tensors, the optimiser state and the gradient
/// vectors on the wire. Registration order is layout order, so layers that register adjacent
/// entries (a GatedDense's `h` and `g` weights) get them contiguous and can use one GEMM.
public final class ParameterLayout {
    public private(set) var entries: [ParameterEntry] = []
    public private(set) var count = 0
    private var index: [String: Int] = [:]

    public init() {}

    /// Appends a parameter and returns its entry.
    @discardableResult
    public func add(_ name: String, shape: [Int]) -> ParameterEntry {
        precondition(index[name] == nil, "parameter \(name) registered twice")
        let entry = ParameterEntry(name: name, shape: shape, offset: count)
        index[name] = entries.count
        entries.append(entry)
        count += entry.count
        return entry
    }

    /// The entry called `name`, if any.
    public func entry(named name: String) -> ParameterEntry? {
        index[name].map { entries[$0] }
    }
}

/// A flat vector laid out by a `ParameterLayout`: parameter values, or their gradients.
public final class ParameterVector<T: Scalar> {
    public let layout: ParameterLayout
    /// All elements, `[layout.count]`.
    public let storage: Tensor<T>

    public init(layout: ParameterLayout, repeating value: T = 0) {
        self.layout = layout
        self.storage = Tensor(shape: [layout.count], repeating: value)
    }

    /// The first element.
    @inlinable public var data: UnsafeMutablePointer<T> { storage.data }

    /// Sets every element to zero.
    public func zero() { storage.fill(0) }
}
