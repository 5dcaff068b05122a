import ArgumentParser
import Foundation
import Logging
import Tensor
import VAE
import Training
import Cluster
import Transport
import CKernels

/// Flags shared by every command that coordinates workers.
struct ClusterFlags: ParsableArguments {
    @Option(name: .customLong("wire-precision"), help: "How parameters and gradients travel: fp32 (bit-identical to a single process) or bf16 (half the bytes; the reduction stays in fp64).")
    var wirePrecision: WirePrecision = .fp32
    @Option(name: .customLong("heartbeat-ms"), help: "Heartbeat interval between coordinator and idle workers, in milliseconds.")
    var heartbeatMilliseconds = 500
    @Option(name: .customLong("worker-timeout"), help: "Seconds of silence after which a worker is lost and its units are reissued.")
    var workerTimeout = 20.0
    @Option(name: .customLong("unit-deadline"), help: "Seconds after which an unfinished unit is also issued to another worker (the first result wins).")
    var unitDeadline = 60.0
    @Flag(name: .customLong("push-parameters"), help: "Push each parameter chunk to the workers as soon as the update has made it (pays when the coordinator has spare cores).")
    var pushParameters = false
    @Flag(name: .customLong("no-shared-memory"), help: "Send parameters and results over the socket to workers on this host too, instead of through a segment in /dev/shm.")
    var noSharedMemory = false
    @Flag(name: .customLong("no-pin-workers"), help: "Leave the local worker processes of `train --workers N` and `bench --workers` to the scheduler. By default worker i runs only on the i-th CPU this process may use when there are no more workers than CPUs, and at idle priority when they fill every CPU (see `largevae worker --cpu` and `--idle-priority`). A coordinator started alone has none.")
    var noPinWorkers = false

    func validate() throws {
        guard heartbeatMilliseconds >= 10 && heartbeatMilliseconds <= 60_000 else {
            throw ValidationError("--heartbeat-ms must be between 10 and 60000.")
        }
        guard workerTimeout.isFinite && workerTimeout * 1000 > Double(2 * heartbeatMilliseconds) else {
            throw ValidationError("--worker-timeout must be longer than two heartbeats (\(2 * heartbeatMilliseconds) ms).")
        }
        guard unitDeadline.isFinite && unitDeadline > 0 else { throw ValidationError("--unit-deadline must be a positive number of seconds.") }
    }

    func options(bind: String, minimumWorkers: Int) -> CoordinatorOptions {
        var o = CoordinatorOptions(bind: bind)
        o.precision = wirePrecision
        o.heartbeat = .milliseconds(heartbeatMilliseconds)
        o.workerTimeout = .milliseconds(Int(workerTimeout * 1000))
        o.unitDeadline = .milliseconds(Int(unitDeadline * 1000))
        o.minimumWorkers = minimumWorkers
        o.pushParametersDuringUpdate = pushParameters
        o.sharedMemory = !noSharedMemory
        return o
    }
}

extension WirePrecision: ExpressibleByArgument {}

/// The coordinator of a training run, and the local worker processes it may have started.
final class ClusterSession {
    let context: ZMQContext
    private(set) var options: CoordinatorOptions
    var engine: ClusterEngine?
    var children: [Process] = []

    init(options: CoordinatorOptions) throws {
        context = try ZMQContext()
        self.options = options
    }

    /// The engine factory for `TrainingRun`: binds the coordinator's socket.
    func factory() -> Trainer<Float>.EngineFactory {
        { [self] model, plan in
            _ = Console.logger   // bootstraps logging before the coordinator's logger is made
            let e = try ClusterEngine(model: model, plan: plan, options: options, context: context,
                                      logger: Logger(label: "coordinator"))
            engine = e
            Console.logger.info("coordinator listening on \(e.coordinator.endpoint) (run \(String(options.runID, radix: 16)), wire \(options.precision))")
            return e
        }
    }

