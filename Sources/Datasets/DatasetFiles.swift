import Foundation

/// The datasets LargeVAE trains on.
public enum DatasetName: String, CaseIterable, Sendable {
    /// MNIST digits, 28×28, statically binarised.
    case mnist
    /// Fashion-MNIST, 28×28, grey levels.
    case fashionMnist = "fashion-mnist"
    /// Frey Faces, 28×20, grey levels.
    case frey

    /// How the dataset's pixels are stored after loading.
    public var pixelKind: PixelKind { self == .mnist ? .binary : .grey }

    /// Image size `(height, width)`.
    public var imageShape: (height: Int, width: Int) { self == .frey ? (28, 20) : (28, 28) }

    /// The subdirectory of the data directory that holds the dataset's files.
    public var directoryName: String { rawValue }
}

/// Which files of a dataset a loader looks for, and where.
///
/// ```
/// <data>/mnist/          mnist_train.csv, mnist_test.csv   (or train-/t10k-images-idx3-ubyte[.gz])
/// <data>/fashion-mnist/  train-images-idx3-ubyte.gz, t10k-images-idx3-ubyte.gz   (or without .gz)
/// <data>/frey/           frey_rawface.mat   (or frey-faces-idx3-ubyte[.gz])
/// ```
public enum DatasetFiles {
    /// The part of a dataset a file holds.
    public enum Role: String, Sendable {
        /// The training file (train + validation for MNIST and Fashion-MNIST).
        case training
        /// The test file.
        case test
        /// The only file (Frey Faces, split by seed).
        case all
    }

    /// File names to try, in order of preference; the first is what `DataFetcher` installs
    /// (except for Frey Faces, where the installed name follows the source's format).
    public static func candidates(for name: DatasetName, role: Role) -> [String] {
        switch (name, role) {
        case (.mnist, .training): return ["mnist_train.csv", "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"]
        case (.mnist, .test): return ["mnist_test.csv", "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"]
        case (.fashionMnist, .training): return ["train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"]
        case (.fashionMnist, .test): return ["t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"]
        case (.frey, .all): return ["frey_rawface.mat", "frey-faces-idx3-ubyte.gz", "frey-faces-idx3-ubyte"]
        default: preconditionFailure("\(name.rawValue) has no \(role.rawValue) file")
        }
    }

    /// The roles of a dataset's files.
    public static func roles(of name: DatasetName) -> [Role] {
        name == .frey ? [.all] : [.training, .test]
    }

    /// The first candidate that exists in `<directory>/<dataset>/`.
    ///
    /// - Throws: `DatasetError.fileMissing` naming the preferred path and the alternatives.
    public static func locate(_ name: DatasetName, role: Role, in directory: URL) throws -> URL {
        let folder = directory.appendingPathComponent(name.directoryName, isDirectory: true)
        let names = candidates(for: name, role: role)
        for file in names {
            let url = folder.appendingPathComponent(file)
            if FileManager.default.fileExists(atPath: url.path) { return url }
        }
        throw DatasetError.fileMissing(dataset: name, expected: folder.appendingPathComponent(names[0]).path,
                                       alternatives: Array(names.dropFirst()))
    }

    /// The data directory: `$LARGEVAE_DATA`, else `$XDG_DATA_HOME/largevae`, else
    /// `~/.local/share/largevae`.
    ///
    /// - Parameter environment: the process environment (a parameter so tests can vary it).
    public static func defaultDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let dir = environment["LARGEVAE_DATA"], !dir.isEmpty {
            return URL(fileURLWithPath: dir, isDirectory: true)
        }
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") {  // the XDG spec ignores relative paths
            return URL(fileURLWithPath: xdg, isDirectory: true).appendingPathComponent("largevae", isDirectory: true)
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home, isDirectory: true)
            .appendingPathComponent(".local/share/largevae", isDirectory: true)
    }
}
