/// What `coordinator export` writes: the model, its evaluation and the credits (`GET /v1/admin/export`).

/// The evaluation of the exported model as the coordinator recorded it (or computed by the export when the

/// coordinator had not evaluated it yet: same held-out set, same figures).

public struct ExportedEvaluation: Codable, Sendable, Equatable {
    public var campaign: String
    public var workload: String
    public var round: UInt64
    public var modelVersion: String
    public var metric: String
    public var value: Double
    public var loss: Double
    public var samples: Int

    public init(
        campaign: String, workload: String, round: UInt64, modelVersion: String, metric: String,
        value: Double, loss: Double, samples: Int
    ) {
        self.campaign = campaign
        self.workload = workload
        self.round = round
        self.modelVersion = modelVersion
        self.metric = metric
        self.value = value
        self.loss = loss
        self.samples = samples
    }
}

/// One contributor line of `credits.json`.

public struct ExportedContributor: Codable, Sendable, Equatable {
    public var rank: Int
    public var name: String
    public var peerID: String
    /// Ledger entries (accepted updates).
    public var acceptedUpdates: Int
    /// Refused uploads (never credited).
    public var rejectedUpdates: Int
    public var samples: Int
    /// GFLOP, the sum of the peer's ledger entries.
    public var credit: Double
    /// Percent of the total credit.
    public var share: Double

    public init(
        rank: Int, name: String, peerID: String, acceptedUpdates: Int, rejectedUpdates: Int,
        samples: Int, credit: Double, share: Double
    ) {
        self.rank = rank
        self.name = name
        self.peerID = peerID
        self.acceptedUpdates = acceptedUpdates
        self.rejectedUpdates = rejectedUpdates
        self.samples = samples
        self.credit = credit
        self.share = share
    }
}

/// `credits.json`.

public struct ExportedCredits: Codable, Sendable, Equatable {
    public var campaign: String
    public var workload: String
    public var modelVersion: String
    public var round: UInt64
    public var creditUnit: String
    public var totalCredit: Double
    public var totalSamples: Int
    public var acceptedUpdates: Int
    public var contributors: [ExportedContributor]

    public init(
        campaign: String, workload: String, modelVersion: String, round: UInt64, creditUnit: String,
        totalCredit: Double, totalSamples: Int, acceptedUpdates: Int,
        contributors: [ExportedContributor]
    ) {
        self.campaign = campaign
        self.workload = workload
        self.modelVersion = modelVersion
        self.round = round
        self.creditUnit = creditUnit
        self.totalCredit = totalCredit
        self.totalSamples = totalSamples
        self.acceptedUpdates = acceptedUpdates
        self.contributors = contributors
    }
}

/// `GET /v1/admin/export`: everything of the export but the model's bytes, which the client fetches from
/// `GET /v1/admin/checkpoints/{evaluation.modelVersion}` and checks against that SHA-256.
public struct ExportBundle: Codable, Sendable, Equatable {
    public var evaluation: ExportedEvaluation
    public var credits: ExportedCredits
    /// `CREDITS.md`, rendered by the coordinator.
    public var creditsMarkdown: String
    /// Size of the checkpoint in bytes.
    public var modelBytes: Int

    public init(
        evaluation: ExportedEvaluation, credits: ExportedCredits, creditsMarkdown: String,
        modelBytes: Int
    ) {
        self.evaluation = evaluation
        self.credits = credits
        self.creditsMarkdown = creditsMarkdown
        self.modelBytes = modelBytes
    }
}