    /// More arguments for local workers (`--emulate-compute` in scaling simulations).
    var workerArguments: [String] = []
    /// Start worker i in network namespace lv-w(i+1), connecting to 10.77.0.1 (Tests/cluster/netns.sh).
    var inNamespaces = false
    /// Temporary directories only this user can open (the local workers' keys, the coordinator's
    /// socket), removed by `finish`.
    var privateDirectories: [URL] = []

    /// A new temporary directory (mode 0700), `largevae-PURPOSE-PID-RANDOM`, removed by `finish`.
    func makePrivateDirectory(_ purpose: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("largevae-\(purpose)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        privateDirectories.append(directory)
        return directory
    }

    /// Removes this process's private directories found by name (`makePrivateDirectory`), for a
    /// process that quits at once without its session's `finish` (`Train.quitNow`).
    static func removeOwnPrivateDirectories() {
        let temporary = FileManager.default.temporaryDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] {
            let fields = name.split(separator: "-")
            guard fields.count == 4, fields[0] == "largevae", Int32(fields[2]) == getpid() else { continue }
            try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
        }
    }

    /// Makes the coordinator a CURVE server whose only allowed client is a fresh key pair, given
    /// to the local workers through a private temporary directory (call before the engine is made).
    func secureLocalWorkers() throws {
        let directory = try makePrivateDirectory("keys")
        let server = try CurveKeyPair.generate(), client = try CurveKeyPair.generate()
        let paths = try CurveKeyFile.write(client, prefix: directory.appendingPathComponent("worker").path)
        options.security = CurveServerSecurity(keyPair: server, allowedClients: [client.publicKey])
        workerArguments += ["--curve-secret", paths.secret, "--server-key", server.publicKey.z85]
    }

    /// Starts `count` `largevae worker` processes on this machine, one BLAS thread each.
    func startLocalWorkers(_ count: Int) throws {
        guard let engine else { return }
        let executable = try selfExecutable()
        let endpoint = engine.coordinator.endpoint
        let cpus = allowedCPUs()
        // Workers that fill every core leave none to the coordinator: they yield to its threads.
        let idle = pinWorkers && !cpus.isEmpty && count >= cpus.count
        if idle {
            Console.logger.info("\(count) local workers fill the \(cpus.count) CPUs: they compute at idle priority, so the coordinator runs as soon as it wakes, and yield to any other program (--no-pin-workers: normal priority)")
        }
        for i in 0..<count {
            let p = Process()
            var arguments = ["worker", "--connect", endpoint, "--name", "local-\(i)", "--connect-timeout", "15"] + workerArguments
            let pinned = pinWorkers && count <= cpus.count
            if pinned { arguments += ["--cpu", String(cpus[i])] }
            if idle { arguments.append("--idle-priority") }
            // A core each, and nothing else to run on it: polling for the next message costs nobody.
            if idle && pinned { arguments += ["--poll-ms", String(Self.localPollMilliseconds)] }
            if inNamespaces {
                let port = endpoint.split(separator: ":").last.map(String.init) ?? "5555"
                arguments[2] = "tcp://10.77.0.1:\(port)"
                p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                p.arguments = ["netns", "exec", "lv-w\(i + 1)", executable.path] + arguments
            } else {
                p.executableURL = executable
                p.arguments = arguments
            }
            var env = ProcessInfo.processInfo.environment
            env["OPENBLAS_NUM_THREADS"] = "1"
            p.environment = env
            try p.run()
            children.append(p)
        }
    }

    /// How long local workers with a CPU each at idle priority poll after a unit (`worker --poll-ms`):
    /// longer than the coordinator's update and a step's phase boundaries, so that their virtual
    /// CPUs never halt within a step.
    static let localPollMilliseconds = 20

    /// Local worker processes to start (`train --workers N`).
    var localWorkers = 0
    /// Whether local worker i runs only on the i-th allowed CPU (when there are enough).
    var pinWorkers = true

    /// Starts the local workers, if any, and waits for the minimum number to join.
    func start() throws {
        try startLocalWorkers(localWorkers)
        try engine?.coordinator.waitForWorkers(options.minimumWorkers)
    }

