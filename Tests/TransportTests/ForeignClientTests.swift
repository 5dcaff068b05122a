import Foundation
import XCTest
import TestSupport
import Transport

/// A router whose loop decodes with `WireMessage.decode` survives garbage from a foreign dealer.
final class ForeignClientTests: XCTestCase {
    private let runID: UInt64 = 0xC0FFEE

    /// One turn of a coordinator-like loop: receive, decode, answer hello, drop everything else.
    /// Returns false on timeout.
    private func serveOnce(_ router: ZMQSocket, log: inout [String]) throws -> Bool {
        guard let frames = try router.receive(timeout: .seconds(5)) else { return false }
        guard frames.count == 3 else {
            log.append("dropped: \(frames.count - 1) frames instead of 2")
            return true
        }
        do {
            let message = try WireMessage.decode(header: frames[1].bytes, payload: frames[2].bytes,
                                                 expectedRunID: runID)
            guard message.header.type == .hello else {
                log.append("dropped: unexpected \(message.header.type)")
                return true
            }
            let welcome = WireMessage(header: WireHeader(type: .welcome, runID: runID, step: 0))
            try router.send([.bytes(frames[0].bytes)] + welcome.frames)
            log.append("welcomed")
        } catch let error as WireError {
            log.append("dropped: \(error.localizedDescription)")
        }
        return true
    }

    func testForeignClient_GarbageDropped_ThenHelloAnswered() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, kind: .router)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.connect(try router.lastEndpoint)

        var generator = SplitMix64(seed: 42)
        let hello = WireMessage(header: WireHeader(type: .hello, runID: runID, step: 0), payload: [1, 2, 3])
        var wrongMagic = hello.encoded().header
        wrongMagic[0] = UInt8(ascii: "X")
        var badCRC = hello.encoded().payload
        badCRC[0] ^= 0xFF
        let otherRun = WireMessage(header: WireHeader(type: .hello, runID: 1, step: 0))
        let garbage: [[Frame]] = [
            [.bytes(Array("GET / HTTP/1.1\r\n\r\n".utf8))],
            [.bytes([]), .bytes([])],
            [.bytes((0..<56).map { _ in generator.nextByte() }), .bytes((0..<100).map { _ in generator.nextByte() })],
            [.bytes(wrongMagic), .bytes(hello.payload)],
            [.bytes(hello.encoded().header), .bytes(badCRC)],
            otherRun.frames,
            [.bytes([0xFF]), .bytes([0xFF]), .bytes([0xFF]), .bytes([0xFF])],
        ]
        for message in garbage { try dealer.send(message) }
        try dealer.send(hello.frames)

        var log: [String] = []
        for _ in 0..<(garbage.count + 1) { XCTAssertTrue(try serveOnce(router, log: &log)) }
        XCTAssertEqual(log.filter { $0.hasPrefix("dropped") }.count, garbage.count, "\(log)")
        XCTAssertEqual(log.last, "welcomed")

        let reply = try XCTUnwrap(try dealer.receive(timeout: .seconds(5)))
        XCTAssertEqual(reply.count, 2)
        let welcome = try WireMessage.decode(header: reply[0].bytes, payload: reply[1].bytes, expectedRunID: runID)
        XCTAssertEqual(welcome.header.type, .welcome)
    }
}

/// The shared fixture generator (SplitMix64) under the name these tests use.
typealias SplitMix64 = FixtureRandom
