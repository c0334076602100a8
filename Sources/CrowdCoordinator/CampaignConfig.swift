import CrowdAggregation
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import CrowdVerification
import Foundation

/// The campaign configuration, `D/campaign.json`. Written by `coordinator init`, read by `serve`.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `name` | string | `CrowdTrain campaign` | shown in status and stats |
/// | `workload` | `fmnist-mlp` \| `kjv-gpt` | – (required) | what is trained |
/// | `modelKind` | string | from the workload | `mlp` or `gpt` (informational; the checkpoint is authoritative) |
/// | `bind` | string | `127.0.0.1` | address to listen on (`0.0.0.0`: every interface); `host` in older files |
/// | `port` | int | 8443 | HTTPS port (0 = any free port) |
/// | `publicNames` | [string] | `[localhost, 127.0.0.1]` + `--public-name` | DNS names/IPs in the server certificate: what peers put in `--coordinator` (`serverNames` in older files) |
/// | `goalSamples` | int | 600000 (MLP) / 10000000 (GPT) | samples (images or tokens) to train; work stops when reached |
/// | `maxRounds` | int? | null | stop handing out work after this many rounds; null = until the goal |
/// | `peersPerRound` | int | 3 | sync: quorum, leases per round (closes when this many updates arrived); async: most open leases at once |
/// | `minUpdates` | int | 1 | at the round deadline, close if at least this many arrived |
/// | `roundDeadlineSeconds` | float | 300 | round deadline, from its opening |
/// | `leaseSeconds` | float | 180 | longest upload deadline of a lease, from its issue |
/// | `leaseSafetyFactor` | float | 3 | deadline = clamp(factor × samples / throughput + `leaseAllowanceSeconds`, `minLeaseSeconds`, `leaseSeconds`), throughput measured on the peer's recent leases (else its hint, else `leaseSeconds`) |
/// | `minLeaseSeconds` | float | 30 | shortest lease deadline (at most `leaseSeconds`) |
/// | `leaseAllowanceSeconds` | float | 10 | added to the computed training time for downloads and uploads |
/// | `aggregation` | object | `{"mode": "sync"}` | `sync` rounds or `async` buffered aggregation (`AggregationConfig`: `mode`, `bufferSize` = peersPerRound, `maxStaleness` = 4) |
/// | `localSteps` | int | 100 | local steps H per lease |
/// | `batch` | int | 21 (MLP) / 4 (GPT) | batch size (images, or sequences): the single-process batch (64 / 12) split among the default quorum of 3 |
/// | `block` | int? | null (MLP) / the GPT's block (64) | sequence length of text batches |
/// | `shardsPerLease` | int | 1 | training shards assigned to each lease |
/// | `inner` | object | SGD lr 0.01 m 0.9 (MLP) / AdamW lr 2e-3 (GPT), cosine schedule | peers' local optimizer (`InnerOptimizerConfig`, with its `schedule` over the campaign's progress and `keepState`: peers continue their optimizer state from lease to lease) |
/// | `codec` | string | `int8` | update codec (`fp32`, `fp16`, `bf16`, `int8[:block]`, `topk:fraction`) |
/// | `codecLevel` | int | 1 | zstd level of update envelopes |
/// | `outer` | object | lr 1, Nesterov 0.8 (MLP) / lr 1, Nesterov 0.7 (GPT), `fullStepUpdates` 3, `delayScaling` true | outer optimizer (`OuterOptimizerConfig`; both from the crowd-quality study, Docs/Models.md) |
/// | `aggregator` | string | `trimmed-mean` | how a round's updates are combined: `mean`, `trimmed-mean[:β]`, `median`, `centered-clip[:τ]`, `nnm-trimmed-mean[:β]` (`AggregatorKind`, Docs/Aggregation.md) |
/// | `defence` | object | see `DefenceConfig` | update screening, clipping and credit rules (Docs/ThreatModel.md) |
/// | `probeSamples` | int | 1024 (MLP) / 16 (GPT) | training images, or sequences of `block` tokens, in the coordinator's probe batch (the `defence.probe` check) |
/// | `seed` | uint64 | 0 | model initialisation, shard assignment and lease seeds |
/// | `evalSamples` | int | 10000 (MLP) / 64 (GPT) | held-out images, or sequences of `block` tokens, evaluated per round |
/// | `transport` | object | see `TransportLimits` | timeouts, connection caps and rate limits of the HTTPS edge |
/// | `verification` | object | see `VerificationConfig` | trajectory commitments, challenge rates, held credit (Docs/Protocol.md "Verified work") |
/// | `distribution` | object | see `DistributionConfig` | versions kept, grid outer step (Docs/Protocol.md "Model distribution") |
public struct CampaignConfig: Codable, Sendable, Equatable {
    public var name: String
    public var workload: String
    public var modelKind: String
    public var bind: String
    public var port: Int
    public var publicNames: [String]
    public var goalSamples: Int
    public var maxRounds: Int?
    public var peersPerRound: Int
    public var minUpdates: Int
    public var roundDeadlineSeconds: Double
    public var leaseSeconds: Double
    public var leaseSafetyFactor: Double
    public var minLeaseSeconds: Double
    public var leaseAllowanceSeconds: Double
    public var aggregation: AggregationConfig
    public var localSteps: Int
    public var batch: Int
    public var block: Int?
    public var shardsPerLease: Int
    public var inner: InnerOptimizerConfig
    public var codec: String
    public var codecLevel: Int
    public var outer: OuterOptimizerConfig
    public var aggregator: AggregatorKind
    public var defence: DefenceConfig
    public var probeSamples: Int
    public var seed: UInt64
    public var evalSamples: Int
    public var transport: TransportLimits
    public var verification: VerificationConfig
    public var distribution: DistributionConfig

