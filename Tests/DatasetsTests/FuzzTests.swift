import Datasets
import Foundation
import XCTest

/// Random mutations of valid files: every read must return images or throw a `DatasetError`,
/// never crash, and never allocate far beyond the file's size (peak RSS is watched).
final class FuzzTests: XCTestCase {
    private var generator = SplitMix64(seed: 0xF022)
    /// Multiplies every mutation count (set LARGEVAE_FUZZ_SCALE=20 for a long run).
    private let scale = Int(ProcessInfo.processInfo.environment["LARGEVAE_FUZZ_SCALE"] ?? "") ?? 1
    private var outcomes = (succeeded: 0, failed: 0)

    private func random(_ bound: Int) -> Int { Int(generator.next(below: UInt64(max(bound, 1)))) }

    /// One to three random edits: bit flips, byte overwrites, truncation, insertion, deletion,
    /// or a 32-bit field set to an extreme value at a 4-aligned offset at or after `fieldsFrom`.
    private func mutate(_ original: [UInt8], fieldsFrom: Int = 0, alphabet: [UInt8] = []) -> [UInt8] {
        var bytes = original
        for _ in 0...random(3) where !bytes.isEmpty {
            let at = random(bytes.count)
            switch random(7) {
            case 0: bytes[at] ^= UInt8(1 << random(8))
            case 1: bytes[at] = alphabet.isEmpty ? UInt8(random(256)) : alphabet[random(alphabet.count)]
            case 2: bytes.removeSubrange(random(bytes.count)...)
            case 3: bytes.insert(contentsOf: fixtureBytes(1 + random(8), seed: generator.next()), at: at)
            case 4: bytes.removeSubrange(at..<min(bytes.count, at + 1 + random(8)))
            case 5: if !alphabet.isEmpty { bytes.insert(alphabet[random(alphabet.count)], at: at) }
            default:
                let field = fieldsFrom + 4 * random((bytes.count - fieldsFrom) / 4)
                guard field + 4 <= bytes.count else { break }
                let values: [UInt32] = [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, UInt32(random(1 << 20)), UInt32(random(64))]
                let value = values[random(values.count)]
                let encoded = random(2) == 0 ? bigEndian32(value) : littleEndian32(value)
                bytes.replaceSubrange(field..<field + 4, with: encoded)
            }
        }
        return bytes
    }

    /// Writes `bytes` to `url` and reads it; a result or a `DatasetError` is fine, anything else fails.
    private func attempt(_ bytes: [UInt8], at url: URL, _ read: (URL) throws -> ImageSet,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        try writeFile(bytes, to: url)
        do {
            let set = try read(url)
            _ = set.withUnsafePixels { $0.reduce(0) { $0 &+ $1 } }  // touch every pixel
            outcomes.succeeded += 1
        } catch is DatasetError {
            outcomes.failed += 1
        } catch {
            XCTFail("a non-DatasetError escaped: \(error)", file: file, line: line)
        }
    }

    private static func peakResidentKB() -> Int {
        var usage = rusage()
        getrusage(0, &usage)  // RUSAGE_SELF
        return Int(usage.ru_maxrss)
    }

    override func setUp() { outcomes = (0, 0) }

    override func tearDown() {
        guard outcomes != (0, 0) else { return }   // skipped before any read
        XCTAssertGreaterThan(outcomes.failed, 0, "mutations never produced an error")
        print("fuzz \(name): \(outcomes.succeeded) reads succeeded, \(outcomes.failed) threw DatasetError")
    }

    func testFuzz_IDX_RawAndGzip() throws {
        let startRSS = Self.peakResidentKB()
        let dir = try TemporaryDirectory()
        let valid = idxBytes(dims: [6, 5, 4], pixels: fixtureBytes(120, seed: 21))
        let compressed = try gzipped(valid)
        let url = dir.url.appendingPathComponent("fuzz-idx3-ubyte")
        for _ in 0..<(600 * scale) { try attempt(mutate(valid), at: url) { try IDXReader.readImages(at: $0) } }
        for _ in 0..<(300 * scale) { try attempt(mutate(compressed), at: url) { try IDXReader.readImages(at: $0) } }
        for _ in 0..<(200 * scale) { try attempt(try gzipped(mutate(valid)), at: url) { try IDXReader.readImages(at: $0) } }
        XCTAssertLessThan(Self.peakResidentKB() - startRSS, 200_000, "peak RSS grew by more than 200 MB")
    }