    /// Says bye to the workers and reaps local children (killing any that do not exit).
    func finish() {
        engine?.coordinator.finish()
        let deadline = Date().addingTimeInterval(10)
        for p in children {
            while p.isRunning && Date() < deadline { usleep(20_000) }
            if p.isRunning { p.terminate() }
        }
        children.removeAll()
        removePrivateDirectories()
    }

    func removePrivateDirectories() {
        for directory in privateDirectories { try? FileManager.default.removeItem(at: directory) }
        privateDirectories.removeAll()
    }

    /// Binds the coordinator (before the engine is made) where only workers on this machine can
    /// reach it: a Unix-domain socket (`ipc://`) in a fresh private directory, which skips the
    /// TCP/IP stack that loopback goes through (less work per message, on the cores the workers
    /// compute on) and which only this user can open; `tcp://127.0.0.1:*` where no such path fits
    /// in a socket address.
    func bindLocally() { options.bind = localEndpoint() }

    private func localEndpoint() -> String {
        guard let path = try? makePrivateDirectory("socket").appendingPathComponent("coordinator").path,
              path.utf8.count < 100 else {   // sockaddr_un holds 108 bytes with the terminating zero
            return "tcp://127.0.0.1:*"
        }
        return "ipc://" + path
    }

    deinit {
        for p in children where p.isRunning { p.terminate() }
        removePrivateDirectories()
    }
}

/// Refuses an endpoint libzmq would not take from this command line.
func checkEndpoint(_ endpoint: String, flag: String) throws {
    guard endpoint.hasPrefix("tcp://") || endpoint.hasPrefix("ipc://") else {
        throw ValidationError("\(flag) takes tcp://HOST:PORT or ipc:///PATH, not '\(endpoint)'.")
    }
}

/// `ARCH/PRIOR`, e.g. `vae/vampprior`.
func parseModel(_ spec: String) throws -> (Architecture, PriorKind) {
    let parts = spec.split(separator: "/").map(String.init)
    guard parts.count == 2, let a = Architecture(rawValue: parts[0]), let p = PriorKind(rawValue: parts[1]) else {
        throw ValidationError("'\(spec)' is not a model: use ARCH/PRIOR with ARCH in vae, hvae and PRIOR in standard, vampprior, mog.")
    }
    return (a, p)
}

/// The CPUs this process may run on, ascending.
func allowedCPUs() -> [Int] {
    var cpus = [Int32](repeating: 0, count: 1024)
    let n = Int(largevae_allowed_cpus(&cpus, Int32(cpus.count)))
    return cpus.prefix(n).map(Int.init)
}

/// Gives the calling thread the SCHED_IDLE policy (threads started before keep theirs). Where the
/// system refuses (another OS, a sandbox), the worker says so and computes at normal priority:
/// the results are the same either way.
func lowerToIdlePriority() {
    let code = largevae_idle_priority()
    if code != 0 {
        Console.logger.warning("--idle-priority: cannot lower this worker's priority (\(String(cString: strerror(code)))); computing at normal priority")
    }
}

/// Restricts this process's calling thread, and the threads it starts afterwards, to `cpu`.
func pin(toCPU cpu: Int) throws {
    let code = largevae_pin_to_cpu(Int32(cpu))
    guard code == 0 else { throw RunFailure(message: "cannot run on CPU \(cpu): \(String(cString: strerror(code)))") }
}

/// This executable's path, for starting worker processes.
func selfExecutable() throws -> URL {
    if let path = Bundle.main.executablePath { return URL(fileURLWithPath: path) }
    return URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
}

