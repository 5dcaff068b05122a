import Foundation

extension DataFetcher {
    /// What to tell a user who asked for Frey Faces without a source.
    static let freySourceHelp = """
        Frey Faces has no package to download from. Pass `--source PATH` (or set LARGEVAE_FREY) with either \
        frey_rawface.mat (MATLAB v5, uint8 variable `ff`, 560 × 1965; from Sam Roweis' data page, \
        https://cs.nyu.edu/~roweis/data.html) or an IDX file of 1965 × 28 × 20 such as this project's \
        shared copy ../shared/data/frey-faces/frey-faces-idx3-ubyte.gz (beside the repository checkout).
        """

    /// Installs Frey Faces from a `.mat` or IDX (raw or gzip'd) file, after checking its digest.
    ///
    /// An IDX source is checked over its uncompressed bytes. A MAT source is checked over the
    /// IDX encoding of its `ff` pixels (`idxDigest(of:)`), which must equal the IDX copy's digest.
    func fetchFrey(source: URL?) throws -> [URL] {
        guard let source else { throw DatasetError.sourceMissing(dataset: .frey, help: Self.freySourceHelp) }
        let folder = directory.appendingPathComponent(DatasetName.frey.directoryName, isDirectory: true)
        let file = try ByteStorage.contentsOfFile(source)
        return try withExtendedLifetime(file) {
            let bytes = file.bytes
            let indicator = bytes.count >= 128 ? String(decoding: bytes[126..<128], as: UTF8.self) : ""
            let isMAT = indicator == "IM" || indicator == "MI"
            if isMAT {
                let target = folder.appendingPathComponent("frey_rawface.mat")
                log("frey: checking \(source.path) (MAT v5, variable ff)")
                let images = try MATReader.readImages(at: source, variable: "ff", height: 28, width: 20)
                let actual = Self.idxDigest(of: images)
                guard actual == DatasetChecksums.freyIDX else {
                    throw DatasetError.checksumMismatch(path: source.path, expected: DatasetChecksums.freyIDX, actual: actual)
                }
                try FileInstaller.writeAtomically(bytes, to: target)
                return [target]
            }
            let name = Inflater.isGzip(bytes) ? "frey-faces-idx3-ubyte.gz" : "frey-faces-idx3-ubyte"
            let target = folder.appendingPathComponent(name)
            log("frey: verifying and installing \(source.path) as \(name)")
            try FileInstaller.installVerified(from: source, to: target, expected: DatasetChecksums.freyIDX)
            return [target]
        }
    }

    /// SHA-256 of the IDX file that holds `images`: the 3-dimension uint8 header
    /// `00 00 08 03`, the big-endian dimensions `[count, height, width]`, then the pixels.
    ///
    /// - Parameter images: the images to encode.
    public static func idxDigest(of images: ImageSet) -> String {
        var hash = SHA256()
        var header: [UInt8] = [0, 0, 0x08, 0x03]
        for d in [images.count, images.height, images.width] {
            header += (0..<4).map { UInt8(truncatingIfNeeded: d >> (24 - 8 * $0)) }
        }
        hash.update(header)
        images.withUnsafePixels { hash.update(UnsafeRawBufferPointer($0)) }
        return hash.hexDigest()
    }
}