    func testFuzz_MAT_AllLayouts() throws {
        let startRSS = Self.peakResidentKB()
        let dir = try TemporaryDirectory()
        let ff = MATVariable(name: "ff", dims: [6, 4], data: fixtureBytes(24, seed: 22))
        let other = MATVariable(name: "x", arrayClass: 6, dims: [1, 2], dataType: 9, data: fixtureBytes(16, seed: 23))
        var compressedFF = ff
        compressedFF.compressed = true
        let url = dir.url.appendingPathComponent("fuzz.mat")
        let read = { (url: URL) in try MATReader.readImages(at: url, variable: "ff", height: 3, width: 2) }
        for _ in 0..<(400 * scale) { try attempt(mutate(matFile([other, ff]), fieldsFrom: 120), at: url, read) }
        for _ in 0..<(150 * scale) { try attempt(mutate(matFile([other, ff], bigEndian: true), fieldsFrom: 120), at: url, read) }
        for _ in 0..<(250 * scale) { try attempt(mutate(matFile([other, compressedFF]), fieldsFrom: 120), at: url, read) }
        // Mutate the matrix inside a compressed element, then compress it, to reach the inner parser.
        let header = matFile([])
        let matrix = Array(matFile([ff]).dropFirst(128))
        for _ in 0..<(250 * scale) {
            let inner = mutate(matrix)
            let z = zlibCompressed(inner)
            try attempt(header + littleEndian32(15) + littleEndian32(UInt32(z.count)) + z, at: url, read)
        }
        XCTAssertLessThan(Self.peakResidentKB() - startRSS, 200_000, "peak RSS grew by more than 200 MB")
    }

    /// Mutations of the real files, where they are present: the first 50 Frey faces as an IDX
    /// file (raw and gzip) and the first 20 rows of the real MNIST CSV.
    func testFuzz_MutatedRealFiles() throws {
        let frey = RealDataTests.freyURL
        let mnist = DatasetFiles.defaultDirectory().appendingPathComponent("mnist/mnist_test.csv")
        let haveFrey = FileManager.default.fileExists(atPath: frey.path), haveMNIST = FileManager.default.fileExists(atPath: mnist.path)
        guard haveFrey || haveMNIST else {
            throw XCTSkip("neither the real Frey file (\(frey.path)) nor MNIST (\(mnist.path), `largevae data fetch mnist`) is here")
        }
        let startRSS = Self.peakResidentKB()
        let dir = try TemporaryDirectory()
        let url = dir.url.appendingPathComponent("real-fuzz")
        if haveFrey {
            let faces = try IDXReader.readImages(at: frey)
            let valid = idxBytes(dims: [50, faces.height, faces.width], pixels: Array(faces.pixels.prefix(50 * faces.height * faces.width)))
            let compressed = try gzipped(valid)
            for _ in 0..<(300 * scale) { try attempt(mutate(valid), at: url) { try IDXReader.readImages(at: $0) } }
            for _ in 0..<(150 * scale) { try attempt(mutate(compressed), at: url) { try IDXReader.readImages(at: $0) } }
        }
        if haveMNIST {
            let handle = try FileHandle(forReadingFrom: mnist)
            let head = try handle.read(upToCount: 1 << 16) ?? Data()
            try handle.close()
            let lines = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).prefix(21)
            let valid = Array(lines.joined(separator: [UInt8(ascii: "\n")])) + [UInt8(ascii: "\n")]
            let alphabet = Array("0123456789,,,\n\r-. x".utf8)
            for _ in 0..<(300 * scale) {
                try attempt(mutate(valid, alphabet: alphabet), at: url) { try MNISTCSVReader.readImages(at: $0, height: 28, width: 28) }
            }
        }
        XCTAssertLessThan(Self.peakResidentKB() - startRSS, 200_000, "peak RSS grew by more than 200 MB")
    }

    func testFuzz_CSV() throws {
        let startRSS = Self.peakResidentKB()
        let dir = try TemporaryDirectory()
        let valid = Array(csvText(images: (0..<4).map { fixtureBytes(6, seed: 30 + UInt64($0)) }).utf8)
        let alphabet = Array("0123456789,,,\n\r-. x".utf8)
        let url = dir.url.appendingPathComponent("fuzz.csv")
        for _ in 0..<(400 * scale) {
            try attempt(mutate(valid, alphabet: alphabet), at: url) { try MNISTCSVReader.readImages(at: $0, height: 2, width: 3) }
        }
        XCTAssertLessThan(Self.peakResidentKB() - startRSS, 200_000, "peak RSS grew by more than 200 MB")
    }
}
