/// A dense, row-major array of `Scalar`s with reference semantics.
///
/// ```
/// element (i0, i1, …, iN) lives at data[((i0 · s1 + i1) · s2 + …) + iN]
/// ```
/// A tensor either owns its memory or is a view into another tensor's memory (it then keeps
/// that owner alive). Reference semantics let layers keep and reuse buffers across steps,
/// so a training step does not allocate.
public final class Tensor<T: Scalar> {
    /// The extent of each dimension.
    public let shape: [Int]
    /// The number of elements, the product of `shape`.
    public let count: Int
    /// The first element.
    public let data: UnsafeMutablePointer<T>
    @usableFromInline let owner: AnyObject?

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: T = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative extent in shape \(shape)")
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = .allocate(capacity: Swift.max(count, 1))
        self.data.initialize(repeating: value, count: count)
        self.owner = nil
    }

    /// A tensor of `shape` holding `values` in row-major order.
    public convenience init(shape: [Int], _ values: [T]) {
        self.init(shape: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    /// A view of `shape` onto memory that `owner` keeps alive.
    public init(viewing data: UnsafeMutablePointer<T>, shape: [Int], owner: AnyObject) {
        self.shape = shape
        self.count = shape.reduce(1, *)
        self.data = data
        self.owner = owner
    }

    deinit { if owner == nil { data.deallocate() } }

    /// Rows of a matrix: the first extent (1 for a scalar).
    @inlinable public var rows: Int { shape.first ?? 1 }
    /// Columns of a matrix: the product of all extents after the first.
    @inlinable public var columns: Int { shape.dropFirst().reduce(1, *) }

    /// Flat, row-major element access.
    @inlinable public subscript(index: Int) -> T {
        get { precondition(index >= 0 && index < count); return data[index] }
        set { precondition(index >= 0 && index < count); data[index] = newValue }
    }

    /// Matrix element access.
    @inlinable public subscript(row: Int, column: Int) -> T {
        get { self[row * columns + column] }
        set { self[row * columns + column] = newValue }
    }

    /// The elements in row-major order.
    public var scalars: [T] { Array(UnsafeBufferPointer(start: data, count: count)) }

    /// Sets every element to `value`.
    @inlinable public func fill(_ value: T) { data.update(repeating: value, count: count) }

    /// Copies `other`'s elements, which must be as many.
    @inlinable public func copy(from other: Tensor<T>) {
        precondition(other.count == count, "copying \(other.count) elements into \(count)")
        data.update(from: other.data, count: count)
    }

}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let head = scalars.prefix(8).map { "\($0)" }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(count > 8 ? ", …" : "")]"
    }
}

/// A growable scratch buffer: it reallocates only when asked for more than it has ever held,
/// so a loop that asks for the same sizes allocates only on its first pass.
public final class Workspace<T: Scalar> {
    public private(set) var capacity: Int = 0
    public private(set) var data: UnsafeMutablePointer<T>

    public init(capacity: Int = 0) {
        self.capacity = capacity
        data = .allocate(capacity: Swift.max(capacity, 1))
        data.initialize(repeating: 0, count: capacity)
    }

    deinit { data.deallocate() }

    /// At least `count` elements; the contents are kept only when no growth was needed.
    @inlinable
    public func reserve(_ count: Int) -> UnsafeMutablePointer<T> {
        if count > capacity { grow(count) }
        return data
    }

    @usableFromInline func grow(_ count: Int) {
        data.deallocate()
        data = .allocate(capacity: count)
        data.initialize(repeating: 0, count: count)
        capacity = count
    }
}