    /// The defaults for `workload`.
    public init(workload: WorkloadName, name: String = "CrowdTrain campaign") {
        self.name = name
        self.workload = workload.rawValue
        self.bind = "127.0.0.1"
        self.port = 8443
        self.publicNames = ["localhost", "127.0.0.1"]
        self.maxRounds = nil
        self.peersPerRound = 3
        self.minUpdates = 1
        self.roundDeadlineSeconds = 300
        self.leaseSeconds = 180
        self.leaseSafetyFactor = 3
        self.minLeaseSeconds = 30
        self.leaseAllowanceSeconds = 10
        self.aggregation = .sync
        self.localSteps = 100
        self.shardsPerLease = 1
        self.codec = "int8"
        self.codecLevel = 1
        self.outer = Self.defaultOuter(workload)
        self.aggregator = Self.defaultAggregator
        self.defence = .standard
        self.seed = 0
        self.transport = .standard
        self.verification = VerificationConfig()
        self.distribution = DistributionConfig()
        switch workload {
        case .fmnistMLP:
            modelKind = "mlp"
            goalSamples = 600_000
            // The crowd-quality study (Docs/Models.md): the single-process batch of 64 images split among the default
            // quorum of 3 (each peer takes as many inner steps as one machine would at equal samples), SGD at a fifth
            // of the single-process rate (a smaller batch is a noisier step), and a cosine schedule over the
            // campaign's progress: 3 peers at 10 epochs 0.892–0.893 against 0.884–0.890 with batch 64 at lr 0.05.
            batch = 21
            block = nil
            inner = InnerOptimizerConfig(kind: "sgd", lr: 0.01, momentum: 0.9, schedule: .cosine)
            evalSamples = 10_000
            probeSamples = 1024
        case .kjvGPT:
            modelKind = "gpt"
            goalSamples = 10_000_000
            // The crowd-quality study (Docs/Models.md): the single-process batch of 12 sequences split among the
            // default quorum of 3 (each peer then takes as many inner steps as one machine would at equal tokens),
            // a cosine schedule over the campaign's progress, and twice the single-process learning rate (the
            // study's best with split batches and kept optimizer state: 1.716 against 1.766 at 1e-3 and 1.740 at 3e-3).
            batch = 4
            block = GPTConfig().block
            inner = InnerOptimizerConfig(kind: "adamw", lr: 2e-3, weightDecay: 0.1, gradClip: 1, schedule: .cosine)
            evalSamples = 64
            probeSamples = 16
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, workload, modelKind, bind, port, publicNames, goalSamples, maxRounds, peersPerRound, minUpdates
        case roundDeadlineSeconds, leaseSeconds, localSteps, batch, block, shardsPerLease, inner, codec, codecLevel
        case outer, seed, evalSamples, leaseSafetyFactor, minLeaseSeconds, leaseAllowanceSeconds, aggregation
        case aggregator, defence, probeSamples, transport, verification, distribution
    }

    /// Keys of older `campaign.json` files, still read.
    enum LegacyKeys: String, CodingKey {
        case host, serverNames
    }

    /// The outer optimizer of new campaigns of `workload`: the crowd-quality study's best (Docs/Models.md). For the
    /// byte GPT over 30–40 syncs, lr 1 with Nesterov momentum 0.7 (4 peers × 50 steps: 1.667 against DiLoCo's
    /// 1.716; 8 × 50: 1.741 against 1.829); for the MLP with split batches, lr 1 with Nesterov 0.8 (4 peers at 10
    /// epochs 0.8900, mean of 4 seeds). Both were tuned on the mean of 3–4 fresh leases, so a step from less evidence
    /// is scaled down (`fullStepUpdates` 3, the default quorum; OuterOptimizerConfig "Evidence scaling"), and async
    /// steps from stale updates follow their staleness (`delayScaling`; "Delay scaling").
    public static func defaultOuter(_ workload: WorkloadName) -> OuterOptimizerConfig {
        switch workload {
        // With split batches the outer step is the large-batch step: the study's best (Docs/Models.md).
        case .fmnistMLP:
            OuterOptimizerConfig(lr: 1, momentum: 0.8, nesterov: true, fullStepUpdates: 3, delayScaling: true)
        case .kjvGPT:
            OuterOptimizerConfig(lr: 1, momentum: 0.7, nesterov: true, fullStepUpdates: 3, delayScaling: true)
        }
    }

    /// The aggregator of new campaigns (chosen by `crowdtrain bench attack`, Docs/ThreatModel.md).
    public static let defaultAggregator = AggregatorKind.campaignDefault

    /// Decodes with the workload's defaults for every missing key.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let raw = try c.decode(String.self, forKey: .workload)
        guard let w = WorkloadName(rawValue: raw) else {
            throw CoordinatorError("campaign.json: unknown workload '\(raw)'; use fmnist-mlp or kjv-gpt")
        }
        self.init(workload: w)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? name
        modelKind = try c.decodeIfPresent(String.self, forKey: .modelKind) ?? modelKind
        let legacy = try decoder.container(keyedBy: LegacyKeys.self)
        bind = try c.decodeIfPresent(String.self, forKey: .bind) ?? legacy.decodeIfPresent(String.self, forKey: .host) ?? bind
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? port
        publicNames = try c.decodeIfPresent([String].self, forKey: .publicNames)
            ?? legacy.decodeIfPresent([String].self, forKey: .serverNames) ?? publicNames
        goalSamples = try c.decodeIfPresent(Int.self, forKey: .goalSamples) ?? goalSamples
        maxRounds = try c.decodeIfPresent(Int.self, forKey: .maxRounds) ?? maxRounds
        peersPerRound = try c.decodeIfPresent(Int.self, forKey: .peersPerRound) ?? peersPerRound
        minUpdates = try c.decodeIfPresent(Int.self, forKey: .minUpdates) ?? minUpdates
        roundDeadlineSeconds = try c.decodeIfPresent(Double.self, forKey: .roundDeadlineSeconds) ?? roundDeadlineSeconds
        leaseSeconds = try c.decodeIfPresent(Double.self, forKey: .leaseSeconds) ?? leaseSeconds
        leaseSafetyFactor = try c.decodeIfPresent(Double.self, forKey: .leaseSafetyFactor) ?? leaseSafetyFactor
        minLeaseSeconds = try c.decodeIfPresent(Double.self, forKey: .minLeaseSeconds) ?? minLeaseSeconds
        leaseAllowanceSeconds =
            try c.decodeIfPresent(Double.self, forKey: .leaseAllowanceSeconds) ?? leaseAllowanceSeconds
        aggregation = try c.decodeIfPresent(AggregationConfig.self, forKey: .aggregation) ?? aggregation
        localSteps = try c.decodeIfPresent(Int.self, forKey: .localSteps) ?? localSteps
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? batch
        if c.contains(.block) { block = try c.decodeIfPresent(Int.self, forKey: .block) }
        shardsPerLease = try c.decodeIfPresent(Int.self, forKey: .shardsPerLease) ?? shardsPerLease
        inner = try c.decodeIfPresent(InnerOptimizerConfig.self, forKey: .inner) ?? inner
        codec = try c.decodeIfPresent(String.self, forKey: .codec) ?? codec
        codecLevel = try c.decodeIfPresent(Int.self, forKey: .codecLevel) ?? codecLevel
        outer = try c.decodeIfPresent(OuterOptimizerConfig.self, forKey: .outer) ?? outer
        do {
            aggregator = try c.decodeIfPresent(AggregatorKind.self, forKey: .aggregator) ?? aggregator
        } catch let e as AggregationError {
            throw CoordinatorError("campaign.json: \(e)")
        }
        defence = try c.decodeIfPresent(DefenceConfig.self, forKey: .defence) ?? defence
        probeSamples = try c.decodeIfPresent(Int.self, forKey: .probeSamples) ?? probeSamples
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        evalSamples = try c.decodeIfPresent(Int.self, forKey: .evalSamples) ?? evalSamples
        transport = try c.decodeIfPresent(TransportLimits.self, forKey: .transport) ?? transport
        verification = try c.decodeIfPresent(VerificationConfig.self, forKey: .verification) ?? verification
        distribution = try c.decodeIfPresent(DistributionConfig.self, forKey: .distribution) ?? distribution
    }

