import Foundation
import XCTest
import Transport

/// Real ROUTER/DEALER sockets over loopback TCP and IPC.
final class SocketTests: XCTestCase {
    private let wait: Duration = .seconds(5)

    private func makeRouter(_ context: ZMQContext, bind endpoint: String,
                            maximumMessageSize: Int = 256 << 20) throws -> (ZMQSocket, String) {
        let router = try ZMQSocket(context: context, kind: .router, maximumMessageSize: maximumMessageSize)
        try router.set(.routerMandatory(true))
        try router.bind(endpoint)
        return (router, try router.lastEndpoint)
    }

    private func makeDealer(_ context: ZMQContext, id: String, connect endpoint: String) throws -> ZMQSocket {
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.set(.routingID(Array(id.utf8)))
        try dealer.set(.heartbeatInterval(milliseconds: 1000))
        try dealer.set(.heartbeatTimeout(milliseconds: 3000))
        try dealer.set(.heartbeatTTL(milliseconds: 3000))
        try dealer.connect(endpoint)
        return dealer
    }

    private func text(_ frame: ReceivedFrame) -> String { String(decoding: frame.bytes, as: UTF8.self) }

    /// Two dealers with distinct ids talk to one router; each reply reaches the right dealer.
    private func roundTrip(bind endpoint: String) throws {
        let context = try ZMQContext()
        let (router, bound) = try makeRouter(context, bind: endpoint)
        let alice = try makeDealer(context, id: "worker-A", connect: bound)
        let bob = try makeDealer(context, id: "worker-B", connect: bound)

        try alice.send([.bytes(Array("hello".utf8)), .bytes(Array("from A".utf8))])
        try bob.send([.bytes(Array("hello".utf8)), .bytes([]), .bytes(Array("from B".utf8))])

        var seen: [String: [String]] = [:]
        for _ in 0..<2 {
            let frames = try XCTUnwrap(try router.receive(timeout: wait))
            let id = text(frames[0])
            seen[id] = frames.dropFirst().map(text)
            try router.send([.bytes(frames[0].bytes), .bytes(Array("reply to \(id)".utf8))])
        }
        XCTAssertEqual(seen["worker-A"], ["hello", "from A"])
        XCTAssertEqual(seen["worker-B"], ["hello", "", "from B"])
        XCTAssertEqual(try alice.receive(timeout: wait)?.map(text), ["reply to worker-A"])
        XCTAssertEqual(try bob.receive(timeout: wait)?.map(text), ["reply to worker-B"])

        // ROUTER_MANDATORY: an unknown peer is an error, not a silent drop.
        XCTAssertThrowsError(try router.send([.bytes(Array("nobody".utf8)), .bytes([1])]))
    }

    func testRouterDealer_TCP_RoundTrip() throws {
        try roundTrip(bind: "tcp://127.0.0.1:*")
    }

