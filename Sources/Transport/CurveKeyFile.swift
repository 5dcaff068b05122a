import Foundation

/// CurveZMQ key files, as `largevae keygen --out PREFIX` writes them:
///
/// ```
/// PREFIX.key   the secret key (40 Z85 characters), mode 0600: keep it on its machine
/// PREFIX.pub   the public key: give it to the other side
/// ```
/// Every file is text: one key per line, blank lines and `#` comments ignored. (`#` is a Z85
/// character, but no key starts with it: a line or word that does is a comment.) An allow-list is
/// such a file with any number of public keys (`cat workers/*.pub > allowed`), or a directory
/// whose `*.pub` files are read.
public enum CurveKeyFile {
    /// Writes `prefix.key` (mode 0600) and `prefix.pub`.
    ///
    /// - Parameters:
    ///   - pair: the key pair.
    ///   - prefix: the path without extension.
    ///   - overwrite: replace existing files; otherwise an existing file is `CurveKeyError.exists`.
    /// - Returns: the two paths written.
    @discardableResult
    public static func write(_ pair: CurveKeyPair, prefix: String, overwrite: Bool = false) throws -> (secret: String, public: String) {
        let secretPath = prefix + ".key", publicPath = prefix + ".pub"
        if !overwrite {
            for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
                throw CurveKeyError.exists(path: path)
            }
        }
        try create(secretPath, "# largevae CurveZMQ secret key: keep it private (its public key is in \((publicPath as NSString).lastPathComponent))\n\(pair.secretKey.z85)\n",
                   mode: 0o600)
        try create(publicPath, "# largevae CurveZMQ public key\n\(pair.publicKey.z85)\n", mode: 0o644)
        return (secretPath, publicPath)
    }

    /// Reads a secret key file and derives its public key.
    ///
    /// - Parameter path: a `.key` file holding exactly one key.
    public static func readKeyPair(secretFile path: String) throws -> CurveKeyPair {
        if path.hasSuffix(".pub") {
            throw CurveKeyError.wrongKind(path: path, expected: "a secret .key file")
        }
        let keys = try keys(inFile: path)
        guard keys.count == 1 else { throw CurveKeyError.malformed(source: path, reason: "it holds \(keys.count) keys, a secret key file holds one") }
        return try CurveKeyPair(secretKey: keys[0])
    }

    /// Reads an allow-list: a file of public keys, or a directory of `*.pub` files.
    ///
    /// - Parameter path: the file or directory.
    /// - Returns: every key found (at least one).
    public static func readPublicKeys(_ path: String) throws -> [CurveKey] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CurveKeyError.unreadable(path: path, reason: "no such file or directory")
        }
        guard isDirectory.boolValue else { return try publicKeys(inFile: path) }
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
            throw CurveKeyError.unreadable(path: path, reason: error.localizedDescription)
        }
        let keys = try names.filter { $0.hasSuffix(".pub") }.sorted()
            .flatMap { try publicKeys(inFile: (path as NSString).appendingPathComponent($0)) }
        guard !keys.isEmpty else { throw CurveKeyError.empty(path: "\(path) (no *.pub file with a key)") }
        return keys
    }

    /// A public key given on a command line: 40 Z85 characters, or a file holding one key.
    public static func readPublicKey(fileOrZ85 text: String) throws -> CurveKey {
        if text.utf8.count == 40 && !FileManager.default.fileExists(atPath: text) {
            return try CurveKey(z85: text, source: "'\(text)'")
        }
        let keys = try publicKeys(inFile: text)
        guard keys.count == 1 else { throw CurveKeyError.malformed(source: text, reason: "it holds \(keys.count) keys, expected the server's one") }
        return keys[0]
    }

    static func publicKeys(inFile path: String) throws -> [CurveKey] {
        if path.hasSuffix(".key") {
            throw CurveKeyError.wrongKind(path: path, expected: "a public .pub file")
        }
        return try keys(inFile: path)
    }

    /// The keys of a text file: one per line, `#` comments and blank lines skipped.
    static func keys(inFile path: String) throws -> [CurveKey] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw CurveKeyError.unreadable(path: path, reason: (error as NSError).localizedFailureReason ?? error.localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CurveKeyError.malformed(source: path, reason: "it is not UTF-8 text")
        }
        var keys: [CurveKey] = []
        for (index, line) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let first = words.first, !first.hasPrefix("#") else { continue }
            let source = "\(path) line \(index + 1)"
            keys.append(try CurveKey(z85: first, source: source))
            if words.count > 1 && !words[1].hasPrefix("#") {
                throw CurveKeyError.malformed(source: source, reason: "text after the key; put one key per line (comments start with #)")
            }
        }
        guard !keys.isEmpty else { throw CurveKeyError.empty(path: path) }
        return keys
    }

    /// Creates (or replaces) `path` with `text`, with `mode` from the start (no window with wider permissions).
    static func create(_ path: String, _ text: String, mode: mode_t) throws {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode)
        guard fd >= 0 else { throw CurveKeyError.unwritable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw CurveKeyError.unwritable(path: path, reason: String(cString: strerror(errno))) }
    }
}
