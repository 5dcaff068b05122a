import ArgumentParser
import Foundation
import Transport

/// `largevae keygen`: a CurveZMQ key pair for a coordinator, a worker or a status client.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CurveZMQ key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub; prints the public key.",
        discussion: """
            The coordinator takes its secret key and an allow-list of worker public keys; each worker (and \
            `largevae status`) takes its own secret key and the coordinator's public key. Traffic is then \
            encrypted, and only listed workers can connect.

            Example:
              largevae keygen --out keys/coordinator
              largevae keygen --out keys/worker1
              largevae coordinator --bind tcp://0.0.0.0:5555 --curve-secret keys/coordinator.key --allow keys/worker1.pub ...
              largevae worker --connect tcp://HOST:5555 --curve-secret keys/worker1.key --server-key keys/coordinator.pub
            """)

    @Option(help: "Path prefix of the two files: writes PREFIX.key and PREFIX.pub.")
    var out: String
    @Flag(help: "Overwrite existing key files (whoever used the old key can no longer connect).")
    var force = false

    func run() throws {
        try reportingErrors {
            let pair = try CurveKeyPair.generate()
            let paths = try CurveKeyFile.write(pair, prefix: out, overwrite: force)
            FileHandle.standardError.write(Data("wrote \(paths.secret) (secret: keep it on this machine) and \(paths.public)\n".utf8))
            print(pair.publicKey.z85)
        }
    }
}

/// The coordinator's CurveZMQ flags: its secret key and the allow-list, or `--insecure`.
struct ServerSecurityFlags: ParsableArguments {
    @Option(name: .customLong("curve-secret"), help: "The coordinator's secret key file (from `largevae keygen`): encrypt all traffic and admit only --allow keys.")
    var curveSecret: String?
    @Option(help: "Public keys of the workers and status clients to admit: a file with one key per line (# comments) or a directory of .pub files.")
    var allow: String?
    @Flag(help: "Bind an address other machines can reach without keys: no authentication and no encryption.")
    var insecure = false

    func validate() throws {
        if (curveSecret == nil) != (allow == nil) {
            throw ValidationError("--curve-secret and --allow go together: the coordinator's secret key, and the public keys of the workers it admits.")
        }
        if insecure && curveSecret != nil {
            throw ValidationError("--insecure turns keys off; drop it, or drop --curve-secret and --allow.")
        }
    }

    /// Refuses to bind an address that other machines can reach without keys or `--insecure`.
    func check(bind: String) throws {
        guard curveSecret == nil && !insecure && !isLocalOnly(bind) else { return }
        throw ValidationError("""
            --bind \(bind) can be reached from other machines, and without keys anyone who reaches it can join the run, \
            send it gradients and read the model. Make key pairs with `largevae keygen --out coordinator` (and one per worker), \
            then pass --curve-secret coordinator.key --allow WORKER_PUBLIC_KEYS (and give each worker --curve-secret and \
            --server-key coordinator.pub). Or pass --insecure to run unauthenticated and unencrypted on a network you trust. \
            ipc:// and loopback addresses (127.0.0.1, ::1, localhost) need no keys.
            """)
    }

    /// The keys, read from their files (typed errors name the file), or nil without them.
    func load() throws -> CurveServerSecurity? {
        guard let curveSecret, let allow else { return nil }
        return CurveServerSecurity(keyPair: try CurveKeyFile.readKeyPair(secretFile: curveSecret),
                                   allowedClients: Set(try CurveKeyFile.readPublicKeys(allow)))
    }
}

/// A worker's or status client's CurveZMQ flags: its own secret key and the coordinator's public key.
struct ClientSecurityFlags: ParsableArguments {
    @Option(name: .customLong("curve-secret"), help: "This client's secret key file (from `largevae keygen`); its public key must be on the coordinator's --allow list.")
    var curveSecret: String?
    @Option(name: .customLong("server-key"), help: "The coordinator's public key: its .pub file, or the 40-character key itself.")
    var serverKey: String?

    func validate() throws {
        if (curveSecret == nil) != (serverKey == nil) {
            throw ValidationError("--curve-secret and --server-key go together: this client's secret key, and the coordinator's public key.")
        }
    }

    /// The keys, read from their files (typed errors name the file), or nil without them.
    func load() throws -> CurveClientSecurity? {
        guard let curveSecret, let serverKey else { return nil }
        return CurveClientSecurity(keyPair: try CurveKeyFile.readKeyPair(secretFile: curveSecret),
                                   serverKey: try CurveKeyFile.readPublicKey(fileOrZ85: serverKey))
    }

    /// What to check when no coordinator answered: a CURVE handshake that fails looks like silence.
    var noAnswerHint: String {
        curveSecret == nil
            ? " If the coordinator runs with --curve-secret, pass --curve-secret and --server-key too."
            : " With keys, also check that --server-key is the coordinator's public key and that this client's public key is on the coordinator's --allow list."
    }
}

/// Whether `endpoint` is reachable from this machine only: `ipc://`, or tcp on 127.0.0.0/8, ::1 or localhost.
///
/// Anything else (0.0.0.0, `*`, an interface name, another address) counts as reachable.
func isLocalOnly(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("ipc://") { return true }
    guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":"), colon > endpoint.index(endpoint.startIndex, offsetBy: 5) else {
        return false
    }
    var host = String(endpoint[endpoint.index(endpoint.startIndex, offsetBy: 6)..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    if host == "localhost" || host == "::1" { return true }
    let octets = host.split(separator: ".", omittingEmptySubsequences: false)
    return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
}
