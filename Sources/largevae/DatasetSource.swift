import Foundation
import Tensor
import Datasets
import Training


/// An `ImageSet` as the trainer sees it: pixels converted per batch, with dynamic binarisation
/// drawing its uniforms by key (seed, epoch, image, binarization).
final class DatasetSource: ImageSource {
    let images: ImageSet
    let transform: Transform
    let seed: UInt64
    /// Offsets image indices in the random keys, so train / validation / test never share keys.
    let keyOffset: Int

    enum Transform { case binary, grey, dynamic }

    init(_ images: ImageSet, transform: Transform, seed: UInt64, keyOffset: Int) {
        self.images = images
        self.transform = transform
        self.seed = seed
        self.keyOffset = keyOffset
    }

    var count: Int { images.count }
    var pixelsPerImage: Int { images.pixelsPerImage }

    func fill(indices: UnsafeBufferPointer<Int>, epoch: Int, into out: UnsafeMutablePointer<Float>) {
        switch transform {
        case .binary: images.fill(indices: indices, into: out, transform: .binary)
        case .grey: images.fill(indices: indices, into: out, transform: .grey)
        case .dynamic:
            // A buffer per call: evaluation fills batches from several threads at once.
            let d = pixelsPerImage
            var uniforms = [Double](repeating: 0, count: d)
            uniforms.withUnsafeMutableBufferPointer { u in
                let base = u.baseAddress!
                images.fill(indices: indices, into: out, transform: .dynamic { image, _ in
                    KeyedRandom(RandomKey(seed: self.seed, epoch: UInt32(epoch), index: UInt64(self.keyOffset + image),
                                          purpose: .binarization)).uniforms(into: base, count: d)
                    return UnsafePointer(base)
                })
            }
        }
    }

    /// The first `count` images as model inputs, `[count, D]`.
    func firstImages(_ count: Int) -> [Float] {
        let n = Swift.min(count, self.count)
        var out = [Float](repeating: 0, count: n * pixelsPerImage)
        let idx = Array(0..<n)
        idx.withUnsafeBufferPointer { i in out.withUnsafeMutableBufferPointer { fill(indices: i, epoch: 0, into: $0.baseAddress!) } }
        return out
    }
}

/// The three splits of a dataset as trainer sources.
struct Splits {
    let dataset: Dataset
    let train: DatasetSource, validation: DatasetSource, test: DatasetSource

    init(_ dataset: Dataset, dynamicBinarization: Bool, seed: UInt64) {
        self.dataset = dataset
        let t: DatasetSource.Transform = dataset.pixelKind == .grey ? .grey : (dynamicBinarization ? .dynamic : .binary)
        train = DatasetSource(dataset.train, transform: t, seed: seed, keyOffset: 0)
        validation = DatasetSource(dataset.validation, transform: t, seed: seed, keyOffset: 1 << 40)
        test = DatasetSource(dataset.test, transform: t, seed: seed, keyOffset: 1 << 41)
    }
}
