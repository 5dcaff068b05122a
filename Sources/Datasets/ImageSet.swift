import Foundation

/// How the stored bytes of an image set are to be read.
public enum PixelKind: String, Sendable, CaseIterable {
    /// Bytes are 0 or 1 (statically binarised).
    case binary
    /// Bytes are grey levels 0…255.
    case grey
}

/// How `ImageSet.fill` turns pixel bytes `v` into model inputs `x`.
///
/// ```
/// .binary   x = (v ≠ 0) ? 1 : 0                      for 0/1 bytes this is x = v
/// .grey     x = (v + 0.5) / 256                      exact in Float and Double
/// .dynamic  x = (u < v / 255) ? 1 : 0                u = uniforms(image, row)[pixel]
/// ```
public enum PixelTransform {
    /// 0/1 bytes to 0/1 (any non-zero byte counts as 1).
    case binary
    /// Grey levels to the centres of 256 equal bins of [0, 1].
    case grey
    /// Dynamic binarisation: a pixel is 1 with probability v / 255.
    ///
    /// The closure receives the image's index in the set and its row in the batch, and
    /// returns `pixelsPerImage` uniforms in [0, 1), valid until the next call. The trainer
    /// keys these uniforms by (seed, epoch, sample, purpose), so the result does not depend
    /// on which worker fills the batch.
    case dynamic(uniforms: (_ image: Int, _ row: Int) -> UnsafePointer<Double>)
}

/// A set of equally sized images, stored as one block of `UInt8` pixels.
///
/// ```
/// pixels: [count, height, width], row-major, one byte per pixel
/// ```
///
/// The bytes stay `UInt8` in memory (or in a read-only memory map of the file); `fill`
/// converts one batch at a time. Copies of an `ImageSet` share its bytes, and slices share
/// them too, so the train and validation sets of one file cost no extra memory.
public struct ImageSet: @unchecked Sendable {
    @usableFromInline let storage: ByteStorage
    @usableFromInline let base: UnsafePointer<UInt8>
    /// Number of images.
    public let count: Int
    /// Rows per image.
    public let height: Int
    /// Columns per image.
    public let width: Int

    /// Pixels per image, `height · width`.
    @inlinable public var pixelsPerImage: Int { height * width }

    /// Whether the pixels are a memory map of the file rather than a copy in memory.
    public var isMemoryMapped: Bool { storage.isMapped }

    /// Wraps `count · height · width` bytes of `storage` from byte `offset`.
    init(storage: ByteStorage, offset: Int, count: Int, height: Int, width: Int) {
        precondition(count >= 0 && height > 0 && width > 0, "invalid image set shape")
        precondition(offset >= 0 && offset + count * height * width <= storage.count, "image set outside its storage")
        self.storage = storage
        self.base = UnsafePointer(storage.base.assumingMemoryBound(to: UInt8.self) + offset)
        self.count = count
        self.height = height
        self.width = width
    }

    /// Copies `pixels` into a new image set.
    ///
    /// - Parameters:
    ///   - pixels: `count · height · width` bytes, `[count, height, width]` row-major.
    ///   - height: rows per image.
    ///   - width: columns per image.
    public init(pixels: [UInt8], height: Int, width: Int) {
        precondition(height > 0 && width > 0 && pixels.count % (height * width) == 0,
                     "pixel count \(pixels.count) is not a multiple of \(height)×\(width)")
        let storage = ByteStorage(capacity: pixels.count)
        pixels.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { storage.base.copyMemory(from: source, byteCount: bytes.count) }
        }
        self.init(storage: storage, offset: 0, count: pixels.count / (height * width), height: height, width: width)
    }

    /// The pixels of image `i`, `[height, width]` row-major, sharing the set's bytes.
    public subscript(i: Int) -> Image {
        precondition(i >= 0 && i < count, "image index \(i) outside 0..<\(count)")
        return Image(storage: storage, base: base + i * pixelsPerImage, count: pixelsPerImage)
    }

    /// Calls `body` with all pixels, `[count, height, width]` row-major.
    public func withUnsafePixels<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) {
            try body(UnsafeBufferPointer(start: base, count: count * pixelsPerImage))
        }
    }

    /// All pixels as an array (a copy), `[count, height, width]` row-major.
    public var pixels: [UInt8] { withUnsafePixels { Array($0) } }

    /// The images in `range`, sharing this set's bytes.
    public func slice(_ range: Range<Int>) -> ImageSet {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) outside 0..<\(count)")
        let offset = (base - UnsafePointer(storage.base.assumingMemoryBound(to: UInt8.self)))
            + range.lowerBound * pixelsPerImage
        return ImageSet(storage: storage, offset: offset, count: range.count, height: height, width: width)
    }

    /// A new set holding copies of the images at `indices`, in that order.
    public func gathering(_ indices: some Collection<Int>) -> ImageSet {
        let p = pixelsPerImage
        let storage = ByteStorage(capacity: indices.count * p)
        let target = storage.base.assumingMemoryBound(to: UInt8.self)
        withExtendedLifetime(self.storage) {
            for (row, i) in indices.enumerated() {
                precondition(i >= 0 && i < count, "image index \(i) outside 0..<\(count)")
                (target + row * p).update(from: base + i * p, count: p)
            }
        }
        return ImageSet(storage: storage, offset: 0, count: indices.count, height: height, width: width)
    }

    /// Static binarisation into a new set of 0/1 bytes.
    ///
    /// ```
    /// b = 1 if v > 0.5 · maximum else 0      (maximum 255: b = 1 for v ≥ 128)
    /// ```
    ///
    /// - Parameter maximum: the largest possible grey level of the source data.
    public func binarized(maximum: Int = 255) -> ImageSet {
        let n = count * pixelsPerImage
        let storage = ByteStorage(capacity: n)
        let target = storage.base.assumingMemoryBound(to: UInt8.self)
        withExtendedLifetime(self.storage) {
            for j in 0..<n {
                target[j] = 2 * Int(base[j]) > maximum ? 1 : 0
            }
        }
        return ImageSet(storage: storage, offset: 0, count: count, height: height, width: width)
    }
}
