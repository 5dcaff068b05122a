/// Binary images held in memory as model inputs, pixel j of every image on with probability
/// 0.2 + 0.5·j/D: a learnable toy set for training tests. Test targets that train add
/// `extension ArraySource: ImageSource {}` (this module does not depend on Training).
public final class ArraySource {
    public let pixels: [Float]
    public let pixelsPerImage: Int
    public var count: Int { pixels.count / pixelsPerImage }

    public init(count: Int, pixels d: Int, seed: UInt64) {
        var rng = FixtureRandom(seed: seed)
        pixels = (0..<(count * d)).map { i in rng.uniform() < 0.2 + 0.5 * Double(i % d) / Double(d) ? 1 : 0 }
        pixelsPerImage = d
    }

    /// Images `indices` into `out` `[indices.count, D]`.
    public func fill(indices: UnsafeBufferPointer<Int>, epoch: Int, into out: UnsafeMutablePointer<Float>) {
        for (r, i) in indices.enumerated() {
            for j in 0..<pixelsPerImage { out[r * pixelsPerImage + j] = pixels[i * pixelsPerImage + j] }
        }
    }
}
