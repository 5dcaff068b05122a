import CZeroMQ
import Foundation

/// Why a CurveZMQ key or key file could not be used. Every case names what to fix.
public enum CurveKeyError: Error, LocalizedError, Equatable {
    /// This libzmq was built without CURVE (`zmq_has("curve") == 0`).
    case curveUnavailable
    /// Text that should be a key is not 40 characters of the Z85 alphabet.
    case malformed(source: String, reason: String)
    /// A public key file was given where a secret one belongs, or the other way round.
    case wrongKind(path: String, expected: String)
    /// A key file (or allow-list) holds no key at all.
    case empty(path: String)
    /// A key file or allow-list could not be read.
    case unreadable(path: String, reason: String)
    /// `keygen` would overwrite an existing file.
    case exists(path: String)
    /// A key file could not be written.
    case unwritable(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .curveUnavailable:
            return "this libzmq has no CURVE support; install a libzmq built with libsodium (Debian: libzmq5)"
        case let .malformed(source, reason):
            return "\(source) is not a CurveZMQ key: \(reason); make keys with `largevae keygen --out PREFIX`"
        case let .wrongKind(path, expected):
            return "\(path) is not \(expected); pass \(expected) (`largevae keygen --out PREFIX` writes PREFIX.key, the secret key, and PREFIX.pub)"
        case let .empty(path):
            return "\(path) holds no CurveZMQ key; make one with `largevae keygen --out PREFIX`"
        case let .unreadable(path, reason):
            return "cannot read the key file \(path): \(reason)"
        case let .exists(path):
            return "\(path) already exists; pass --force to overwrite it (its old key stops working)"
        case let .unwritable(path, reason):
            return "cannot write the key file \(path): \(reason)"
        }
    }
}

/// A 32-byte Curve25519 key (public or secret), written as 40 characters of Z85 in files.
public struct CurveKey: Hashable, Sendable, CustomStringConvertible {
    /// The key's 32 bytes, the form libzmq's socket options take.
    public let bytes: [UInt8]

    /// The Z85 alphabet of ZeroMQ RFC 32.
    static let alphabet = Set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Wraps 32 raw bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a Curve25519 key has 32 bytes")
        self.bytes = bytes
    }

    /// Decodes a 40-character Z85 key.
    ///
    /// - Parameters:
    ///   - z85: the key's text (surrounding whitespace is not allowed here; trim first).
    ///   - source: where the text came from (a file and line), for the error.
    /// - Throws: `CurveKeyError.malformed` naming `source`.
    public init(z85: String, source: String = "the key") throws {
        let utf8 = Array(z85.utf8)
        guard utf8.count == 40 else {
            throw CurveKeyError.malformed(source: source, reason: "it has \(utf8.count) characters, a Z85 key has 40")
        }
        if let bad = utf8.first(where: { !Self.alphabet.contains($0) }) {
            throw CurveKeyError.malformed(source: source, reason: "'\(Character(Unicode.Scalar(bad)))' is not a Z85 character")
        }
        var decoded = [UInt8](repeating: 0, count: 32)
        guard zmq_z85_decode(&decoded, z85) != nil else {
            throw CurveKeyError.malformed(source: source, reason: "it does not decode as Z85")
        }
        self.bytes = decoded
    }

    /// The 40-character Z85 text of this key.
    public var z85: String {
        var text = [CChar](repeating: 0, count: 41)
        bytes.withUnsafeBufferPointer { _ = zmq_z85_encode(&text, $0.baseAddress, 32) }
        return String(cString: text)
    }

    public var description: String { z85 }
}

/// A CurveZMQ key pair: the public key is shared, the secret key stays on its machine.
public struct CurveKeyPair: Sendable, Equatable {
    public let publicKey: CurveKey
    public let secretKey: CurveKey

    /// Makes a new random key pair (`zmq_curve_keypair`).
    public static func generate() throws -> CurveKeyPair {
        guard zmq_has("curve") != 0 else { throw CurveKeyError.curveUnavailable }
        var publicText = [CChar](repeating: 0, count: 41), secretText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_keypair(&publicText, &secretText) == 0 else { throw CurveKeyError.curveUnavailable }
        return try CurveKeyPair(secretKey: CurveKey(z85: String(cString: secretText)))
    }

    /// The pair of a secret key, its public key derived with `zmq_curve_public`.
    public init(secretKey: CurveKey) throws {
        guard zmq_has("curve") != 0 else { throw CurveKeyError.curveUnavailable }
        var publicText = [CChar](repeating: 0, count: 41)
        guard zmq_curve_public(&publicText, secretKey.z85) == 0 else { throw CurveKeyError.curveUnavailable }
        self.publicKey = try CurveKey(z85: String(cString: publicText))
        self.secretKey = secretKey
    }
}

/// How a CURVE server (the coordinator) authenticates: its key pair, and the public keys of
/// the clients it admits (checked by a `ZAPHandler`).
public struct CurveServerSecurity: Sendable {
    public var keyPair: CurveKeyPair
    public var allowedClients: Set<CurveKey>
    /// The ZAP domain the server's socket reports to the handler.
    public var domain = "largevae"

    public init(keyPair: CurveKeyPair, allowedClients: Set<CurveKey>) {
        self.keyPair = keyPair
        self.allowedClients = allowedClients
    }
}

/// How a CURVE client (a worker, `largevae status`) connects: its own key pair, and the
/// server's public key, which it checks during the handshake.
public struct CurveClientSecurity: Sendable {
    public var keyPair: CurveKeyPair
    public var serverKey: CurveKey

    public init(keyPair: CurveKeyPair, serverKey: CurveKey) {
        self.keyPair = keyPair
        self.serverKey = serverKey
    }
}

extension ZMQSocket {
    /// Makes this socket a CURVE server that asks the ZAP handler about every client (call before `bind`).
    ///
    /// - Parameter security: the server's key pair and ZAP domain (a `ZAPHandler` must be running
    ///   on this socket's context before clients connect).
    public func makeCurveServer(_ security: CurveServerSecurity) throws {
        try set(.curveServer(true))
        try set(.curveSecretKey(security.keyPair.secretKey))
        try set(.zapDomain(security.domain))
    }

    /// Makes this socket a CURVE client of the server with `security.serverKey` (call before `connect`).
    public func makeCurveClient(_ security: CurveClientSecurity) throws {
        try set(.curveServerKey(security.serverKey))
        try set(.curvePublicKey(security.keyPair.publicKey))
        try set(.curveSecretKey(security.keyPair.secretKey))
    }
}