    func testRouterDealer_IPC_RoundTrip() throws {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("lvae-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try roundTrip(bind: "ipc://\(dir.path)/router.sock")
    }

    func testLastEndpoint_ReportsBoundPort() throws {
        let context = try ZMQContext()
        let (_, bound) = try makeRouter(context, bind: "tcp://127.0.0.1:*")
        XCTAssertTrue(bound.hasPrefix("tcp://127.0.0.1:"), bound)
        XCTAssertNotEqual(bound, "tcp://127.0.0.1:*")
    }

    func testBind_BadEndpoint_Fails() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context: context, kind: .router)
        XCTAssertThrowsError(try router.bind("nonsense://x")) { error in
            guard case .bind(endpoint: "nonsense://x", _, _)? = error as? ZMQError else {
                return XCTFail("unexpected \(error)")
            }
        }
        router.close()
        XCTAssertThrowsError(try router.connect("tcp://127.0.0.1:1"))
    }

    func testReceive_Timeout_ReturnsNil() throws {
        let context = try ZMQContext()
        let (router, _) = try makeRouter(context, bind: "tcp://127.0.0.1:*")
        let start = ContinuousClock.now
        XCTAssertNil(try router.receive(timeout: .milliseconds(50)))
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .milliseconds(45))
        XCTAssertNil(try router.receive(timeout: .zero))
    }

    /// A zero timeout (what a polling worker uses) checks `ZMQ_EVENTS` instead of polling: nil
    /// until a message is there, then the whole message, then nil again; a closed socket throws.
    func testReceiveMessage_ZeroTimeout_PollsWithoutWaiting() throws {
        let context = try ZMQContext()
        let (router, bound) = try makeRouter(context, bind: "tcp://127.0.0.1:*")
        let dealer = try makeDealer(context, id: "poller", connect: bound)
        XCTAssertFalse(try router.hasMessage)
        XCTAssertNil(try router.receiveMessage(timeout: .zero))
        try dealer.send([.bytes(Array("head".utf8)), .bytes(Array("body".utf8))])
        let deadline = ContinuousClock.now + wait
        var message: ReceivedMessage?
        while message == nil && ContinuousClock.now < deadline {
            message = try router.receiveMessage(timeout: .zero)
        }
        let m = try XCTUnwrap(message, "the message never showed up to a zero-timeout poll")
        XCTAssertEqual(m.count, 3)   // routing id, head, body
        XCTAssertEqual(String(decoding: m.frame(2), as: UTF8.self), "body")
        XCTAssertFalse(try router.hasMessage)
        XCTAssertNil(try router.receiveMessage(timeout: .zero))
        router.close()
        XCTAssertThrowsError(try router.hasMessage)
    }

    func testReceive_TooLarge_Fails_ThenKeepsWorking() throws {
        let context = try ZMQContext()
        let (router, bound) = try makeRouter(context, bind: "tcp://127.0.0.1:*", maximumMessageSize: 1 << 20)
        let dealer = try makeDealer(context, id: "big", connect: bound)
        let chunk = [UInt8](repeating: 7, count: 400_000)
        try dealer.send([.bytes(chunk), .bytes(chunk), .bytes(chunk)])  // 1.2 MB > 1 MiB
        try dealer.send([.bytes(Array("small".utf8))])
        XCTAssertThrowsError(try router.receive(timeout: wait)) { error in
            XCTAssertEqual(error as? ZMQError, .messageTooLarge(limit: 1 << 20))
        }
        let frames = try XCTUnwrap(try router.receive(timeout: wait))
        XCTAssertEqual(frames.map(text), ["big", "small"])
    }

    /// 6 MB of floats sent zero-copy: intact on arrival, owner released after the send.
    func testZeroCopy_SixMegabytes_IntactAndOwnerReleased() throws {
        let context = try ZMQContext()
        let (router, bound) = try makeRouter(context, bind: "tcp://127.0.0.1:*")
        let dealer = try makeDealer(context, id: "zc", connect: bound)
        let count = 1_500_000  // 6 MB of fp32
        let floats = (0..<count).map { Float($0) * 0.25 - 1000 }

        var owner: OwnedBuffer? = OwnedBuffer(floats: floats)
        weak let weakOwner = owner
        try dealer.send([.bytes(Array("params".utf8)), .buffer(owner!)])
        owner = nil
        let frames = try XCTUnwrap(try router.receive(timeout: wait))
        XCTAssertEqual(frames.count, 3)
        XCTAssertEqual(try WirePayload.decodeFloat32(frames[2].bytes, count: count), floats)

        let deadline = ContinuousClock.now + .seconds(1)
        while weakOwner != nil && ContinuousClock.now < deadline { usleep(1000) }
        XCTAssertNil(weakOwner, "libzmq did not release the zero-copy owner")

        // Timing (not asserted): send + receive (including the copy out of libzmq).
        let buffer = OwnedBuffer(floats: floats)
        var times: [Double] = []
        for _ in 0..<10 {
            let start = ContinuousClock.now
            try dealer.send([.buffer(buffer)])
            _ = try XCTUnwrap(try router.receive(timeout: wait))
            let elapsed = ContinuousClock.now - start
            times.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
        }
        let median = times.sorted()[times.count / 2]
        print(String(format: "6 MB zero-copy dealer→router over loopback TCP: median %.2f ms (%.0f MB/s)",
                     median, 6.0 / (median / 1000)))
    }
}
