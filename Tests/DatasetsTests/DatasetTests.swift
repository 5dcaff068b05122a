import Datasets
import XCTest

final class DatasetTests: XCTestCase {
    func testSplitMix64_ReferenceOutputs() {
        // Reference outputs of SplitMix64 for seed 1234567 (Vigna's splitmix64.c).
        var generator = SplitMix64(seed: 1_234_567)
        let expected: [UInt64] = [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423,
                                  4_593_380_528_125_082_431, 16_408_922_859_458_223_821]
        XCTAssertEqual((0..<5).map { _ in generator.next() }, expected)
    }

    func testPermutation_DeterministicBySeed() {
        let a = SplitMix64.permutation(count: 1965, seed: 42)
        XCTAssertEqual(a, SplitMix64.permutation(count: 1965, seed: 42))
        XCTAssertEqual(a.sorted(), Array(0..<1965))
        XCTAssertNotEqual(a, SplitMix64.permutation(count: 1965, seed: 43))
        XCTAssertNotEqual(a, Array(0..<1965))
        XCTAssertEqual(SplitMix64.permutation(count: 0, seed: 1), [])
        XCTAssertEqual(SplitMix64.permutation(count: 1, seed: 1), [0])
    }

    func testBoundedDraws_InRange() {
        var generator = SplitMix64(seed: 9)
        for bound in [1, 2, 3, 7, 200, 1965] as [UInt64] {
            for _ in 0..<200 { XCTAssertLessThan(generator.next(below: bound), bound) }
        }
    }

    /// 1965 Frey-sized images whose first two pixels encode the image's index.
    private func freyPixels() -> [UInt8] {
        var pixels: [UInt8] = []
        for i in 0..<1965 {
            let index: [UInt8] = [UInt8(i >> 8), UInt8(i & 0xFF)]
            pixels += index + [UInt8](repeating: UInt8(i % 251), count: 558)
        }
        return pixels
    }

    private func indices(of set: ImageSet) -> [Int] {
        (0..<set.count).map { Int(set[$0][0]) << 8 | Int(set[$0][1]) }
    }

    func testFreySplit_SizesDisjointAndDeterministic() throws {
        let dir = try TemporaryDirectory()
        try dir.write(matFile([MATVariable(name: "ff", dims: [560, 1965], data: freyPixels(), compressed: true)]),
                      to: "frey/frey_rawface.mat")
        let a = try Dataset.load(name: .frey, directory: dir.url, seed: 7)
        XCTAssertEqual([a.train.count, a.validation.count, a.test.count], [1565, 200, 200])
        XCTAssertEqual([a.height, a.width], [28, 20])
        XCTAssertEqual(a.pixelKind, .grey)
        let (train, validation, test) = (indices(of: a.train), indices(of: a.validation), indices(of: a.test))
        XCTAssertEqual((train + validation + test).sorted(), Array(0..<1965))
        XCTAssertEqual(train + validation + test, SplitMix64.permutation(count: 1965, seed: 7))
        let b = try Dataset.load(name: .frey, directory: dir.url, seed: 7)
        XCTAssertEqual(indices(of: b.test), test)
        let c = try Dataset.load(name: .frey, directory: dir.url, seed: 8)
        XCTAssertNotEqual(indices(of: c.test), test)
        XCTAssertEqual(Array(a.test[0]), Array(ImageSet(pixels: freyPixels(), height: 28, width: 20)[test[0]]))
    }

