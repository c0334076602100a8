import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdVerification
import Foundation
import Logging
import ServiceLifecycle

/// The state of one `PeerDaemon.run()`: used by a single task only.
final class PeerSession {
    let paths: PeerPaths
    let config: PeerRunConfig
    let client: CoordinatorClient
    let stop: StopFlag
    let output: @Sendable (String) -> Void
    let logger: Logger
    let cache: ArtifactCache
    /// Suspend reasons (pause file, idle-only, AC-only, hours, daily data cap).
    let suspend: SuspendMonitor
    /// Threads, limits and suspend settings as they are now (SIGHUP replaces them).
    let live: PeerLiveSettings
    var status: PeerStatus
    var backoff: Backoff
    var rng: SeededRNG
    var finishedLeases = 0
    /// Last measured training throughput, sent as a hint with lease requests.
    var samplesPerSecond: Double?
    /// Bytes downloaded for the lease in progress.
    var leaseBytesDown = 0
    /// The state last written to `status.json`.
    var lastWrittenState: PeerStatus.State?
    /// Decoded shards of recent leases (a peer often gets the same shards again).
    var decodedShards: [String: ShardPayload] = [:]
    /// Verified work: the trajectory of the update being uploaded (its states answer the upload's challenge).
    var heldTrajectory: (leaseID: String, trajectory: Trajectory)?
    /// The proof being sent while the next lease trains (lease, segment, bytes; the task's failure, if any).
    var proofInFlight: (String, Int, Int, Task<String?, Never>)?
    /// Suspend notes already logged (e.g. "idle detection unavailable").
    var notesShown: Set<String> = []
    /// Most decoded shards kept in memory.
    static let keptDecodedShards = 4

