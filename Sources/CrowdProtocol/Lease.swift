/// One unit of work handed to a peer by `POST /v1/lease`.
///
/// The peer downloads model `modelVersion` and the shards `shardIDs`, runs `steps` local steps of
/// `batch` samples with the `inner` optimizer and RNG `seed`, and uploads Δ = θ_start − θ_end
/// encoded with `codec` to `PUT /v1/updates/{leaseID}` before `deadline`.
///
/// JSON: `schemaHash` and `seed` are 64-bit values and travel as **decimal strings** (JavaScript
/// and many JSON parsers lose precision above 2^53); every other field is a plain JSON value.
public struct Lease: Codable, Sendable, Equatable {
    /// Lease identity (UUID string); also the idempotency key of the upload.
    public var leaseID: String
    /// Round the update is for.
    public var round: UInt64
    /// SHA-256 hex of the base checkpoint's bytes (`GET /v1/models/{modelVersion}`).
    public var modelVersion: String
    /// Parameter layout schema hash (FNV-1a 64) the update must carry.
    public var schemaHash: UInt64
    /// `fmnist-mlp` or `kjv-gpt`.
    public var workload: String
    /// `mlp` or `gpt`.
    public var modelKind: String
    /// Shards to train on (SHA-256 hex ids of the shard files, `GET /v1/shards/{id}`).
    public var shardIDs: [String]
    /// The uncompressed size of each shard of `shardIDs`, in order: a shard travels zstd-compressed and the peer
    /// inflates exactly this many bytes, no more (nil from older coordinators: a fixed bound applies).
    public var shardBytes: [Int]?
    /// Local steps H.
    public var steps: Int
    /// Batch size (images, or sequences for the GPT).
    public var batch: Int
    /// Sequence length for the GPT; nil for image workloads.
    public var block: Int?
    /// Local optimizer: the campaign's `inner` settings, learning-rate schedule included.
    public var inner: InnerOptimizerConfig
    /// Campaign progress (fraction of its planned training units) at this lease's first step, and how much one step of
    /// this lease advances it (the round's updates run side by side): step `t` trains at
    /// `inner.schedule(progress + t × progressPerStep) × inner.lr`. Absent with a constant schedule (= 0).
    public var progress: Double?
    public var progressPerStep: Double?
    /// Update codec, e.g. `int8`, `int8:128`, `fp16`, `topk:0.01` (CrowdCodec `CodecSpec` syntax).
    public var codec: String
    /// zstd level for the envelope.
    public var codecLevel: Int
    /// Seed of the peer's batch sampler for this lease.
    public var seed: UInt64
    /// Upload deadline, Unix seconds.
    public var deadline: Double
    /// Weight the coordinator will give this update: steps × batch (× block for the GPT).
    public var samples: Int
    /// Verified work: how the peer commits to its trajectory (nil: the campaign does not verify).
    public var verification: LeaseVerification?

    public init(
        leaseID: String, round: UInt64, modelVersion: String, schemaHash: UInt64, workload: String,
        modelKind: String, shardIDs: [String], steps: Int, batch: Int, block: Int?,
        inner: InnerOptimizerConfig, progress: Double? = nil, progressPerStep: Double? = nil, codec: String,
        codecLevel: Int, seed: UInt64, deadline: Double, samples: Int
    ) {
        self.leaseID = leaseID
        self.round = round
        self.modelVersion = modelVersion
        self.schemaHash = schemaHash
        self.workload = workload
        self.modelKind = modelKind
        self.shardIDs = shardIDs
        self.steps = steps
        self.batch = batch
        self.block = block
        self.inner = inner
        self.progress = progress
        self.progressPerStep = progressPerStep
        self.codec = codec
        self.codecLevel = codecLevel
        self.seed = seed
        self.deadline = deadline
        self.samples = samples
    }

    enum CodingKeys: String, CodingKey {
        case leaseID, round, modelVersion, schemaHash, workload, modelKind, shardIDs, shardBytes, steps, batch, block
        case inner, progress, progressPerStep, codec, codecLevel, seed, deadline, samples, verification
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        leaseID = try c.decode(String.self, forKey: .leaseID)
        round = try c.decode(UInt64.self, forKey: .round)
        modelVersion = try c.decode(String.self, forKey: .modelVersion)
        schemaHash = try c.decode(DecimalUInt64.self, forKey: .schemaHash).value
        workload = try c.decode(String.self, forKey: .workload)
        modelKind = try c.decode(String.self, forKey: .modelKind)
        shardIDs = try c.decode([String].self, forKey: .shardIDs)
        shardBytes = try c.decodeIfPresent([Int].self, forKey: .shardBytes)
        steps = try c.decode(Int.self, forKey: .steps)
        batch = try c.decode(Int.self, forKey: .batch)
        block = try c.decodeIfPresent(Int.self, forKey: .block)
        inner = try c.decode(InnerOptimizerConfig.self, forKey: .inner)
        progress = try c.decodeIfPresent(Double.self, forKey: .progress)
        progressPerStep = try c.decodeIfPresent(Double.self, forKey: .progressPerStep)
        codec = try c.decode(String.self, forKey: .codec)
        codecLevel = try c.decode(Int.self, forKey: .codecLevel)
        seed = try c.decode(DecimalUInt64.self, forKey: .seed).value
        deadline = try c.decode(Double.self, forKey: .deadline)
        samples = try c.decode(Int.self, forKey: .samples)
        verification = try c.decodeIfPresent(LeaseVerification.self, forKey: .verification)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(leaseID, forKey: .leaseID)
        try c.encode(round, forKey: .round)
        try c.encode(modelVersion, forKey: .modelVersion)
        try c.encode(DecimalUInt64(schemaHash), forKey: .schemaHash)
        try c.encode(workload, forKey: .workload)
        try c.encode(modelKind, forKey: .modelKind)
        try c.encode(shardIDs, forKey: .shardIDs)
        try c.encodeIfPresent(shardBytes, forKey: .shardBytes)
        try c.encode(steps, forKey: .steps)
        try c.encode(batch, forKey: .batch)
        try c.encodeIfPresent(block, forKey: .block)
        try c.encode(inner, forKey: .inner)
        try c.encodeIfPresent(progress, forKey: .progress)
        try c.encodeIfPresent(progressPerStep, forKey: .progressPerStep)
        try c.encode(codec, forKey: .codec)
        try c.encode(codecLevel, forKey: .codecLevel)
        try c.encode(DecimalUInt64(seed), forKey: .seed)
        try c.encode(deadline, forKey: .deadline)
        try c.encode(samples, forKey: .samples)
        try c.encodeIfPresent(verification, forKey: .verification)
    }
}

/// What a lease asks of the peer's trajectory commitment (Docs/Protocol.md "Verified work").
public struct LeaseVerification: Codable, Sendable, Equatable {
    /// The peer hashes its model and inner-optimizer state before step 0 and after every `segmentSteps` steps.
    public var segmentSteps: Int
    /// SHA-256 hex of the inner optimizer state this peer may continue from (the end state its last stored update
    /// committed to); nil: the lease starts from a fresh optimizer. A peer holding any other state starts fresh.
    public var innerState: String?

    public init(segmentSteps: Int, innerState: String? = nil) {
        self.segmentSteps = segmentSteps
        self.innerState = innerState
    }
}