    func testFreyWrongCount_Fails() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(idxBytes(dims: [1964, 28, 20], pixels: Array(freyPixels().prefix(1964 * 560))),
                                to: "frey/frey-faces-idx3-ubyte")
        assertDatasetError(try Dataset.load(name: .frey, directory: dir.url, seed: 1), naming: url) {
            if case .wrongImageCount(_, "1965", 1964) = $0 { return true } else { return false }
        }
    }

    func testMNISTSplit_LastTenThousandAreValidationAndBinarized() throws {
        let dir = try TemporaryDirectory()
        let train = repeatedImageBytes(10_010 * 784, seed: 5)
        let test = fixtureBytes(3 * 784, seed: 6)
        try dir.write(idxBytes(dims: [10_010, 28, 28], pixels: train), to: "mnist/train-images-idx3-ubyte")
        try dir.write(gzipped(idxBytes(dims: [3, 28, 28], pixels: test)), to: "mnist/t10k-images-idx3-ubyte.gz")
        let data = try Dataset.load(name: .mnist, directory: dir.url, seed: 0)
        XCTAssertEqual([data.train.count, data.validation.count, data.test.count], [10, 10_000, 3])
        XCTAssertEqual(data.pixelKind, .binary)
        XCTAssertEqual(Array(data.validation[0]), train[(10 * 784)..<(11 * 784)].map { $0 >= 128 ? 1 : 0 })
        XCTAssertEqual(data.test.pixels, test.map { $0 >= 128 ? 1 : 0 })
    }

    func testFashionSplit_KeepsGreyLevels() throws {
        let dir = try TemporaryDirectory()
        let train = repeatedImageBytes(10_001 * 784, seed: 7)
        try dir.write(gzipped(idxBytes(dims: [10_001, 28, 28], pixels: train)), to: "fashion-mnist/train-images-idx3-ubyte.gz")
        try dir.write(idxBytes(dims: [2, 28, 28], pixels: fixtureBytes(2 * 784, seed: 8)), to: "fashion-mnist/t10k-images-idx3-ubyte")
        let data = try Dataset.load(name: .fashionMnist, directory: dir.url, seed: 0)
        XCTAssertEqual([data.train.count, data.validation.count, data.test.count], [1, 10_000, 2])
        XCTAssertEqual(data.pixelKind, .grey)
        XCTAssertEqual(Array(data.train[0]), Array(train.prefix(784)))
        XCTAssertEqual(Array(data.validation[9_999]), Array(train.suffix(784)))
    }

    func testTooFewTrainingImages_Fails() throws {
        let dir = try TemporaryDirectory()
        let url = try dir.write(idxBytes(dims: [10_000, 28, 28], pixels: [UInt8](repeating: 0, count: 10_000 * 784)),
                                to: "fashion-mnist/train-images-idx3-ubyte")
        try dir.write(idxBytes(dims: [1, 28, 28], pixels: [UInt8](repeating: 0, count: 784)), to: "fashion-mnist/t10k-images-idx3-ubyte")
        assertDatasetError(try Dataset.load(name: .fashionMnist, directory: dir.url, seed: 0), naming: url) {
            if case .wrongImageCount(_, _, 10_000) = $0 { return true } else { return false }
        }
    }

    func testMissingFiles_FailSuggestingFetch() throws {
        let dir = try TemporaryDirectory()
        for name in DatasetName.allCases {
            let expected = dir.url.appendingPathComponent(name.directoryName)
                .appendingPathComponent(DatasetFiles.candidates(for: name, role: DatasetFiles.roles(of: name)[0])[0])
            assertDatasetError(try Dataset.load(name: name, directory: dir.url, seed: 0), naming: expected) {
                if case .fileMissing(name, expected.path, _) = $0 { return true } else { return false }
            }
            do { _ = try Dataset.load(name: name, directory: dir.url, seed: 0) } catch {
                XCTAssertTrue(error.localizedDescription.contains("largevae data fetch \(name.rawValue)"))
                XCTAssertTrue(error.localizedDescription.contains(expected.path))
            }
        }
    }

    func testLocate_PrefersCSVThenGzipThenRaw() throws {
        let dir = try TemporaryDirectory()
        try dir.write([1], to: "mnist/train-images-idx3-ubyte")
        XCTAssertEqual(try DatasetFiles.locate(.mnist, role: .training, in: dir.url).lastPathComponent, "train-images-idx3-ubyte")
        try dir.write([1], to: "mnist/train-images-idx3-ubyte.gz")
        XCTAssertEqual(try DatasetFiles.locate(.mnist, role: .training, in: dir.url).lastPathComponent, "train-images-idx3-ubyte.gz")
        try dir.write([1], to: "mnist/mnist_train.csv")
        XCTAssertEqual(try DatasetFiles.locate(.mnist, role: .training, in: dir.url).lastPathComponent, "mnist_train.csv")
    }

    func testDefaultDirectory_EnvironmentOrder() {
        let all = ["LARGEVAE_DATA": "/data/lv", "XDG_DATA_HOME": "/xdg", "HOME": "/home/u"]
        XCTAssertEqual(DatasetFiles.defaultDirectory(environment: all).path, "/data/lv")
        XCTAssertEqual(DatasetFiles.defaultDirectory(environment: ["XDG_DATA_HOME": "/xdg", "HOME": "/home/u"]).path,
                       "/xdg/largevae")
        XCTAssertEqual(DatasetFiles.defaultDirectory(environment: ["XDG_DATA_HOME": "relative", "HOME": "/home/u"]).path,
                       "/home/u/.local/share/largevae")
        XCTAssertEqual(DatasetFiles.defaultDirectory(environment: ["HOME": "/home/u"]).path, "/home/u/.local/share/largevae")
    }

    func testDatasetNames() {
        XCTAssertEqual(DatasetName.allCases.map(\.rawValue), ["mnist", "fashion-mnist", "frey"])
        XCTAssertEqual(DatasetName(rawValue: "fashion-mnist"), .fashionMnist)
    }
}