/// `largevae coordinator`: a training run whose units are computed by workers that connect.
struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Train with workers that connect over ZeroMQ (same options as train).",
        discussion: "Binds a ROUTER socket, waits for --min-workers workers, then trains exactly as `largevae train` would, with every step's units computed by the workers: the weights are bit-identical to a single-process run with --wire-precision fp32, whatever the number of workers. Workers may join and leave at any step.\n\nExample:\n  largevae coordinator --bind tcp://0.0.0.0:5555 --curve-secret coordinator.key --allow workers/ --dataset mnist --min-workers 4\n  largevae worker --connect tcp://HOST:5555 --curve-secret worker1.key --server-key coordinator.pub   # on each worker machine\n\nAn address other machines can reach needs keys (see `largevae keygen`) or --insecure.")

    @Option(help: "Endpoint to bind: tcp://0.0.0.0:5555, tcp://127.0.0.1:* or ipc:///path.")
    var bind: String
    @Option(name: .customLong("min-workers"), help: "Workers to wait for before the first step.")
    var minWorkers = 1
    @OptionGroup var security: ServerSecurityFlags
    @OptionGroup var job: TrainJob

    func validate() throws {
        guard minWorkers >= 1 && minWorkers <= 4096 else { throw ValidationError("--min-workers must be between 1 and 4096.") }
        try checkEndpoint(bind, flag: "--bind")
        try security.check(bind: bind)
        if job.workers != nil { throw ValidationError("--workers starts local workers from `largevae train`; the coordinator waits for workers that connect.") }
    }

    func run() throws {
        try reportingErrors {
            var options = job.cluster.options(bind: bind, minimumWorkers: minWorkers)
            options.security = try security.load()
            if security.insecure && !isLocalOnly(bind) {
                Console.logger.warning("--insecure: \(bind) admits anyone who reaches it, and the traffic is not encrypted")
            }
            let session = try ClusterSession(options: options)
            try job.train(cluster: session)
        }
    }
}

/// `largevae worker`: computes units for a coordinator until it says the run is over.
struct WorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Compute gradients for a coordinator (no dataset needed).",
        discussion: "Example: OPENBLAS_NUM_THREADS=1 largevae worker --connect tcp://10.0.0.1:5555 --curve-secret worker1.key --server-key coordinator.pub")

    @Option(help: "The coordinator's endpoint, e.g. tcp://10.0.0.1:5555.")
    var connect: String
    @Option(help: "This worker's name in logs and status (default: HOST-PID).")
    var name: String?
    @Option(help: "Join only a run of this model, ARCH/PRIOR (e.g. vae/vampprior).")
    var model: String?
    @Option(name: .customLong("blas-threads"), help: "BLAS threads per GEMM. 1 keeps results bit-identical; start more workers to use more cores.")
    var blasThreads = 1
    @Option(name: .customLong("connect-timeout"), help: "Seconds to wait for a coordinator to answer.")
    var connectTimeout = 120.0
    @Flag(name: .customLong("emulate-compute"), help: "For scaling simulations only: compute each kind of unit once, then sleep as long as it took and return zeros of the real size.")
    var emulateCompute = false
    @Option(name: .customLong("inject-nan-every"), help: .hidden)
    var injectNaNEvery = 0
    @Flag(name: .customLong("no-shared-memory"), help: "Use the socket for parameters and results even when the coordinator is on this host.")
    var noSharedMemory = false
    @Option(help: "Run only on this CPU (its number, as taskset counts), the worker and its ZeroMQ thread alike: with one worker per core, the scheduler cannot stack two on one core while another idles. Local workers of `train --workers N` are pinned this way unless --no-pin-workers.")
    var cpu: Int?
    @Flag(name: .customLong("idle-priority"), help: "Compute at the idle scheduling priority (Linux SCHED_IDLE): a coordinator or ZeroMQ thread that wakes on this worker's core then runs at once instead of waiting out its time slice, which matters when workers fill every core the coordinator runs on. The worker also yields to any other program. Local workers of `train --workers N` get it when they fill every CPU, unless --no-pin-workers.")
    var idlePriority = false
    @Option(name: .customLong("poll-ms"), help: "After each unit, keep checking for the next message for this many milliseconds, the CPU busy, before sleeping: on a virtual machine, a CPU that sleeps takes the hypervisor from 0.1 to several milliseconds to wake. Use it with --idle-priority, so that the polling never takes a core from other work. Local workers of `train --workers N` get 20 when each has a CPU of its own and they fill every CPU, unless --no-pin-workers.")
    var pollMs = 0.0
    @OptionGroup var security: ClientSecurityFlags

    func validate() throws {
        try checkEndpoint(connect, flag: "--connect")
        guard injectNaNEvery >= 0 else { throw ValidationError("--inject-nan-every must be 0 or more.") }
        guard blasThreads >= 1 && blasThreads <= 256 else { throw ValidationError("--blas-threads must be between 1 and 256.") }
        guard connectTimeout.isFinite && connectTimeout > 0 else { throw ValidationError("--connect-timeout must be positive.") }
        guard pollMs.isFinite && pollMs >= 0 && pollMs <= 1000 else { throw ValidationError("--poll-ms must be between 0 and 1000.") }
        if let cpu, case let cpus = allowedCPUs(), !cpus.contains(cpu) {
            throw ValidationError(cpus.isEmpty ? "--cpu: this system does not let a process choose its CPU; leave --cpu out."
                                  : "--cpu \(cpu) is not a CPU this process may run on (it may use \(cpus.map(String.init).joined(separator: ", "))).")
        }
        if let m = model { _ = try parseModel(m) }
    }

    func run() throws {
        try reportingErrors {
            var options = WorkerOptions(endpoint: connect, name: name ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())")
            options.model = model
            options.blasThreads = blasThreads
            options.connectTimeout = .milliseconds(Int(connectTimeout * 1000))
            options.emulateCompute = emulateCompute
            options.injectNaNEvery = injectNaNEvery
            options.sharedMemory = !noSharedMemory
            options.pollAfterUnit = .microseconds(Int((pollMs * 1000).rounded()))
            options.security = try security.load()
            _ = Console.logger   // bootstraps logging before the worker's logger is made
            if let cpu { try pin(toCPU: cpu) }   // before libzmq starts its I/O thread, which inherits it
            let worker = try Worker(options: options, context: try ZMQContext(), logger: Logger(label: "worker \(options.name)"))
            if idlePriority { lowerToIdlePriority() }   // after the socket: libzmq's I/O thread keeps normal priority
            do { try worker.run() } catch let error as WorkerError {
                guard case .noCoordinator = error else { throw error }
                throw RunFailure(message: error.localizedDescription + "." + security.noAnswerHint)
            }
        }
    }
}

