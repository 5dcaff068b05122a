import Foundation
import Transport

/// One worker's line in `largevae status`.
public struct WorkerStatus: Codable, Equatable, Sendable {
    public var name: String
    public var pid: Int32
    public var unitsDone: Int
    public var unitsInFlight: Int
    public var secondsSinceHeartbeat: Double
    public var unitsPerSecond: Double
    public var computeSeconds: Double
    public var bytesSent: Int
    public var bytesReceived: Int
}

/// The answer to a status request.
public struct ClusterStatus: Codable, Equatable, Sendable {
    public var runID: String
    public var round: UInt64
    public var workers: [WorkerStatus]
}

/// Asks a coordinator for its `ClusterStatus`.
public enum ClusterStatusClient {
    public enum Failure: Error, LocalizedError {
        case noAnswer(seconds: Double)
        public var errorDescription: String? {
            switch self {
            case let .noAnswer(s): return "no coordinator answered within \(s) s; check the endpoint"
            }
        }
    }

    /// Sends a status request on a connected dealer socket and decodes the answer.
    public static func query(_ socket: ZMQSocket, timeout: Duration) throws -> ClusterStatus {
        let deadline = ContinuousClock.now + timeout
        // A dealer whose connection never completes (a plaintext client of a CURVE server, say)
        // blocks in send: bound that by the timeout too.
        try socket.set(.sendTimeout(milliseconds: ZMQ.milliseconds(timeout)))
        do {
            try socket.send(WireHeader(type: .status, runID: 0, step: 0))
        } catch ZMQError.send(let code, _) where code == EAGAIN {
            throw Failure.noAnswer(seconds: timeout.seconds)
        }
        while ContinuousClock.now < deadline {
            guard let message = try socket.receiveMessage(timeout: deadline - .now), message.count == 2 else { continue }
            guard let header = try? WireMessage.validate(header: message.frame(0), payload: message.frame(1)),
                  header.type == .status else { continue }
            return try decodeJSON(ClusterStatus.self, message.frame(1))
        }
        throw Failure.noAnswer(seconds: timeout.seconds)
    }
}
