import Foundation

extension ImageSet {
    /// Converts a batch of images to floating point, one row per image.
    ///
    /// ```
    /// destination: [indices.count, pixelsPerImage], row r = image indices[r]
    /// x = transform(v)   (see `PixelTransform`)
    /// ```
    ///
    /// Allocates nothing; the pixels stay `UInt8` in the set.
    ///
    /// - Parameters:
    ///   - indices: the images of the batch, in batch order; each in `0..<count`.
    ///   - destination: room for `indices.count · pixelsPerImage` values.
    ///   - transform: how a byte becomes a value.
    @inlinable
    public func fill<T: BinaryFloatingPoint>(indices: some Collection<Int>, into destination: UnsafeMutablePointer<T>,
                                             transform: PixelTransform) {
        let p = pixelsPerImage
        withExtendedLifetime(storage) {
            var row = 0
            for i in indices {
                precondition(i >= 0 && i < count, "image index \(i) outside 0..<\(count)")
                let source = base + i * p
                let target = destination + row * p
                switch transform {
                case .binary:
                    for j in 0..<p { target[j] = source[j] == 0 ? 0 : 1 }
                case .grey:
                    for j in 0..<p { target[j] = (T(source[j]) + 0.5) * (1 / 256 as T) }
                case .dynamic(let uniforms):
                    let u = uniforms(i, row)
                    for j in 0..<p { target[j] = u[j] < Double(source[j]) / 255 ? 1 : 0 }
                }
                row += 1
            }
        }
    }
}
