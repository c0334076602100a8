import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import CrowdVerification
import Foundation
import Synchronization
import Logging

/// The coordinator's core: rounds, leases, update acceptance, aggregation and read models.
///
/// An actor whose mutating paths contain no suspension points (the store is synchronous), so a
/// round can never change between the checks of an upload and its transaction. The HTTP layer
/// (`CoordinatorRoutes`) only authenticates, limits bodies and translates; everything else is here.
public actor Coordinator {
    public let paths: CampaignPaths
    public let config: CampaignConfig
    let store: any CoordinatorRepository
    let clock: any CoordinatorClock
    let logger: Logger

    let modelKind: String
    let modelConfigJSON: Data
    let schemaHash: UInt64
    let elementCount: Int
    /// Forward + backward FLOPs per sample: credit = samples × this / 1e9 GFLOP.
    public let flopsPerSample: Double
    let codec: CodecSpec
    /// Largest accepted update body.
    public nonisolated let maxUpdateBytes: Int

    let trainShards: [ShardEntry]
    let shardFiles: [String: String]
    /// Training shards by id (sizes for leases, entries for `ShardBodies`).
    let trainShardsByID: [String: ShardEntry]
    /// The shard directory (`D/shards`).
    let shardDirectory: String
    /// The held-out evaluation shard: never served.
    let evaluationShardID: String
    let evaluation: EvaluationSet

    var machine: RoundStateMachine
    var strategy: OuterOptimizerStrategy
    var params: [Float]
    var baseVersion: String
    var baseDigest: [UInt8]
    var baseBytes: Data
    var roundSeed: UInt64
    var shardCache: [String: Data] = [:]
    /// Compressed training shards as served (`ShardBodies`), loaded on first download.
    var shardBodies: [String: Data] = [:]
    /// The current round's shard permutation (`SeedMixer.permutation`), for the slots' shards.
    var roundPermutation: (seed: UInt64, order: [Int])?
    /// Base model digests of older rounds (async leases outlive their round).
    var olderBaseDigests: [UInt64: [UInt8]] = [:]
    /// The training shards each peer said it held at its last lease request, and how many of those peers hold each
    /// shard: among the slots a peer holds equally, it gets the one fewest other peers hold (bounded: cleared past
    /// `heldByPeerLimit` peers or `heldEntriesLimit` ids in all).
    var heldByPeer: [String: Set<String>] = [:]
    var holdersOfShard: [String: Int] = [:]
    /// Σ of the remembered sets' sizes (bounded by `heldEntriesLimit`).
    var heldEntries = 0
    /// `last_seen` times of authenticated calls, waiting for `tick`.
    nonisolated let peerTouches = PeerTouches()
    /// The defence every round runs (screening, clipping, probe, fallback).
    let defence: RoundDefence
    /// Norms of recently credited updates: the reference for clipping and refusing.
    var normHistory: NormHistory
    /// Sketches of recently credited updates and broadcast model changes (copy detection).
    var recentSketches: [UpdateSketch]
    /// The probe batch (`defence.probe`).
    let probe: ProbeSet
    /// The probe loss of `params`, once a round computed it (the next round's base loss); nil after start-up.
    var paramsProbeLoss: Double?
    /// Prometheus metrics of this coordinator (`GET /metrics`).
    public nonisolated let metrics = CoordinatorMetrics()
    /// Wakes long-polling lease requests when work may be free (`POST /v1/lease` with `waitSeconds`).
    public nonisolated let work = WorkSignal()
    /// The running totals behind `/v1/status` and `/metrics` (read without the actor).
    public nonisolated let board: StatusBoard
    /// Bytes served since the last flush of the `bytes_out` counter to the database (`tick`); counted without the
    /// actor, so a download never waits behind a round's aggregation.
    nonisolated let unflushedBytesOut = Mutex(0)
    /// When `flushCounters` last wrote (at most once a second).
    var lastCounterFlush = 0.0
    /// Evaluates closed rounds off the actor (started by `open`).
    nonisolated let evaluator = CoordinatorEvaluator()
    /// Re-executes challenged segments off the actor (started by `open`).
    nonisolated let verifierQueue = WorkVerifierQueue()
    /// Signed manifests, chunks and round deltas of the kept model versions (served without the actor).
    public nonisolated let distribution: ModelDistribution
    /// `StateDigest.optimizer` of a fresh inner optimizer: a lease may always start from it.
    let freshInnerDigest: [UInt8]
    /// When held credit was last settled by `tick` (at most once a second).
    var lastSettle = 0.0
    /// The campaign's goal as it is now (`config` holds it as the campaign opened; the operator API changes this).
    var goal: (samples: Int, maxRounds: Int?)
    /// SHA-256 of the operator token (`<dir>/operator.token`), compared in constant time.
    nonisolated let operatorTokenHash: [UInt8]
    /// Draws the challenge decision and segment: uniform in [0, 1) from the system's cryptographic generator
    /// (a peer cannot predict which update or segment is checked); tests inject their own.
    var challengeDice: @Sendable () -> Double = {
        var rng = SystemRandomNumberGenerator()
        return Double.random(in: 0..<1, using: &rng)
    }

    init(
        paths: CampaignPaths, config: CampaignConfig, store: any CoordinatorRepository, clock: any CoordinatorClock,
        logger: Logger, model: any TrainableModel, checkpoint: Checkpoint, checkpointBytes: Data, version: String,
        manifest: ShardManifest, evaluation: EvaluationSet, machine: RoundStateMachine,
        strategy: OuterOptimizerStrategy, roundSeed: UInt64, probe: ProbeSet, board: StatusBoard,
        operatorTokenHash: [UInt8], distribution: ModelDistribution
    ) throws {
        self.distribution = distribution
        self.goal = (config.goalSamples, config.maxRounds)
        self.operatorTokenHash = operatorTokenHash
        self.paths = paths
        self.config = config
        self.store = store
        self.clock = clock
        self.logger = logger
        self.modelKind = checkpoint.kind
        self.modelConfigJSON = checkpoint.configJSON
        self.schemaHash = checkpoint.schemaHash
        self.elementCount = checkpoint.params.count
        self.flopsPerSample = model.flopsPerSample
        self.codec = try CodecSpec(parsing: config.codec)
        self.maxUpdateBytes = UpdateEnvelope.maxEnvelopeBytes(elementCount: checkpoint.params.count, codec: codec)
        self.trainShards = manifest.shards
        var files: [String: String] = [:]
        for s in manifest.shards + [manifest.evaluation] {
            files[s.id] = (paths.shards as NSString).appendingPathComponent(s.file)
        }
        self.shardFiles = files
        self.trainShardsByID = Dictionary(manifest.shards.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.shardDirectory = paths.shards
        self.evaluationShardID = manifest.evaluation.id
        self.evaluation = evaluation
        self.machine = machine
        self.strategy = strategy
        self.params = checkpoint.params
        self.baseVersion = version
        self.baseDigest = ContentDigest.bytes(checkpointBytes)
        self.baseBytes = checkpointBytes
        self.roundSeed = roundSeed
        self.probe = probe
        self.board = board
        self.defence = RoundDefence(config: config.defence)
        self.freshInnerDigest = StateDigest.optimizer(try config.inner.make(for: model.layout).state)
        let recent = try store.recentCredited(limit: config.defence.historyLength)
        self.normHistory = NormHistory(capacity: config.defence.historyLength, norms: recent.map(\.norm))
        var sketches = recent.compactMap { $0.sketch.map { UpdateSketch(values: FloatBytes.floats($0)) } }
        if let b = try store.broadcastSketch() { sketches.append(UpdateSketch(values: FloatBytes.floats(b))) }
        self.recentSketches = sketches.filter { $0.values.count == UpdateSketch.dimension }
    }

    /// Most sketches kept for copy detection: the credited history plus a few broadcast changes.
    var sketchCapacity: Int { config.defence.historyLength + 8 }

    /// Opens the campaign in `directory` and restores its state from the database and checkpoints.
    public static func open(
        directory: String, clock: any CoordinatorClock = SystemCoordinatorClock(), logger: Logger? = nil
    ) throws -> Coordinator {
        let paths = CampaignPaths(directory: directory)
        let config = try CampaignConfig.load(paths: paths)
        var log = logger ?? Logger(label: "crowdtrain.coordinator")
        log[metadataKey: "campaign"] = "\(config.name)"
        guard FileManager.default.fileExists(atPath: paths.database) else {
            throw CoordinatorError("\(paths.database) is missing; this directory was not created by `coordinator init`")
        }
        let store = try SQLiteStore(path: paths.database)
        let integrity = try store.integrityCheck()
        guard integrity == "ok" else { throw CoordinatorError("database integrity check failed: \(integrity)") }
        // Verifies the recorded checkpoints; if the one needed is unusable, falls back to the newest good one.
        let restored = try CheckpointRecovery.restore(
            store: store, paths: paths, config: config, now: clock.now(), logger: log)
        let (round, version, checkpoint, bytes) = (restored.round, restored.version, restored.checkpoint, restored.bytes)
        let model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: 0)
        try checkpoint.load(into: model)
        let manifest = try ShardManifest.load(directory: paths.shards)
        let evaluation = try EvaluationSet.load(paths: paths, manifest: manifest, config: config)
        var strategy = OuterOptimizerStrategy(
            config: config.outer, aggregator: config.aggregator, parameterCount: checkpoint.params.count,
            leaseWeight: Double(config.samplesPerLease))
        if let state = try store.outerState() { try strategy.restoreState(FloatBytes.floats(state.momentum)) }
        let finished = round.closedAt != nil
        let settings = RoundStateMachine.Settings(config)
        let machine = RoundStateMachine(
            settings: settings, restoring: round,
            leases: try store.leasesForRestore(
                round: round.number,
                openSince: round.number - min(round.number, UInt64(settings.isAsync ? settings.maxStaleness : 0))),
            buffered: try store.foldedCount(round: round.number), finished: finished, now: clock.now())
        log.info(
            "campaign opened",
            metadata: [
                "round": "\(round.number)", "model": "\(version.prefix(12))", "finished": "\(finished)",
                "aggregation": "\(config.aggregation.mode.rawValue)", "open_leases": "\(machine.openLeases.count)",
                "aggregator": "\(config.aggregator)",
                "parameters": "\(checkpoint.params.count)",
            ])
        let coordinator = try Coordinator(
            paths: paths, config: config, store: store, clock: clock, logger: log, model: model, checkpoint: checkpoint,
            checkpointBytes: bytes, version: version, manifest: manifest, evaluation: evaluation, machine: machine,
            strategy: strategy, roundSeed: round.seed,
            probe: try ProbeSet.load(paths: paths, manifest: manifest, config: config, checkpoint: checkpoint),
            board: try StatusBoard.load(
                store: store, config: config, round: round.number, finished: finished, version: version,
                now: clock.now()),
            operatorTokenHash: try OperatorToken.loadOrCreate(paths: paths, logger: log),
            distribution: try ModelDistribution.open(
                paths: paths, config: config, store: store, current: version, currentBytes: bytes, logger: log))
        let waived = try store.waiveInterruptedVerifications()
        if waived > 0 {
            log.notice(
                "proofs received before the last stop were never verified; those updates are treated as unchallenged",
                metadata: ["updates": "\(waived)"])
        }
        coordinator.verifierQueue.start(
            .init(
                verifier: SegmentVerifier(
                    tolerance: config.verification.tolerance, updateTolerance: config.verification.updateTolerance),
                onResult: { [weak coordinator] job, report in
                    // The verifier's own thread waits until the actor recorded the result, so an idle queue means
                    // every verdict is in the database.
                    let recorded = DispatchSemaphore(value: 0)
                    Task {
                        await coordinator?.verificationFinished(job, report)
                        recorded.signal()
                    }
                    recorded.wait()
                },
                spillDirectory: paths.verifierSpill, memoryBudget: config.verification.queueMemoryBytes))
        try coordinator.evaluator.start(
            .init(
                store: store, paths: paths, set: evaluation, clock: clock, metrics: coordinator.metrics,
                board: coordinator.board, logger: log))
        return coordinator
    }

    /// Reads a checkpoint file and verifies its SHA-256 against the database record.
    static func loadCheckpoint(paths: CampaignPaths, record: CheckpointRecord) throws -> (Checkpoint, Data) {
        let path = (paths.directory as NSString).appendingPathComponent(record.path)
        guard let bytes = FileManager.default.contents(atPath: path) else {
            throw CoordinatorError("checkpoint \(path) is missing")
        }
        guard ContentDigest.hex(bytes) == record.version else {
            throw CoordinatorError("checkpoint \(path) does not match its recorded SHA-256 (torn or modified file)")
        }
        return (try Checkpoint.decode(bytes, path: path), bytes)
    }

    /// The identity returned on join.
    public nonisolated var campaignInfo: CampaignInfo {
        CampaignInfo(name: config.name, workload: config.workload, modelKind: config.modelKind)
    }

    /// Current round and phase (tests, logs).
    public var roundState: RoundStateMachine { machine }

    /// Current global parameters (tests).
    public var currentParameters: [Float] { params }

    /// SHA-256 hex of the current global checkpoint.
    public var currentModelVersion: String { baseVersion }
}

/// Float arrays as little-endian bytes (outer optimizer state in SQLite).
enum FloatBytes {
    static func data(_ v: [Float]) -> Data { v.withUnsafeBytes { Data($0) } }

    static func floats(_ d: Data) -> [Float] {
        var out = [Float](repeating: 0, count: d.count / 4)
        out.withUnsafeMutableBytes { dst in _ = d.copyBytes(to: dst) }
        return out
    }
}
