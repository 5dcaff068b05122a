import Foundation
import Logging
import Transport

/// What the coordinator does with each message it receives.
extension Coordinator {
    func handle(_ message: ReceivedMessage) {
        guard message.count == 3 else { return drop(nil, "a message of \(message.count) frames (expected 3 with the routing id)") }
        let peer = message.bytes(0)
        let header: WireHeader
        do {
            header = try WireMessage.validate(header: message.frame(1), payload: message.frame(2))
        } catch let error as WireError {
            if case .versionMismatch = error {
                refuse(peer, "\(error.localizedDescription) Run the same largevae version as the coordinator.")
            }
            return drop(peer, error.localizedDescription)
        } catch {
            return drop(peer, "\(error)")
        }
        switch header.type {
        case .hello: return admit(peer, message.frame(2))
        case .status: return answerStatus(peer)
        default: break
        }
        guard header.runID == options.runID, let worker = workers[peer] else {
            return drop(peer, "a \(header.type) message from a peer that has not joined run \(String(options.runID, radix: 16))")
        }
        worker.lastSeen = .now
        worker.bytesReceived += message.byteCount
        statistics.bytesReceived += message.byteCount
        switch header.type {
        case .ready:
            noteReady(header, from: worker)
            guard workers[peer] === worker else { return }
            worker.credits = min(worker.credits + Int(header.unitCount), 64)
        case .result: accept(header, message, from: worker)
        case .heartbeat: break
        case .bye: lose(worker, "it said goodbye")
        default: drop(peer, "an unexpected \(header.type) message")
        }
    }

    func admit(_ peer: [UInt8], _ payload: UnsafeRawBufferPointer) {
        let hello: Hello
        do { hello = try decodeJSON(Hello.self, payload) } catch {
            refuse(peer, "the hello message is not valid: \(error.localizedDescription)")
            return
        }
        guard hello.engine == engineFingerprint else {
            return refuse(peer, "engine '\(hello.engine)' is not this coordinator's '\(engineFingerprint)'; run the same largevae version")
        }
        let model = "\(welcome.config.architecture.rawValue)/\(welcome.config.prior.rawValue)"
        if let wanted = hello.model, wanted != model {
            return refuse(peer, "this run trains \(model), not \(wanted)")
        }
        if quarantined.contains(peer) { return refuse(peer, "this worker was quarantined for sending NaN or infinity") }
        let old = workers[peer]
        let shared = sharedOffer(for: hello, replacing: old)
        if let old { lose(old, "it joined again", keepArena: shared?.1 === old.shared.arena) }
        let worker = WorkerRecord(key: peer, hello: hello)
        workers[peer] = worker
        var welcome = self.welcome
        if let (offer, arena) = shared {
            welcome.sharedMemory = offer
            worker.shared = .offered(arena)
        }
        do {
            try socket.send(WireHeader(type: .welcome, runID: options.runID, step: roundID), payload: jsonPayload(welcome), to: peer)
            log.info("worker \(hello.name) (pid \(hello.pid)) joined; \(workers.count) worker(s)")
        } catch {
            workers[peer] = nil
            worker.shared.arena?.segment.unlink()
            log.warning("could not welcome \(hello.name): \(error.localizedDescription)")
        }
    }

    func refuse(_ peer: [UInt8], _ reason: String) {
        log.warning("refused a peer: \(reason)")
        try? socket.send(WireHeader(type: .refuse, runID: options.runID, step: roundID), payload: Array(reason.utf8), to: peer)
    }

    func accept(_ header: WireHeader, _ message: ReceivedMessage, from worker: WorkerRecord) {
        guard header.step == roundID else { return }   // a late result of an earlier round: already done without it
        guard Int(header.unitID) < units.count else { return drop(worker.key, "a result for unit \(header.unitID) of \(units.count)") }
        let unit = units[Int(header.unitID)]
        var reader = ByteReader(message.frame(2))
        guard let result = try? ResultHeader.read(&reader), result.kind == unit.kind, Int(result.part) < unit.expectedSizes.count else {
            return drop(worker.key, "a result whose header does not match unit \(header.unitID)")
        }
        let part = Int(result.part)
        guard let bytes = resultBytes(header, message, part: part, from: worker) else { return }
        guard bytes.payload.count == unit.expectedSizes[part] else {
            return drop(worker.key, "a result of \(bytes.payload.count) bytes for unit \(header.unitID) part \(part), expected \(unit.expectedSizes[part])")
        }
        guard unit.results[part] == nil else { return }   // the first result wins
        guard unit.holders[worker.key] != nil else {
            return drop(worker.key, "a result for unit \(header.unitID) from \(worker.hello.name), which was not given it")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes.payload[ResultHeader.size...])
        if unit.checksOnArrival(part) && !unit.layouts[part].allFinite(body) {
            guard acceptNonFinite(unit, part: part, from: worker.key, name: worker.hello.name) else { return }
        } else if !unit.suspects.isEmpty && !unit.suspects.contains(worker.key) {
            quarantineSuspects(of: unit, cleared: worker)
        }
        unit.results[part] = bytes
        unit.senders[part] = worker.key
        if bytes.owner is ResultArena { statistics.sharedBytes += bytes.payload.count }
        log.trace("\(traceStamp(since: roundStart)): unit \(header.unitID) (\(unit.kind)) part \(part) from \(worker.hello.name), computed in \(result.seconds * 1000) ms")
        if part == unit.expectedSizes.count - 1 {   // the last part carries the whole unit's time
            worker.computeSeconds += result.seconds
            statistics.computeSeconds += result.seconds
        }
        if unit.done {
            worker.unitsDone += 1
            for key in unit.holders.keys { workers[key].map { $0.inFlight -= 1 } }
            unit.holders.removeAll()
        }
    }

