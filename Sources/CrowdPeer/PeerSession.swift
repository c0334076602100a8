import CrowdClient
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdVerification
import Foundation
import Logging
import ServiceLifecycle

/// The driver of one `PeerDaemon.run()`: it feeds `PeerWorkMachine` the events it observes and performs the
/// actions the machine returns (network through `CoordinatorClient`, training through `LeaseTrainer`, the peer's
/// files). Every decision is the machine's; the session holds the I/O handles, the status document it writes,
/// and the bytes of the work in flight. Used by a single task only.
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
    /// The work cycle.
    var machine: PeerWorkMachine
    /// `status.json` as last set, with the lifetime totals (the machine decides the state shown; the session counts).
    var status: PeerStatus
    /// The state last written to `status.json`.
    var lastWrittenState: PeerStatus.State?
    /// The bytes that belong to the machine's work in flight.
    var held = Held()
    /// Decoded shards of recent leases (a peer often gets the same shards again), least recently used first.
    var decodedShards: [(id: String, payload: ShardPayload)] = []
    /// The last model version this session fetched, verified against its digest: the next lease on it skips the
    /// cache read, and the next round's delta applies to it (`ModelFetcher.held`).
    var lastModel: (version: String, bytes: Data)?
    /// What this session last wrote to `inner-state.bin` (nil: not written by this session, removed, or already
    /// taken): the next lease takes it from here instead of decoding the file again. Taken, not kept, so training
    /// never holds a second copy of the optimizer state (the memory guard counts one). The file stays the
    /// crash-safe copy a restarted daemon reads.
    var writtenInnerState: InnerStateFile?
    /// Bytes downloaded for the lease in progress.
    var leaseBytesDown = 0
    /// Suspend notes already logged (e.g. "idle detection unavailable").
    var notesShown: Set<String> = []
    /// Builds model versions from signed manifests, chunks and deltas (nil: the credential predates signed
    /// manifests, and `modelFetcherProblem` says what to do).
    let fetcher: ModelFetcher?
    let modelFetcherProblem: String?
    /// Most decoded shards kept in memory.
    static let keptDecodedShards = 4

    /// What the driver keeps for the machine's current state: the machine says when each is used and dropped.
    struct Held {
        /// The decoded model and shards of the lease being fetched or trained.
        var inputs: (leaseID: String, checkpoint: Checkpoint, shards: [ShardPayload])?
        /// Δ of the lease being encoded.
        var work: LeaseWork?
        /// The update being uploaded (also in `pending.bin`).
        var pending: PendingUpdate?
        /// Verified work: the trajectory of the update being uploaded (its states answer the upload's challenge).
        var trajectory: (leaseID: String, trajectory: Trajectory)?
        /// The proof being sent while the next lease trains (lease, segment, bytes; the task's failure, if any).
        var proof: (String, Int, Int, Task<String?, Never>)?
        /// Bytes of the update last committed or discarded (for its line).
        var uploaded = 0
    }

    init(
        paths: PeerPaths, config: PeerRunConfig, client: CoordinatorClient, stop: StopFlag,
        output: @escaping @Sendable (String) -> Void, logger: Logger,
        suspend: SuspendMonitor? = nil, live: PeerLiveSettings? = nil, credential: PeerCredential? = nil
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
        self.cache = ArtifactCache(paths: paths, limitBytes: config.cacheBytes)
        let suspendMonitor = self.suspend
        if let key = credential?.manifestKey, let verifier = try? ManifestVerifier(publicKey: key) {
            self.fetcher = ModelFetcher(
                cache: cache, verifier: verifier, campaign: credential?.campaign, source: client,
                onBytes: { suspendMonitor.record(bytes: $0) })
            self.modelFetcherProblem = nil
        } else {
            self.fetcher = nil
            self.modelFetcherProblem = Self.manifestKeyProblem(credential, paths: paths) ?? "no credential was given"
        }
        self.status = PeerStatus.read(from: paths.status) ?? PeerStatus()
        self.machine = PeerWorkMachine(
            settings: PeerWorkMachine.Settings(config), seed: config.seed ?? UInt64.random(in: 0...UInt64.max))
    }

    /// What is wrong with `credential`'s pinned manifest key, or nil when it is a usable Ed25519 public key.
    static func manifestKeyProblem(_ credential: PeerCredential?, paths: PeerPaths) -> String? {
        guard let credential else { return nil }
        guard let key = credential.manifestKey else {
            return "\(paths.credential) has no manifest key: this peer joined before the coordinator signed its models; "
                + "join again with `crowdtrain peer join` and a new invite (in a new --dir)"
        }
        guard (try? ManifestVerifier(publicKey: key)) != nil else {
            return "\(paths.credential) holds a manifest key that is not an Ed25519 public key; join again"
        }
        return nil
    }

    var stopping: Bool { stop.isSet || Task.isCancelled }

    /// The driver's clock (Unix seconds): the suspend monitor's, so one clock decides pauses and deadlines.
    func now() -> Double { suspend.probes.now() }

    /// Shows `state` in `status.json` (the daemon writes `stopped` with this too).
    func setState(_ state: PeerStatus.State, reason: String? = nil, lease: Lease? = nil) {
        write(state, reason: reason, round: lease?.round, leaseID: lease?.leaseID, suspendReasons: status.suspendReasons)
    }

    func write(
        _ state: PeerStatus.State, reason: String?, round: UInt64?, leaseID: String?, suspendReasons: [String]?
    ) {
        var next = status
        next.state = state
        next.reason = reason
        if let round { next.round = round }
        if let leaseID { next.leaseID = leaseID }
        next.suspendReasons = suspendReasons
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

    /// Runs the work cycle until the machine finishes: returns on shutdown or when done, throws `PeerError` when
    /// the coordinator refused this peer for good.
    func loop() async throws {
        try await drive()
    }

    /// Starts the machine and performs its actions; an event replaces the rest of the batch with the machine's answer.
    /// Returns early once `done` holds for the machine's state.
    func drive(until done: (PeerWorkMachine.State) -> Bool = { _ in false }) async throws {
        var batch = machine.start(now: now())
        var next = 0
        while next < batch.count {
            let action = batch[next]
            next += 1
            if case .finish(let ending) = action {
                if case .failed(let message) = ending { throw PeerError(message) }
                return
            }
            guard let event = await perform(action) else { continue }
            batch = machine.handle(event, now: now())
            next = 0
            if done(machine.state) { return }
            if batch.isEmpty {
                // The driver reports only what the action it performed can report: this is a bug, not an input.
                logger.error("work machine: \(event) does not apply in state \(machine.state); stopping")
                return
            }
        }
    }

    /// Performs one action; returns the event to feed back, if the action reports one.
    func perform(_ action: PeerWorkMachine.Action) async -> PeerWorkMachine.Event? {
        switch action {
        case .setStatus(let change):
            write(
                change.state, reason: change.reason, round: change.round, leaseID: change.leaseID,
                suspendReasons: change.suspendReasons?.map(\.rawValue))
            return nil
        case .announce(let notice):
            announce(notice)
            return nil
        case .loadPending:
            return .pendingLoaded(loadPending())
        case .refreshOutcomes:
            if let interruption = gate() { return interruption }
            await refreshOutcomes()
            return nil
        case .requestLease(let speed):
            return await requestLease(samplesPerSecond: speed)
        case .fetchArtifacts(let lease):
            return await fetchArtifacts(lease)
        case .train(let lease):
            return await runTraining(lease)
        case .encode(let lease):
            return encodeHeld(lease)
        case .awaitProof:
            await finishProof()
            return nil
        case .upload(let info):
            return await upload(info)
        case .commitUpload(let info, let receipt):
            commit(info, receipt)
            return nil
        case .discardPending(let info, let failure):
            discard(info, failure)
            return nil
        case .sendProof(let leaseID, let segment):
            sendProof(leaseID: leaseID, segment: segment)
            return nil
        case .releaseTrajectory:
            held.trajectory = nil
            return nil
        case .abandonLease(let lease, let loss):
            abandon(lease, loss)
            return nil
        case .sleep(let until):
            return await sleep(until: until)
        case .waitForResume:
            return await waitForResume()
        case .finish:
            return nil  // handled by `drive`
        }
    }

    /// Asks for work until a lease arrives (re-sending a pending update first); nil when the run ended instead
    /// (shutdown, `maxLeases`, the campaign finished with `exitWhenFinished`).
    func nextLease() async throws -> Lease? {
        try await drive(until: { if case .fetching = $0 { true } else { false } })
        if case .fetching(let lease) = machine.state { return lease }
        return nil
    }

    /// Sweeps temporary files a killed writer left, then reads a previous run's `pending.bin` (a damaged one is
    /// removed) and drops the progress of its lease, which is finished.
    func loadPending() -> PendingUpdate.Info? {
        for name in StaleTemporaryFiles.sweep([paths.root, paths.modelCache, paths.shardCache]) {
            logger.info("removed \(name), left by a process that was killed while writing it")
        }
        do {
            held.pending = try PendingUpdate.read(from: paths.pending)
        } catch {
            logger.warning("\(error)")
            AtomicFileWriter.remove(paths.pending)
            held.pending = nil
        }
        guard let pending = held.pending else { return nil }
        dropProgress(ofLease: pending.info.leaseID)
        leaseBytesDown = 0
        return pending.info
    }

    /// Asks for a lease; a stop or a suspension cancels the long-poll.
    func requestLease(samplesPerSecond: Double?) async -> PeerWorkMachine.Event {
        if let interruption = gate() { return interruption }
        // The shards this peer holds: the coordinator prefers a free slot with those (less to download).
        let held = cache.heldShards(limit: LeaseRequest.maxHeldShards)
        let request = LeaseRequest(
            threads: config.threads, samplesPerSecond: samplesPerSecond,
            waitSeconds: config.longPollSeconds > 0 ? config.longPollSeconds : nil,
            heldShards: held.isEmpty ? nil : held)
        let client = self.client
        do {
            switch try await race({ try await client.lease(request) }) {
            case .interrupted(let event):
                return event
            case .done(let response):
                guard let lease = response.lease else {
                    return .noWork(reason: response.reason ?? "no work", retryAfter: response.retryAfter)
                }
                status.lifetime.leases += 1
                leaseBytesDown = 0
                return .leaseGranted(lease)
            }
        } catch {
            return .failed(PeerWorkMachine.Failure(error))
        }
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
}

extension PeerWorkMachine.Failure {
    /// A coordinator error keeps its status and code; anything else is local.
    init(_ error: any Error) {
        guard let e = error as? CoordinatorClientError else {
            self = .local("\(error)")
            return
        }
        if let status = e.status {
            self = .answered(status: status, code: e.code, message: e.message, retryAfter: e.retryAfter)
        } else {
            self = .unreachable(code: e.code, message: e.message)
        }
    }

    /// The coordinator error this failure came from (nil for a local one).
    var clientError: CoordinatorClientError? {
        switch self {
        case .unreachable(let code, let message): return CoordinatorClientError(status: nil, code: code, message: message)
        case .answered(let status, let code, let message, let retryAfter):
            return CoordinatorClientError(status: status, code: code, message: message, retryAfter: retryAfter)
        case .local: return nil
        }
    }
}
