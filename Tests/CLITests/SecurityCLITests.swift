import XCTest
import Foundation

/// `largevae keygen`, and the coordinator's refusal to bind a reachable address without keys.
final class SecurityCLITests: XCTestCase {
    override class func setUp() {
        super.setUp()
        CLITests.makeFixtures()
    }

    func directory(_ name: String) throws -> URL {
        let dir = CLITests.work.appendingPathComponent("security-\(name)")
        try? FileManager.default.removeItem(at: dir)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs `largevae` to completion: its status and its output (stdout and stderr).
    func largevae(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = try Spawned(arguments)
        let status = p.finish(seconds: 60)
        return (status, p.output)
    }

    func testKeygen_WritesKeyPair_RefusesToOverwrite() throws {
        let dir = try directory("keygen"), prefix = dir.appendingPathComponent("node").path
        let made = try largevae(["keygen", "--out", prefix])
        XCTAssertEqual(made.status, 0, made.output)
        let pub = try String(contentsOfFile: prefix + ".pub", encoding: .utf8)
        let key = try XCTUnwrap(pub.split(separator: "\n").last.map(String.init))
        XCTAssertEqual(key.count, 40)
        XCTAssertTrue(made.output.contains(key), "keygen prints the public key")
        let mode = try FileManager.default.attributesOfItem(atPath: prefix + ".key")[.posixPermissions] as? Int
        XCTAssertEqual(mode, 0o600)

        let again = try largevae(["keygen", "--out", prefix])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.output.contains("already exists") && again.output.contains("--force"), again.output)
        XCTAssertEqual(try String(contentsOfFile: prefix + ".pub", encoding: .utf8), pub, "nothing was overwritten")
        XCTAssertEqual(try largevae(["keygen", "--out", prefix, "--force"]).status, 0)
        XCTAssertNotEqual(try String(contentsOfFile: prefix + ".pub", encoding: .utf8), pub)
    }

    func testCoordinator_ReachableBindNeedsKeysOrInsecure() throws {
        let port = Int.random(in: 20_000..<60_000), bind = "tcp://0.0.0.0:\(port)"
        let run = ["--dataset", "frey", "--hidden", "24", "--latent", "4", "--components", "12", "--epochs", "1",
                   "--train-limit", "200", "--run-dir", try directory("insecure").path]
        let refused = try largevae(["coordinator", "--bind", bind] + run)
        XCTAssertEqual(refused.status, 64, refused.output)
        XCTAssertTrue(refused.output.contains("--insecure") && refused.output.contains("largevae keygen"), refused.output)
        for bind in ["tcp://10.1.2.3:\(port)", "tcp://*:\(port)", "tcp://[::]:\(port)", "tcp://eth0:\(port)"] {
            XCTAssertEqual(try largevae(["coordinator", "--bind", bind] + run).status, 64, bind)
        }

        let keys = try directory("keys")
        XCTAssertEqual(try largevae(["keygen", "--out", keys.appendingPathComponent("c").path]).status, 0)
        let secret = keys.appendingPathComponent("c.key").path, pub = keys.appendingPathComponent("c.pub").path
        let half = try largevae(["coordinator", "--bind", bind, "--curve-secret", secret] + run)
        XCTAssertEqual(half.status, 64)
        XCTAssertTrue(half.output.contains("--curve-secret and --allow go together"), half.output)
        let both = try largevae(["coordinator", "--bind", bind, "--curve-secret", secret, "--allow", pub, "--insecure"] + run)
        XCTAssertEqual(both.status, 64, both.output)
        let worker = try largevae(["worker", "--connect", "tcp://127.0.0.1:\(port)", "--curve-secret", secret])
        XCTAssertEqual(worker.status, 64)
        XCTAssertTrue(worker.output.contains("--server-key"), worker.output)

        try Data("not a key\n".utf8).write(to: keys.appendingPathComponent("bad.key"))
        let bad = try largevae(["coordinator", "--bind", bind, "--curve-secret", keys.appendingPathComponent("bad.key").path,
                                "--allow", pub] + run)
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.output.contains("error: \(keys.appendingPathComponent("bad.key").path) line 1 is not a CurveZMQ key"), bad.output)

        let insecure = try Spawned(["coordinator", "--bind", bind, "--insecure"] + run)
        defer { if insecure.process.isRunning { insecure.process.terminate() } }
        XCTAssertTrue(insecure.waitFor("listening on"), insecure.output)
        XCTAssertTrue(insecure.output.contains("not encrypted"), "--insecure is logged as a warning: \(insecure.output)")
    }
}