    /// The workload as an enum (validated on decode).
    public var workloadName: WorkloadName { WorkloadName(rawValue: workload) ?? .fmnistMLP }

    /// Samples a lease is worth: steps × batch (× block for text). Coordinator-assigned aggregation weight.
    public var samplesPerLease: Int { localSteps * batch * (block ?? 1) }

    /// Throws a `CoordinatorError` naming the first invalid key.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw CoordinatorError("campaign.json: \(message)") }
        }
        try check(!name.trimmingCharacters(in: .whitespaces).isEmpty, "name must not be empty")
        try check((0...65535).contains(port), "port must be 0…65535")
        try check(goalSamples > 0, "goalSamples must be positive")
        try check(maxRounds.map { $0 > 0 } ?? true, "maxRounds must be positive or null")
        try check(peersPerRound >= 1, "peersPerRound must be at least 1")
        try check(minUpdates >= 1 && minUpdates <= peersPerRound, "minUpdates must be 1…peersPerRound")
        try check(
            roundDeadlineSeconds > 0 && leaseSeconds > 0, "roundDeadlineSeconds and leaseSeconds must be positive")
        try check(
            leaseSafetyFactor >= 1 && leaseSafetyFactor.isFinite,
            "leaseSafetyFactor must be at least 1 (deadlines shorter than the measured training time expire good work)")
        try check(minLeaseSeconds > 0 && minLeaseSeconds.isFinite, "minLeaseSeconds must be positive")
        try check(
            leaseAllowanceSeconds >= 0 && leaseAllowanceSeconds.isFinite, "leaseAllowanceSeconds must be 0 or more")
        try check(
            aggregation.effectiveBufferSize(peersPerRound: peersPerRound) >= 1,
            "aggregation.bufferSize must be at least 1 (or omitted: peersPerRound)")
        try check(
            (0...1000).contains(aggregation.maxStaleness),
            "aggregation.maxStaleness must be 0…1000 (0 accepts only updates computed from the current model)")
        try check(
            aggregation.mode == .async || aggregation.bufferSize == nil
                || aggregation.bufferSize == peersPerRound,
            "aggregation.bufferSize applies to mode async only; in sync mode the quorum is peersPerRound")
        try check(localSteps >= 1 && batch >= 1, "localSteps and batch must be at least 1")
        try check(shardsPerLease >= 1, "shardsPerLease must be at least 1")
        try check(workloadName == .fmnistMLP || (block ?? 0) >= 1, "block must be set for text workloads")
        try check((0...22).contains(codecLevel), "codecLevel must be 0…22")
        do { try outer.validate() } catch { throw CoordinatorError("campaign.json: \(error)") }
        try check(evalSamples >= 1, "evalSamples must be at least 1")
        try check((1...100_000).contains(probeSamples), "probeSamples must be 1…100000")
        try transport.validate()
        if let problem = distribution.problem(maxStaleness: aggregation.mode == .async ? aggregation.maxStaleness : 0) {
            throw CoordinatorError("campaign.json: \(problem)")
        }
        if let problem = verification.problems(localSteps: localSteps).first {
            throw CoordinatorError("campaign.json: \(problem)")
        }
        do { try defence.validate() } catch let e as AggregationError { throw CoordinatorError("campaign.json: \(e)") }
    }

    /// Reads `D/campaign.json`.
    public static func load(paths: CampaignPaths) throws -> CampaignConfig {
        guard let data = FileManager.default.contents(atPath: paths.config) else {
            throw CoordinatorError(
                "no campaign at \(paths.directory): \(paths.config) is missing; run `crowdtrain coordinator init --dir \(paths.directory)` first"
            )
        }
        let config: CampaignConfig
        do { config = try JSONDecoder().decode(CampaignConfig.self, from: data) } catch let e as CoordinatorError {
            throw e
        } catch {
            throw CoordinatorError("\(paths.config) is not valid: \(error)")
        }
        try config.validate()
        return config
    }

    /// Writes `D/campaign.json` atomically (pretty, sorted keys).
    public func write(paths: CampaignPaths) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: paths.config)
    }
}

extension CampaignConfig {
    /// The server certificate's names: localhost, 127.0.0.1, the bind address unless it is a wildcard, and every
    /// public name (case-insensitively unique, in that order). The bind address says only where to listen; peers
    /// behind NAT or on the internet reach the coordinator by its public names.
    public static func certificateNames(bind: String, publicNames: [String]) -> [String] {
        var seen = Set<String>()
        let listen = ["0.0.0.0", "::", ""].contains(bind) ? [] : [bind]
        return (["localhost", "127.0.0.1"] + listen + publicNames).filter { seen.insert($0.lowercased()).inserted }
    }

    /// A DNS name (letters, digits, hyphens and dots, ≤ 253 bytes) or an IPv4/IPv6 literal.
    public static func isPlausibleAddress(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 253 else { return false }
        if s.contains(":") { return s.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." } }
        return s.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" || $0 == "." }
    }
}