/// `largevae status`: asks a coordinator for its workers' state.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a coordinator's workers: units done and in flight, last heartbeat, throughput.",
        discussion: "Example: largevae status --connect tcp://10.0.0.1:5555 --curve-secret me.key --server-key coordinator.pub\n\nAgainst a coordinator with keys, this client's public key must be on its --allow list too.")

    @Option(help: "The coordinator's endpoint.")
    var connect: String
    @Option(help: "Seconds to wait for the answer.")
    var timeout = 5.0
    @Flag(help: "Print the coordinator's JSON answer.")
    var json = false
    @OptionGroup var security: ClientSecurityFlags

    func validate() throws { try checkEndpoint(connect, flag: "--connect") }

    func run() throws {
        try reportingErrors {
            let socket = try ZMQSocket(context: try ZMQContext(), kind: .dealer)
            if let keys = try security.load() { try socket.makeCurveClient(keys) }
            try socket.connect(connect)
            let status: ClusterStatus
            do { status = try ClusterStatusClient.query(socket, timeout: .milliseconds(Int(timeout * 1000))) } catch let error as ClusterStatusClient.Failure {
                throw RunFailure(message: error.localizedDescription + "." + security.noAnswerHint)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(status), as: UTF8.self))
                return
            }
            print("run \(status.runID), step round \(status.round), \(status.workers.count) worker(s)")
            print(String(format: "%-24@ %8@ %10@ %9@ %12@ %10@ %10@ %10@", "worker", "pid", "units", "in flight", "heartbeat", "units/s", "sent MB", "recv MB"))
            for w in status.workers {
                print(String(format: "%-24@ %8d %10d %9d %10.1f s %10.1f %10.1f %10.1f", w.name, w.pid, w.unitsDone, w.unitsInFlight,
                             w.secondsSinceHeartbeat, w.unitsPerSecond, Double(w.bytesSent) / 1e6, Double(w.bytesReceived) / 1e6))
            }
        }
    }
}