    init(
        paths: PeerPaths, config: PeerRunConfig, client: CoordinatorClient, stop: StopFlag,
        output: @escaping @Sendable (String) -> Void, logger: Logger,
        suspend: SuspendMonitor? = nil, live: PeerLiveSettings? = nil
    ) {
        self.live = live ?? PeerLiveSettings(.init(threads: config.threads, limits: config.limits, suspend: SuspendSettings()))
        self.suspend = suspend ?? SuspendMonitor(
            policy: SuspendPolicy(settings: SuspendSettings()), pausePath: PauseFile.path(in: paths))
        self.paths = paths
        self.config = config
        self.client = client
        self.stop = stop
        self.output = output
        self.logger = logger
        self.cache = ArtifactCache(paths: paths)
        self.status = PeerStatus.read(from: paths.status) ?? PeerStatus()
        self.backoff = Backoff(base: config.backoffBase, cap: config.backoffCap)
        self.rng = SeededRNG(seed: config.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    var stopping: Bool { stop.isSet || Task.isCancelled }

    func setState(_ state: PeerStatus.State, reason: String? = nil, lease: Lease? = nil) {
        var next = status
        next.state = state
        next.reason = reason
        if let lease {
            next.round = lease.round
            next.leaseID = lease.leaseID
        }
        // The settings in force (a SIGHUP reload changes them: the next state write shows it).
        next.settings = PeerStatus.Settings(live.current, generation: live.generation)
        // Polling for work repeats the same state many times a second: write only what changed.
        let changed = next != status || lastWrittenState != state
        status = next
        guard changed || state == .stopped else { return }
        status.updatedAt = Date().timeIntervalSince1970
        status.memory = ProcessMemory.read()
        lastWrittenState = state
        do { try status.write(to: paths.status, durable: false) } catch {
            logger.warning("cannot write status file: \(error)")
        }
    }

    /// Waits `seconds` or until shutdown.
    func pause(_ seconds: Double) async {
        guard !stopping, seconds > 0 else { return }
        let ns = UInt64(min(seconds, 3600) * 1e9)
        try? await cancelWhenGracefulShutdown { try await Task.sleep(nanoseconds: ns) }
    }

    func loop() async throws {
        setState(.starting)
        for name in StaleTemporaryFiles.sweep([paths.root, paths.modelCache, paths.shardCache]) {
            logger.info("removed \(name), left by a process that was killed while writing it")
        }
        do {
            try await work()
        } catch {
            await finishProof()
            throw error
        }
        await finishProof()  // a proof still being sent goes out before the daemon stops
    }

    /// The work cycle: re-send, outcomes, lease, train, encode, upload.
    func work() async throws {
        while !stopping {
            if let max = config.maxLeases, finishedLeases >= max { return }
            await waitWhileSuspended()
            if stopping { break }
            do {
                if try await resendPending() { continue }
                await refreshOutcomes()
                guard let lease = try await nextLease() else { return }
                guard let work = try await train(lease) else { continue }
                let pending = try encode(work, lease: lease)
                try await upload(pending)
            } catch let error as CoordinatorClientError {
                try await handle(error)
            } catch {
                // Inputs that do not fit (corrupt shard or model, wrong schema, disk full): report, wait, and ask
                // for work again; the coordinator reissues the lease if this peer cannot finish it.
                let text = "\(error)"
                logger.debug("\(text)")
                output("error: \(text)")
                let delay = backoff.next(random: Double(rng.nextUniform()))
                setState(.backingOff, reason: text)
                await pause(delay)
            }
        }
    }

    /// Fatal errors end the daemon; the rest back off.
    func handle(_ error: CoordinatorClientError) async throws {
        switch error.apiCode {
        case .unauthorized?, .revoked?:
            throw PeerError("the coordinator refused this peer's credential (\(error)); join again with a new invite")
        case .suspended?:
            throw PeerError("the coordinator suspended this peer (\(error.message)); the daemon stops")
        default:
            break
        }
        var delay = error.retryable ? backoff.next(random: Double(rng.nextUniform())) : 1
        if let asked = error.retryAfter { delay = max(delay, asked) }
        let text = "\(Self.describe(error)): \(error)"
        logger.debug("\(text); retrying in \(String(format: "%.1f", delay)) s")
        output("\(text) — retrying in \(String(format: "%.1f", delay)) s")
        setState(.backingOff, reason: error.description)
        await pause(delay)
    }

    /// What kind of failure `error` is, for the volunteer: no answer at all (network, TLS, coordinator down) is
    /// not the same as an answer that is an error (the coordinator is up and failing: its operator must look).
    static func describe(_ error: CoordinatorClientError) -> String {
        guard let status = error.status else { return "coordinator unreachable (no answer; check the network)" }
        switch status {
        case 429: return "the coordinator is busy and asked to slow down"
        case 503: return "the coordinator answered that it is not ready (shutting down or starting)"
        case 500...: return "the coordinator answered with an error (HTTP \(status); not a network problem — the campaign's operator needs to look)"
        default: return "request refused by the coordinator (HTTP \(status))"
        }
    }

    /// Asks for work until a lease arrives; nil when the campaign is over and the daemon should exit.
    func nextLease() async throws -> Lease? {
        while !stopping {
            await waitWhileSuspended()
            if stopping { return nil }
            if status.state != .waiting { setState(.leasing) }
            let asked = ContinuousClock.now
            let request = LeaseRequest(
                threads: config.threads, samplesPerSecond: samplesPerSecond,
                waitSeconds: config.longPollSeconds > 0 ? config.longPollSeconds : nil)
            let client = self.client
            guard let response = try await untilStoppedOrSuspended({ try await client.lease(request) }) else {
                continue  // stopped or suspended mid-poll: the loop's checks take over
            }
            backoff.reset()
            if let lease = response.lease { return lease }
            let reason = response.reason ?? "no work"
            if reason == LeaseWaitReason.campaignFinished.rawValue && config.exitWhenFinished {
                output("campaign finished: no more work")
                return nil
            }
            setState(.waiting, reason: reason)
            // A coordinator that held the long-poll to its end has already waited; one that answered at once (no
            // long-poll support, or the campaign is over) asked for a pause.
            let held = ContinuousClock.now - asked >= .milliseconds(Int64(config.longPollSeconds * 900))
            if !held || reason == LeaseWaitReason.campaignFinished.rawValue {
                await pauseUnlessSuspended(min(max(response.retryAfter ?? 2, 0.05), config.maxWait))
            }
        }
        return nil
    }

    /// Runs `operation` (a long-poll), cancelling it when the daemon stops or a suspend reason appears; nil then.
    func untilStoppedOrSuspended<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws
        -> T?
    {
        let stop = self.stop
        let suspend = self.suspend
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    if stop.isSet || suspend.evaluate().isSuspended { return nil }
                }
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    // MARK: suspend

    /// Returns once no suspend reason applies (or on shutdown); meanwhile makes no requests, does no work and
    /// shows the reasons in `status.json`, re-evaluating about twice a second.
    func waitWhileSuspended() async {
        var announced: [SuspendReason] = []
        while !stopping {
            let d = suspend.evaluate()
            for note in d.notes where !notesShown.contains(note) {
                notesShown.insert(note)
                logger.warning("\(note)")
            }
            guard d.isSuspended else {
                if !announced.isEmpty { output("resumed") }
                status.suspendReasons = nil
                return
            }
            let text = SuspendMonitor.describe(d, now: suspend.probes.now())
            if announced != d.reasons {
                output("suspended: \(text)")
                announced = d.reasons
            }
            status.suspendReasons = d.reasons.map(\.rawValue)
            setState(.suspended, reason: text)
            await pause(suspend.sleepSeconds(d))
        }
    }

    /// Like `pause`, but wakes early when a suspend reason starts (so `peer status` shows it within a second).
    func pauseUnlessSuspended(_ seconds: Double) async {
        let end = suspend.probes.now() + seconds
        while !stopping {
            let left = end - suspend.probes.now()
            if left <= 0 || suspend.evaluate().isSuspended { return }
            await pause(min(left, SuspendMonitor.pollInterval))
        }
    }

    /// The training thread's check between two chunks: true to stop (shutdown, or the lease expired while
    /// suspended); while a reason that stops training applies it blocks, keeping the lease in memory.
    static func holdWhileSuspended(
        monitor: SuspendMonitor, stop: StopFlag, status: PeerStatus, path: String, deadline: Double,
        output: @Sendable (String) -> Void
    ) -> Bool {
        // The CPU cap first: a pause that starts during its sleep is seen right after.
        monitor.throttle?.pace(shouldStop: { stop.isSet })
        var shown: [SuspendReason] = []
        while !stop.isSet {
            let d = shown.isEmpty ? monitor.evaluate(maxAge: SuspendMonitor.pollInterval / 2) : monitor.evaluate()
            guard d.stopsTraining else {
                if !shown.isEmpty {
                    var s = status
                    s.updatedAt = monitor.probes.now()
                    try? s.write(to: path, durable: false)
                    output("resumed the lease in progress")
                    monitor.throttle?.reset()
                }
                return false
            }
            if monitor.probes.now() >= deadline {
                output("the lease's deadline passed while suspended")
                return true
            }
            if shown != d.reasons {
                shown = d.reasons
                var s = status
                s.state = .suspended
                s.reason = SuspendMonitor.describe(d, now: monitor.probes.now()) + " (lease held, training paused)"
                s.suspendReasons = d.reasons.map(\.rawValue)
                s.updatedAt = monitor.probes.now()
                try? s.write(to: path, durable: false)
                output("suspended mid-lease: \(s.reason ?? "")")
            }
            usleep(useconds_t(monitor.sleepSeconds(d) * 1e6))
        }
        return true
    }

    // MARK: fetch and train

    func fetch(_ kind: ArtifactCache.Kind, _ digest: String) async throws -> Data {
        if let cached = cache.get(kind, digest) { return cached }
        guard ArtifactCache.isDigest(digest) else { throw PeerError("the lease names \(kind.rawValue) '\(digest)', not a SHA-256 digest") }
        let data = kind == .model ? try await client.model(version: digest) : try await client.shard(id: digest)
        leaseBytesDown += data.count
        suspend.record(bytes: data.count)
        status.lifetime.bytesDown += data.count
        try cache.put(kind, digest, data)
        return data
    }

    func train(_ lease: Lease) async throws -> LeaseWork? {
        leaseBytesDown = 0
        status.lifetime.leases += 1
        setState(.downloading, lease: lease)
        let modelBytes = try await fetch(.model, lease.modelVersion)
        let checkpoint = try Checkpoint.decode(modelBytes, path: "model \(lease.modelVersion.prefix(12))")
        try MemoryGuard.check(checkpoint, lease: lease, live: live, monitor: suspend)
        var shards: [ShardPayload] = []
        for id in lease.shardIDs {
            if let known = decodedShards[id] {
                shards.append(known)
                continue
            }
            let data = try await fetch(.shard, id)
            let payload = try ShardFile.decode(data, name: "shard \(id.prefix(12))", expectedID: id)
            if decodedShards.count >= Self.keptDecodedShards { decodedShards.removeAll() }
            decodedShards[id] = payload
            shards.append(payload)
        }
        setState(.training, lease: lease)
        // A SIGHUP may have changed the thread count: it applies from the next lease on.
        ComputeThreads.set(live.current.threads)
        let stop = self.stop
        let payloads = shards
        let monitor = suspend, base = status, path = paths.status, output = self.output
        let saver = LeaseProgressSaver(path: paths.progress, logger: logger)
        var resume = savedProgress(for: lease)
        let carried = carriedOptimizer(for: lease, checkpoint: checkpoint)
        func run(from: LeaseProgress?) async throws -> LeaseWork? {
            try await Self.onThread {
                try LeaseTrainer.train(
                    lease: lease, checkpoint: checkpoint, shards: payloads, resume: from, carriedOptimizer: carried,
                    saveEvery: Self.progressSaveSeconds,
                    // Fresher than holdWhileSuspended's check, so this one sees a pause first and saves.
                    saveNow: { monitor.evaluate(maxAge: SuspendMonitor.pollInterval / 5).stopsTraining },
                    save: saver.save,
                    shouldStop: {
                        Self.holdWhileSuspended(
                            monitor: monitor, stop: stop, status: base, path: path, deadline: lease.deadline,
                            output: output)
                    })
            }
        }
        let work: LeaseWork?
        do {
            work = try await run(from: resume)
        } catch let mismatch as LeaseProgressMismatch {
            logger.warning("\(mismatch)")
            output("ignored progress.bin (\(mismatch)): training lease \(lease.leaseID.prefix(8)) from its start")
            LeaseProgressFile.remove(paths.progress)
            resume = nil
            work = try await run(from: nil)
        }
        if let work { samplesPerSecond = work.run.samplesPerSecond }
        else { reportStopped(lease, saver: saver, resumedAt: resume?.steps) }
        return work
    }

    /// Runs CPU-bound work on its own thread so the async pool keeps serving signals and I/O.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                // Linux keeps niceness per thread: this one must be as polite as the rest of the daemon.
                Niceness.applyToCurrentThread()
                continuation.resume(with: Result { try body() })
            }
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    // MARK: encode and upload

    /// Encodes Δ with error feedback and writes `pending.bin` (the crash-safe hand-off to upload).
    func encode(_ work: LeaseWork, lease: Lease) throws -> PendingUpdate {
        var feedback = ErrorFeedback(count: work.delta.count)
        do {
            if let saved = try ResidualFile.read(from: paths.residual), saved.schemaHash == work.schemaHash,
               saved.residual.count == work.delta.count {
                feedback.residual = saved.residual
            }
        } catch {
            logger.warning("\(error); starting from a zero residual")
        }
        guard let base = Hex.bytes(lease.modelVersion), base.count == 32 else {
            throw PeerError("model version '\(lease.modelVersion)' is not a SHA-256 hex digest")
        }
        let codec = try CodecSpec(parsing: lease.codec)
        var header = EnvelopeHeader(
            schemaHash: work.schemaHash, round: lease.round, baseModel: base, codec: codec,
            elementCount: work.delta.count)
        if let trajectory = work.trajectory {
            guard let commitment = trajectory.commitment(samples: lease.samples) else {
                throw PeerError("lease \(lease.leaseID.prefix(8))'s trajectory is incomplete; it cannot be committed")
            }
            header.commitment = commitment
            heldTrajectory = (lease.leaseID, trajectory)
        } else {
            heldTrajectory = nil
        }
        let envelope = try feedback.encode(work.delta, header: header, level: Int32(clamping: lease.codecLevel))
        let info = PendingUpdate.Info(
            leaseID: lease.leaseID, round: lease.round, modelVersion: lease.modelVersion, schemaHash: work.schemaHash,
            samples: lease.samples, loss: work.run.meanLoss, trainSeconds: work.run.seconds,
            deadline: lease.deadline, finishedAt: Date().timeIntervalSince1970)
        let pending = PendingUpdate(info: info, envelope: envelope, residualAfter: feedback.residual)
        try pending.write(to: paths.pending)
        // Only now is the lease's progress obsolete: a crash before this line resumes it, after it re-sends.
        LeaseProgressFile.remove(paths.progress)
        saveInnerState(work, lease: lease)
        return pending
    }

    /// The previous lease's optimizer state when it applies to `lease` (`InnerStateFile.state(for:)`); a stale,
    /// foreign or damaged file is removed.
    func carriedOptimizer(for lease: Lease, checkpoint: Checkpoint) -> OptimizerState? {
        do {
            guard let saved = try InnerStateFile.read(from: paths.innerState) else { return nil }
            if let state = saved.state(for: lease, schemaHash: checkpoint.schemaHash, count: checkpoint.params.count) {
                return state
            }
            if lease.inner.keepState == true {
                output("starting lease \(lease.leaseID.prefix(8)) with a fresh optimizer (the saved one is from round "
                    + "\(saved.round), another model or other settings)")
            }
        } catch {
            logger.warning("\(error)")
        }
        AtomicFileWriter.remove(paths.innerState)
        return nil
    }

    /// Keeps the finished lease's optimizer state for the next lease when the campaign asks for it.
    func saveInnerState(_ work: LeaseWork, lease: Lease) {
        guard lease.inner.keepState == true, let state = work.optimizerState else {
            AtomicFileWriter.remove(paths.innerState)
            return
        }
        do {
            try InnerStateFile(schemaHash: work.schemaHash, round: lease.round, settings: lease.inner, state: state)
                .write(to: paths.innerState)
        } catch {
            logger.warning("cannot save the inner optimizer state (\(error)); the next lease starts a fresh one")
        }
    }

    /// Re-sends an update left by a previous run; true if there was one.
    func resendPending() async throws -> Bool {
        let pending: PendingUpdate?
        do {
            pending = try PendingUpdate.read(from: paths.pending)
        } catch {
            logger.warning("\(error)")
            AtomicFileWriter.remove(paths.pending)
            return false
        }
        guard let pending else { return false }
        dropProgress(ofLease: pending.info.leaseID)
        leaseBytesDown = 0
        try await upload(pending)
        return true
    }

    func upload(_ pending: PendingUpdate) async throws {
        await finishProof()
        let info = pending.info
        setState(.uploading)
        status.round = info.round
        status.leaseID = info.leaseID
        let sent = pending.envelope.count
        let speed = info.trainSeconds > 0 ? Double(info.samples) / info.trainSeconds : 0
        let head = "round \(info.round) · lease \(info.leaseID.prefix(8)) · loss "
            + String(format: "%.4f · %.0f samples/s · ", Double(info.loss), speed)
            + "\(ByteCount.format(sent)) up, \(ByteCount.format(leaseBytesDown)) down · "
        do {
            let receipt = try await client.putUpdate(leaseID: info.leaseID, envelope: pending.envelope, trainLoss: info.loss)
            backoff.reset()
            defer { heldTrajectory = nil }
            if let stored = receipt.sha256, stored != ArtifactCache.sha256Hex(pending.envelope) {
                // The coordinator stored other bytes than these under this lease: keep pending.bin, report.
                throw PeerError(
                    "the coordinator's receipt for lease \(info.leaseID) names SHA-256 \(stored.prefix(12))…, not the "
                        + "update this peer sent; keeping it to re-send — report this to the campaign's operator")
            }
            status.lifetime.bytesUp += sent
            suspend.record(bytes: sent)
            try ResidualFile(schemaHash: info.schemaHash, afterLease: info.leaseID, residual: pending.residualAfter)
                .write(to: paths.residual)
            do { try ReceiptLog.append(receipt, to: paths.receipts) } catch { logger.warning("\(error)") }
            AtomicFileWriter.remove(paths.pending)
            status.lifetime.accepted += 1
            status.lifetime.trainSeconds += info.trainSeconds
            let pendingCredit = receipt.status == UpdateOutcome.pending
            if !pendingCredit {
                // A coordinator that credits on upload.
                status.lifetime.credited += 1
                status.lifetime.samples += receipt.samples
                status.lifetime.credit += receipt.credit
            }
            status.record(PeerStatus.ReceiptSummary(
                receiptID: receipt.receiptID, leaseID: receipt.leaseID, round: receipt.round, samples: receipt.samples,
                credit: receipt.credit, acceptedAt: receipt.acceptedAt,
                status: receipt.status ?? UpdateOutcome.credited))
            finishedLeases += 1
            setState(.leasing)
            output(
                head
                    + (pendingCredit
                        ? "accepted; credit is decided when round \(receipt.round) is aggregated"
                        : String(format: "accepted (%.2f GFLOP credit)", receipt.credit)))
            if let challenge = receipt.challenge { await answer(challenge, leaseID: info.leaseID) }
        } catch let error as CoordinatorClientError where !error.retryable && error.apiCode != .unauthorized
            && error.apiCode != .revoked
        {
            // Definitive: the coordinator will not take these bytes. Keep the previous residual.
            status.lifetime.bytesUp += sent
            suspend.record(bytes: sent)
            AtomicFileWriter.remove(paths.pending)
            status.lifetime.rejected += 1
            status.lastRejection = PeerStatus.Rejection(
                code: error.code, message: error.message, round: info.round, at: Date().timeIntervalSince1970)
            finishedLeases += 1
            setState(.leasing, reason: "last update rejected: \(error.code)")
            output(head + "rejected: \(error.code) — \(error.message)")
        }
    }

    /// Starts sending the proof the upload's challenge asks for, from the trajectory held since training, while the
    /// daemon goes on with its next lease (`finishProof` collects the result before the next upload). Without the
    /// trajectory (the daemon restarted since), says so: that update's credit is forfeited, nothing more.
    func answer(_ challenge: UpdateChallenge, leaseID: String) async {
        await finishProof()
        guard let held = heldTrajectory, held.leaseID == leaseID, let proof = held.trajectory.proof(segment: challenge.segment)
        else {
            output("lease \(leaseID.prefix(8)) · challenged (segment \(challenge.segment)), but its trajectory is no "
                + "longer held (the daemon restarted since training): this update's credit will be forfeited")
            return
        }
        let body = proof.encoded(), client = self.client
        proofInFlight = (leaseID, challenge.segment, body.count, Task {
            do {
                _ = try await client.putProof(leaseID: leaseID, proof: body)
                return nil
            } catch {
                return "\(error)"
            }
        })
    }

    /// Waits for the proof being sent, if any, and reports it.
    func finishProof() async {
        guard let (leaseID, segment, bytes, task) = proofInFlight else { return }
        proofInFlight = nil
        if let failure = await task.value {
            output("lease \(leaseID.prefix(8)) · the proof for segment \(segment) was not accepted: \(failure)")
            return
        }
        status.lifetime.bytesUp += bytes
        suspend.record(bytes: bytes)
        output("lease \(leaseID.prefix(8)) · challenged segment \(segment): proof sent (\(ByteCount.format(bytes)))")
    }
}
