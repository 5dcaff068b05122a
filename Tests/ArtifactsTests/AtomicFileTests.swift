import Artifacts
import Foundation
import XCTest

final class AtomicFileTests: XCTestCase {
    func testAtomicFile_WriteAndReplace() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("checkpoint.bin")
        try AtomicFile.write(Data("old".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("old".utf8))
        try AtomicFile.write(Data("new contents".utf8), to: url)
        XCTAssertEqual(try Data(contentsOf: url), Data("new contents".utf8))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["checkpoint.bin"],
                       "no temporary files are left behind")
    }

    func testAtomicFile_MissingDirectory_Fails() throws {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/file")
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: url)) {
            guard case let AtomicFileError.cannotCreateTemporary(path, _) = $0 else { return XCTFail("got \($0)") }
            XCTAssertEqual(path, url.path)
        }
    }

    func testAtomicFile_RenameFailure_LeavesNoTemporary_Fails() throws {
        let directory = try makeTemporaryDirectory(self)
        let destination = directory.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: destination, withIntermediateDirectories: false)
        try Data("keep".utf8).write(to: destination.appendingPathComponent("inside"))
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: destination)) {
            guard case AtomicFileError.renameFailed = $0 else { return XCTFail("got \($0)") }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["occupied"])
        XCTAssertEqual(try Data(contentsOf: destination.appendingPathComponent("inside")), Data("keep".utf8))
    }

    /// While one thread keeps replacing the file, a reader only ever sees one whole version.
    func testAtomicFile_ReaderSeesOldOrNewOnly() throws {
        let directory = try makeTemporaryDirectory(self)
        let url = directory.appendingPathComponent("state")
        let versions = [Data(repeating: 0x61, count: 5000), Data(repeating: 0x62, count: 9000)]
        try AtomicFile.write(versions[0], to: url)
        let failures = FailureLog()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            for round in 1...40 {
                do { try AtomicFile.write(versions[round % 2], to: url) } catch { failures.record("\(error)") }
            }
        }
        var reads = 0
        while group.wait(timeout: .now()) == .timedOut {
            let contents = try Data(contentsOf: url)
            XCTAssertTrue(versions.contains(contents), "read \(contents.count) bytes: a torn or partial file")
            reads += 1
        }
        XCTAssertEqual(failures.messages, [])
        XCTAssertGreaterThan(reads, 0)
        XCTAssertEqual(try Data(contentsOf: url), versions[0])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["state"])
    }
}

/// Error messages recorded from another thread.
final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var recorded: [String] = []

    func record(_ message: String) {
        lock.lock()
        recorded.append(message)
        lock.unlock()
    }

    var messages: [String] {
        lock.lock()
        defer { lock.unlock() }
        return recorded
    }
}
