import Foundation

/// One tensor as stored in a safetensors file: element type, shape and raw little-endian bytes.
///
/// ```
/// bytes.count = dtype.byteCount · ∏ shape     (shape [] is a scalar: one element)
/// ```
public struct SafeTensor: Equatable, Sendable {
    /// The element types this module reads and writes, named as in the safetensors header.
    public enum DType: String, CaseIterable, Sendable {
        case f32 = "F32"
        case f64 = "F64"
        case i64 = "I64"
        case u8 = "U8"

        /// Bytes per element.
        public var byteCount: Int {
            switch self {
            case .f32: return 4
            case .f64, .i64: return 8
            case .u8: return 1
            }
        }
    }

    public let dtype: DType
    public let shape: [Int]
    /// The elements, row-major, little-endian.
    public let bytes: [UInt8]

    /// Wraps raw bytes.
    ///
    /// - Parameters:
    ///   - dtype: the element type.
    ///   - shape: the dimensions, each ≥ 0.
    ///   - bytes: exactly `dtype.byteCount · ∏ shape` little-endian bytes.
    /// - Throws: `SafeTensorsError.shapeMismatch` if the sizes disagree.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) throws {
        guard let count = SafeTensor.byteCount(dtype: dtype, shape: shape), count == bytes.count else {
            throw SafeTensorsError.shapeMismatch(dtype: dtype.rawValue, shape: shape, byteCount: bytes.count)
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A 32-bit float tensor.
    ///
    /// The initialisers' labels name the dtype, so a literal such as `[0.5]` cannot silently
    /// become F64.
    ///
    /// - Parameters:
    ///   - values: `∏ shape` elements, row-major.
    ///   - shape: the dimensions.
    /// - Throws: `SafeTensorsError.shapeMismatch` if the counts disagree.
    public init(float32 values: [Float], shape: [Int]) throws {
        try self.init(dtype: .f32, shape: shape, bytes: packLittleEndian(values.map(\.bitPattern)))
    }

    /// A 64-bit float tensor.
    public init(float64 values: [Double], shape: [Int]) throws {
        try self.init(dtype: .f64, shape: shape, bytes: packLittleEndian(values.map(\.bitPattern)))
    }

    /// A 64-bit signed integer tensor.
    public init(int64 values: [Int64], shape: [Int]) throws {
        try self.init(dtype: .i64, shape: shape, bytes: packLittleEndian(values))
    }

    /// An unsigned byte tensor.
    public init(uint8 values: [UInt8], shape: [Int]) throws {
        try self.init(dtype: .u8, shape: shape, bytes: values)
    }

    /// The number of elements, `∏ shape`.
    public var elementCount: Int { bytes.count / dtype.byteCount }

    /// The elements as `Float`s, row-major.
    ///
    /// - Throws: `SafeTensorsError.dtypeMismatch` unless the dtype is F32.
    public func floats() throws -> [Float] {
        try unpack(.f32, as: UInt32.self).map(Float.init(bitPattern:))
    }

    /// The elements as `Double`s, row-major.
    ///
    /// - Throws: `SafeTensorsError.dtypeMismatch` unless the dtype is F64.
    public func doubles() throws -> [Double] {
        try unpack(.f64, as: UInt64.self).map(Double.init(bitPattern:))
    }

    /// The elements as `Int64`s, row-major.
    ///
    /// - Throws: `SafeTensorsError.dtypeMismatch` unless the dtype is I64.
    public func int64s() throws -> [Int64] {
        try unpack(.i64, as: Int64.self)
    }

    /// The elements as bytes, row-major.
    ///
    /// - Throws: `SafeTensorsError.dtypeMismatch` unless the dtype is U8.
    public func uint8s() throws -> [UInt8] {
        try unpack(.u8, as: UInt8.self)
    }

    /// The elements as little-endian integers of `T`, after checking the dtype.
    private func unpack<T: FixedWidthInteger>(_ wanted: DType, as _: T.Type) throws -> [T] {
        guard dtype == wanted else {
            throw SafeTensorsError.dtypeMismatch(requested: wanted.rawValue, actual: dtype.rawValue)
        }
        let size = MemoryLayout<T>.size
        return bytes.withUnsafeBytes { raw in
            (0..<raw.count / size).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
        }
    }

    /// `byteCount · ∏ shape`, or nil if a dimension is negative or the product overflows.
    static func byteCount(dtype: DType, shape: [Int]) -> Int? {
        var total = dtype.byteCount
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: dimension)
            guard !overflow else { return nil }
            total = product
        }
        return total
    }
}

/// The little-endian bytes of `values`, back to back.
func packLittleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    let size = MemoryLayout<T>.size
    var bytes = [UInt8](repeating: 0, count: values.count * size)
    bytes.withUnsafeMutableBytes { raw in
        for (index, value) in values.enumerated() {
            raw.storeBytes(of: value.littleEndian, toByteOffset: index * size, as: T.self)
        }
    }
    return bytes
}