    /// A result with NaN or infinity. The first one of a unit is set aside and the unit computed
    /// again, on another worker if there is one; a second one is accepted, because the values
    /// are then the model's own (the step then fails as not finite, and nothing is applied).
    func acceptNonFinite(_ unit: Unit, part: Int, from key: [UInt8], name sender: String) -> Bool {
        unit.nonFiniteResults += 1
        let name = "unit \(unit.header.unitID) (\(unit.kind)) of step \(roundID)"
        if unit.nonFiniteResults >= 2 {
            log.error("\(name) came back with NaN or infinity twice, from \(sender) too: the model itself is not finite")
            unit.suspects.removeAll()
            return true
        }
        log.warning("\(sender) sent NaN or infinity in part \(part) of \(name); discarded, computing the unit again")
        unit.suspects.insert(key)
        if unit.holders.removeValue(forKey: key) != nil { workers[key]?.inFlight -= 1 }
        return false
    }

    /// After a reduction found NaN or infinity: checks the parts it alone checked
    /// (`ResultLayout.checkedByReduction`), unit by unit, and treats each non-finite one as if it
    /// had been found on arrival (`acceptNonFinite`). Returns whether any was set aside; those
    /// units are then pending again, to be served and reduced anew.
    func setAsideNonFinite(_ units: [Unit]) -> Bool {
        var setAside = false
        for unit in units {
            for part in unit.results.indices where unit.layouts[part].checkedByReduction && unit.results[part] != nil {
                if unit.layouts[part].allFinite(unit.resultBody(part)) { continue }
                let key = unit.senders[part] ?? []
                let name = workers[key]?.hello.name ?? "a worker since lost"
                if acceptNonFinite(unit, part: part, from: key, name: name) { continue }
                unit.results[part] = nil
                unit.senders[part] = nil
                setAside = true
            }
        }
        return setAside
    }

    /// A unit that a suspect worker returned non-finite came back finite from `cleared`: the
    /// suspects computed it wrong, so they are refused from now on.
    func quarantineSuspects(of unit: Unit, cleared: WorkerRecord) {
        for key in unit.suspects {
            quarantined.insert(key)
            guard let suspect = workers[key] else { continue }
            let reason = "quarantined: it sent NaN or infinity for unit \(unit.header.unitID) of step \(roundID), which \(cleared.hello.name) computed finite"
            log.error("worker \(suspect.hello.name) (pid \(suspect.hello.pid)) is \(reason)")
            refuse(key, "this worker is \(reason); check its hardware and build")
            lose(suspect, "quarantined")
        }
        unit.suspects.removeAll()
    }

    func drop(_ peer: [UInt8]?, _ reason: String) {
        dropped += 1
        if dropped <= 20 || dropped % 1000 == 0 {
            log.warning("dropped \(reason) (\(dropped) dropped so far)")
        }
    }

    func answerStatus(_ peer: [UInt8]) {
        let now = ContinuousClock.now
        let rows = workers.values.sorted { $0.joined < $1.joined }.map { w in
            WorkerStatus(name: w.hello.name, pid: w.hello.pid, unitsDone: w.unitsDone, unitsInFlight: w.inFlight,
                         secondsSinceHeartbeat: (now - w.lastSeen).seconds,
                         unitsPerSecond: Double(w.unitsDone) / Swift.max((now - w.joined).seconds, 1e-9),
                         computeSeconds: w.computeSeconds, bytesSent: w.bytesSent, bytesReceived: w.bytesReceived)
        }
        let status = ClusterStatus(runID: String(options.runID, radix: 16), round: roundID, workers: rows)
        try? socket.send(WireHeader(type: .status, runID: options.runID, step: roundID), payload: jsonPayload(status), to: peer)
    }
}
