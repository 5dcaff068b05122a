import Foundation
import XCTest
import TestSupport

/// A fresh empty directory under the system temporary directory, removed at teardown.
func makeTemporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("artifacts-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// The directory holding this file, and so the Python helper scripts.
let testSourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

/// What a helper script printed.
struct ScriptOutput {
    let status: Int32
    let stdout: Data
    let stderr: String
}

/// Runs `python3 <script> <arguments>` from this test directory, skipping the test when
/// python3 is missing or the script exits with 3 (its "module not importable" code).
///
/// - Parameters:
///   - script: a file name in `Tests/ArtifactsTests`.
///   - arguments: passed after the script path.
///   - scratch: a directory for the captured output files.
/// - Returns: the output of a run that exited 0.
func runPythonScript(_ script: String, _ arguments: [String], scratch: URL,
                     file: StaticString = #filePath, line: UInt = #line) throws -> Data {
    let output = try runProcess("/usr/bin/env", ["python3", testSourceDirectory.appendingPathComponent(script).path]
                                + arguments, scratch: scratch)
    if output.status == 127 {
        throw XCTSkip("python3 is not on PATH; install it to run the reference read-back test")
    }
    if output.status == 3 {
        let reason = "\(script): \(output.stderr.trimmingCharacters(in: .whitespacesAndNewlines)); "
            + "install with `python3 -m pip install tensorboard safetensors numpy`"
        print("skipping: \(reason)")
        throw XCTSkip(reason)
    }
    XCTAssertEqual(output.status, 0, "\(script) failed:\n\(output.stderr)", file: file, line: line)
    return output.stdout
}

/// Runs a program to completion, with its output captured through files (no pipe deadlocks).
func runProcess(_ executable: String, _ arguments: [String], scratch: URL) throws -> ScriptOutput {
    let outURL = scratch.appendingPathComponent("stdout-\(UUID().uuidString)")
    let errURL = scratch.appendingPathComponent("stderr-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: outURL)
    process.standardError = try FileHandle(forWritingTo: errURL)
    try process.run()
    process.waitUntilExit()
    let stderr = String(decoding: (try? Data(contentsOf: errURL)) ?? Data(), as: UTF8.self)
    return ScriptOutput(status: process.terminationStatus, stdout: try Data(contentsOf: outURL), stderr: stderr)
}

/// Decodes a script's JSON output as a dictionary, failing the test otherwise.
func jsonObject(_ data: Data, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: data)
    return try XCTUnwrap(object as? [String: Any], "not a JSON object: \(String(decoding: data, as: UTF8.self))",
                         file: file, line: line)
}

/// The shared fixture generator (SplitMix64) under the name these tests use.
typealias SplitMix64 = FixtureRandom
