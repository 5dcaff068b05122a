import Foundation
import XCTest
import Transport

/// CurveZMQ: key pairs and key files, and a CURVE router whose ZAP handler admits listed keys only.
final class CurveTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("curve-tests-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(at: directory)
    }

    private func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func write(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: directory.appendingPathComponent(name))
        return path(name)
    }

    /// The error `body` throws, which must be a `CurveKeyError`.
    private func keyError(_ body: () throws -> Any, file: StaticString = #filePath, line: UInt = #line) -> CurveKeyError? {
        do { _ = try body() } catch let error as CurveKeyError { return error } catch {
            XCTFail("not a CurveKeyError: \(error)", file: file, line: line)
            return nil
        }
        XCTFail("no error", file: file, line: line)
        return nil
    }

    func testKeyPair_Z85RoundTripAndDerivedPublicKey() throws {
        let pair = try CurveKeyPair.generate()
        XCTAssertEqual(pair.publicKey.z85.count, 40)
        XCTAssertEqual(try CurveKey(z85: pair.secretKey.z85), pair.secretKey)
        XCTAssertEqual(try CurveKeyPair(secretKey: pair.secretKey), pair, "public key derived from the secret one")
        XCTAssertNotEqual(try CurveKeyPair.generate(), pair)
    }

    func testKeyFiles_RoundTrip_ModeAndNoOverwrite() throws {
        let pair = try CurveKeyPair.generate()
        let paths = try CurveKeyFile.write(pair, prefix: path("node"))
        XCTAssertEqual(paths.secret, path("node.key"))
        let mode = try FileManager.default.attributesOfItem(atPath: paths.secret)[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600, "the secret key is readable by its owner only")
        XCTAssertEqual(try CurveKeyFile.readKeyPair(secretFile: paths.secret), pair)
        XCTAssertEqual(try CurveKeyFile.readPublicKey(fileOrZ85: paths.public), pair.publicKey)
        XCTAssertEqual(try CurveKeyFile.readPublicKey(fileOrZ85: pair.publicKey.z85), pair.publicKey)

        XCTAssertEqual(keyError { try CurveKeyFile.write(try CurveKeyPair.generate(), prefix: self.path("node")) },
                       .exists(path: paths.secret))
        XCTAssertEqual(try CurveKeyFile.readKeyPair(secretFile: paths.secret), pair, "the refused keygen changed nothing")
        let other = try CurveKeyPair.generate()
        try CurveKeyFile.write(other, prefix: path("node"), overwrite: true)
        XCTAssertEqual(try CurveKeyFile.readKeyPair(secretFile: paths.secret), other)
    }

    /// One key per line with comments, or a directory of .pub files.
    func testAllowList_FileWithCommentsAndDirectory() throws {
        let keys = try (0..<3).map { _ in try CurveKeyPair.generate().publicKey }
        let list = try write("allowed", "# workers\n\n  \(keys[0].z85)   # node 1\n\(keys[1].z85)\r\n#\(keys[2].z85.dropFirst())\n")
        XCTAssertEqual(try CurveKeyFile.readPublicKeys(list), [keys[0], keys[1]], "a commented-out key is a comment")
        // '#' (Z85 digit 84) never starts a key: 84·85⁴ > 2³², so such text does not decode.
        XCTAssertThrowsError(try CurveKey(z85: "#" + String(keys[2].z85.dropFirst())))

        let dir = directory.appendingPathComponent("workers")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for (i, key) in keys.enumerated() { try Data("\(key.z85)\n".utf8).write(to: dir.appendingPathComponent("w\(i).pub")) }
        try Data("not a key\n".utf8).write(to: dir.appendingPathComponent("README"))
        XCTAssertEqual(try CurveKeyFile.readPublicKeys(dir.path), keys)
    }

    /// Short, long, non-Z85, empty, missing and mixed-up files: typed errors naming the file.
    func testBadKeyFiles_TypedErrorsNameTheFile() throws {
        let good = try CurveKeyPair.generate()
        let cases: [(String, String)] = [
            ("short.key", "abc\n"),
            ("long.key", good.secretKey.z85 + "x\n"),
            ("notz85.key", String(good.secretKey.z85.dropLast()) + "\"\n"),
            ("two.key", "\(good.secretKey.z85)\n\(good.secretKey.z85)\n"),
            ("trailing.key", "\(good.secretKey.z85) extra\n"),
        ]
        for (name, text) in cases {
            let file = try write(name, text)
            let error = keyError { try CurveKeyFile.readKeyPair(secretFile: file) }
            XCTAssertTrue(error?.localizedDescription.contains(file) == true, "\(name): \(String(describing: error?.localizedDescription))")
        }
        XCTAssertEqual(keyError { try CurveKeyFile.readKeyPair(secretFile: try self.write("empty.key", "# nothing\n\n")) },
                       .empty(path: path("empty.key")))
        if case .unreadable(let p, _)? = keyError({ try CurveKeyFile.readKeyPair(secretFile: self.path("missing.key")) }) {
            XCTAssertEqual(p, path("missing.key"))
        } else { XCTFail("a missing file is .unreadable") }
        let pub = try CurveKeyFile.write(good, prefix: path("mixed")).public
        XCTAssertEqual(keyError { try CurveKeyFile.readKeyPair(secretFile: pub) }, .wrongKind(path: pub, expected: "a secret .key file"))
        XCTAssertEqual(keyError { try CurveKeyFile.readPublicKeys(self.path("mixed.key")) },
                       .wrongKind(path: path("mixed.key"), expected: "a public .pub file"))
        XCTAssertTrue(keyError { try CurveKeyFile.readPublicKey(fileOrZ85: "tooshort") }?.localizedDescription.contains("tooshort") == true)
        let badLine = try write("allow-bad", "\(good.publicKey.z85)\nnot-a-key\n")
        XCTAssertTrue(keyError { try CurveKeyFile.readPublicKeys(badLine) }?.localizedDescription.contains("\(badLine) line 2") == true)
    }

    func testReportRateLimit_BurstThenSummary() {
        var limit = ReportRateLimit(burst: 3, window: .seconds(60))
        let t0 = ContinuousClock.now
        let first = (0..<100).map { _ in limit.admit(now: t0) }
        XCTAssertEqual(first.filter(\.report).count, 3, "a flood reports only the burst")
        let later = limit.admit(now: t0 + .seconds(61))
        XCTAssertTrue(later.report)
        XCTAssertEqual(later.suppressed, 97, "the next report counts what was not reported")
    }

    // MARK: sockets

    private struct Server {
        let context: ZMQContext
        let router: ZMQSocket
        let endpoint: String
        let keys: CurveKeyPair
        let handler: ZAPHandler
        let reports: Reports
    }

    /// Refusal reports, collected from the handler thread.
    final class Reports: @unchecked Sendable {
        // @unchecked: `lines` is only touched under `lock`.
        private let lock = NSLock()
        private var lines: [String] = []
        func add(_ line: String) { lock.lock(); lines.append(line); lock.unlock() }
        var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
    }

    private func curveServer(allowing allowed: [CurveKey]) throws -> Server {
        let context = try ZMQContext()
        let keys = try CurveKeyPair.generate()
        let reports = Reports()
        let security = CurveServerSecurity(keyPair: keys, allowedClients: Set(allowed))
        let handler = try ZAPHandler(context: context, allowed: security.allowedClients, domain: security.domain) { reports.add($0) }
        let router = try ZMQSocket(context: context, kind: .router)
        try router.makeCurveServer(security)
        try router.bind("tcp://127.0.0.1:*")
        return Server(context: context, router: router, endpoint: try router.lastEndpoint, keys: keys, handler: handler, reports: reports)
    }

    private func client(_ server: Server, keys: CurveKeyPair?, id: String) throws -> ZMQSocket {
        let dealer = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
        try dealer.set(.routingID(Array(id.utf8)))
        if let keys { try dealer.makeCurveClient(CurveClientSecurity(keyPair: keys, serverKey: server.keys.publicKey)) }
        try dealer.connect(server.endpoint)
        try dealer.send([.bytes(Array("hello from \(id)".utf8))], dontWait: true)
        return dealer
    }

    /// The allowed client's message arrives and is answered; an unknown key and a plaintext
    /// client reach nothing, and the unknown key's refusal is reported with its address and key.
    func testCurveRouter_AdmitsListedKeyOnly_RefusesUnknownAndPlaintext() throws {
        let allowed = try CurveKeyPair.generate(), stranger = try CurveKeyPair.generate()
        let server = try curveServer(allowing: [allowed.publicKey])
        let intruder = try client(server, keys: stranger, id: "intruder")
        let plain = try client(server, keys: nil, id: "plaintext")
        let friend = try client(server, keys: allowed, id: "friend")
        // A client with the right keys but the wrong server key cannot finish its handshake either.
        let impostor = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
        try impostor.makeCurveClient(CurveClientSecurity(keyPair: allowed, serverKey: stranger.publicKey))
        try impostor.connect(server.endpoint)
        try impostor.send([.bytes(Array("hello from impostor".utf8))], dontWait: true)

        var received: [String] = []
        let deadline = ContinuousClock.now + .seconds(3)
        while ContinuousClock.now < deadline {
            guard let frames = try server.router.receive(timeout: .milliseconds(100)) else { continue }
            received.append(String(decoding: frames[1].bytes, as: UTF8.self))
            try server.router.send([.bytes(frames[0].bytes), .bytes(Array("welcome".utf8))])
        }
        XCTAssertEqual(received, ["hello from friend"], "only the listed key's message reached the router")
        XCTAssertEqual(try friend.receive(timeout: .seconds(2)).map { String(decoding: $0[0].bytes, as: UTF8.self) }, "welcome")
        for socket in [intruder, plain, impostor] { XCTAssertNil(try socket.receive(timeout: .zero)) }

        let counts = server.handler.counts
        XCTAssertEqual(counts.admitted, 1)
        XCTAssertGreaterThanOrEqual(counts.refused, 1, "the unknown key was asked about and refused")
        let reports = server.reports.all
        XCTAssertLessThanOrEqual(reports.count, ZAPHandler.reportBurst, "reconnect attempts do not flood the log")
        XCTAssertTrue(reports.first?.contains(stranger.publicKey.z85) == true && reports.first?.contains("127.0.0.1") == true,
                      "the refusal names the client's key and address: \(reports)")
        XCTAssertFalse(reports.joined().contains(allowed.publicKey.z85))
    }

    /// One handler per context; stopping it takes at most a poll interval, and its context can
    /// then end (`zmq_ctx_term` would wait forever for a socket left open).
    func testZAPHandler_OnePerContext_StopsPromptly() throws {
        let start = ContinuousClock.now
        do {
            let context = try ZMQContext()
            let handler = try ZAPHandler(context: context, allowed: [], domain: "x") { _ in }
            XCTAssertThrowsError(try ZAPHandler(context: context, allowed: [], domain: "x") { _ in })
            handler.stop()
            handler.stop()
        }
        XCTAssertLessThan(ContinuousClock.now - start, .seconds(2))
    }
}
