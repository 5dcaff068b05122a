import Foundation

/// The pixels of one image of an `ImageSet`, `[height, width]` row-major.
///
/// A view, not a copy: it keeps the set's bytes alive, so it stays valid on its own.
public struct Image: RandomAccessCollection, @unchecked Sendable {
    @usableFromInline let storage: ByteStorage
    @usableFromInline let base: UnsafePointer<UInt8>
    /// Number of pixels, `height · width`.
    public let count: Int

    init(storage: ByteStorage, base: UnsafePointer<UInt8>, count: Int) {
        self.storage = storage
        self.base = base
        self.count = count
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    /// Pixel `j` in row-major order.
    @inlinable
    public subscript(j: Int) -> UInt8 {
        precondition(j >= 0 && j < count, "pixel index \(j) outside 0..<\(count)")
        return withExtendedLifetime(storage) { base[j] }
    }

    /// Calls `body` with the pixels; the buffer must not escape `body`.
    @inlinable
    public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafeBufferPointer(start: base, count: count)) }
    }
}
