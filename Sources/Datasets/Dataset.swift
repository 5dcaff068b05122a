import Foundation

/// A dataset ready for training: train, validation and test images of one size.
///
/// ```
/// mnist          train 50,000 | validation 10,000 (last of the 60k) | test 10,000   binary (static)
/// fashion-mnist  train 50,000 | validation 10,000 (last of the 60k) | test 10,000   grey
/// frey           1,965 shuffled by seed → train 1,565 | validation 200 | test 200    grey
/// ```
///
/// Pixels stay `UInt8`; `ImageSet.fill` converts batches with `defaultTransform` (or dynamic
/// binarisation). MNIST is binarised once at load: 1 where v > 0.5·255, else 0.
public struct Dataset: Sendable {
    /// Which dataset this is.
    public let name: DatasetName
    /// Training images.
    public let train: ImageSet
    /// Validation images (for early stopping and model selection).
    public let validation: ImageSet
    /// Test images.
    public let test: ImageSet
    /// How the stored bytes are to be read.
    public let pixelKind: PixelKind

    /// Rows per image.
    public var height: Int { train.height }
    /// Columns per image.
    public var width: Int { train.width }
    /// The conversion that matches `pixelKind`: `.binary` for 0/1 bytes, `.grey` otherwise.
    public var defaultTransform: PixelTransform { pixelKind == .binary ? .binary : .grey }

    /// MNIST and Fashion-MNIST: the last this many training images are the validation set.
    public static let validationCount = 10_000
    /// Frey Faces: the number of images, and the split sizes after shuffling.
    public static let freySplit = (total: 1965, train: 1565, validation: 200, test: 200)

    /// Groups three image sets of one size.
    public init(name: DatasetName, train: ImageSet, validation: ImageSet, test: ImageSet, pixelKind: PixelKind) {
        precondition([validation, test].allSatisfy { $0.height == train.height && $0.width == train.width },
                     "the three image sets must have one image size")
        self.name = name
        self.train = train
        self.validation = validation
        self.test = test
        self.pixelKind = pixelKind
    }

    /// Loads a dataset from `<directory>/<name>/` and splits it.
    ///
    /// - Parameters:
    ///   - name: which dataset.
    ///   - directory: the data directory (see `DatasetFiles.defaultDirectory`).
    ///   - seed: seeds the Frey Faces shuffle (`SplitMix64.permutation`); unused otherwise.
    /// - Throws: `DatasetError.fileMissing` (suggesting `largevae data fetch <name>`), or the
    ///   reader's error for a damaged file, or `.wrongImageCount`.
    ///   - staticBinarization: binarise MNIST once here (the default); false keeps its grey
    ///     levels for dynamic binarisation by the trainer.
    public static func load(name: DatasetName, directory: URL = DatasetFiles.defaultDirectory(),
                            seed: UInt64, staticBinarization: Bool = true) throws -> Dataset {
        switch name {
        case .mnist, .fashionMnist:
            let trainURL = try DatasetFiles.locate(name, role: .training, in: directory)
            let testURL = try DatasetFiles.locate(name, role: .test, in: directory)
            return try splitOffValidation(name: name, training: readImages(at: trainURL, of: name),
                                          test: readImages(at: testURL, of: name), trainingPath: trainURL.path,
                                          binarize: staticBinarization)
        case .frey:
            let url = try DatasetFiles.locate(.frey, role: .all, in: directory)
            return try shuffleAndSplitFrey(readImages(at: url, of: .frey), seed: seed, path: url.path)
        }
    }

    /// Reads one file of a dataset, choosing the reader by its name: `.csv` is MNIST CSV,
    /// `.mat` is MAT v5 (variable `ff`), anything else IDX (raw or gzip'd).
    ///
    /// - Parameters:
    ///   - url: the file.
    ///   - name: the dataset, which fixes the image size.
    public static func readImages(at url: URL, of name: DatasetName) throws -> ImageSet {
        let (height, width) = name.imageShape
        switch url.pathExtension.lowercased() {
        case "csv": return try MNISTCSVReader.readImages(at: url, height: height, width: width)
        case "mat": return try MATReader.readImages(at: url, variable: "ff", height: height, width: width)
        default: return try IDXReader.readImages(at: url, height: height, width: width)
        }
    }

    /// MNIST-style split: the last `validationCount` training images are the validation set.
    /// MNIST is binarised here; Fashion-MNIST keeps its grey levels.
    ///
    /// - Parameters:
    ///   - name: `.mnist` or `.fashionMnist`.
    ///   - training: the training file's images (60,000 for the real data).
    ///   - test: the test file's images.
    ///   - trainingPath: the training file, for the message if it is too small.
    public static func splitOffValidation(name: DatasetName, training: ImageSet, test: ImageSet,
                                          trainingPath: String, binarize: Bool = true) throws -> Dataset {
        precondition(name != .frey, "Frey Faces is split by shuffling")
        guard training.count > validationCount else {
            throw DatasetError.wrongImageCount(path: trainingPath, expected: "more than \(validationCount) (the last "
                + "\(validationCount) are the validation set)", found: training.count)
        }
        let pool = name.pixelKind == .binary && binarize ? training.binarized() : training
        let testSet = name.pixelKind == .binary && binarize ? test.binarized() : test
        let cut = pool.count - validationCount
        return Dataset(name: name, train: pool.slice(0..<cut), validation: pool.slice(cut..<pool.count),
                       test: testSet, pixelKind: name.pixelKind)
    }

    /// Frey Faces split: permute all 1,965 images with `SplitMix64.permutation(count:seed:)`,
    /// then take the first 1,565 for training, the next 200 for validation, the last 200 for test.
    ///
    /// - Parameters:
    ///   - all: the 1,965 images in file order.
    ///   - seed: the shuffle's seed.
    ///   - path: the file, for the message if the count is wrong.
    public static func shuffleAndSplitFrey(_ all: ImageSet, seed: UInt64, path: String) throws -> Dataset {
        let split = freySplit
        guard all.count == split.total else {
            throw DatasetError.wrongImageCount(path: path, expected: "\(split.total)", found: all.count)
        }
        let shuffled = all.gathering(SplitMix64.permutation(count: all.count, seed: seed))
        let validationEnd = split.train + split.validation
        return Dataset(name: .frey, train: shuffled.slice(0..<split.train),
                       validation: shuffled.slice(split.train..<validationEnd),
                       test: shuffled.slice(validationEnd..<split.total), pixelKind: .grey)
    }
}
