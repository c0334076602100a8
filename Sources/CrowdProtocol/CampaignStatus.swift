/// `GET /v1/status` (public): the campaign's progress, like a crowdfunding page.
public struct CampaignStatus: Codable, Sendable, Equatable {
    public var name: String
    public var workload: String
    /// Current (open) round; rounds completed = `round - 1` once round 1 started.
    public var round: UInt64
    /// Rounds aggregated so far.
    public var roundsCompleted: UInt64
    /// Round limit from the campaign config, nil if unlimited.
    public var maxRounds: UInt64?
    /// True when no more work is handed out (goal or round limit reached).
    public var finished: Bool
    /// SHA-256 hex of the current global checkpoint.
    public var modelVersion: String
    /// Samples (images or tokens) to train in total.
    public var goalSamples: Int
    /// Samples credited so far (accepted updates only).
    public var samplesTrained: Int
    /// `100 × samplesTrained / goalSamples`.
    public var percentFunded: Double
    /// Peers that made an authenticated call in the last 2 minutes.
    public var peersOnline: Int
    /// Peers that ever joined.
    public var peersTotal: Int
    /// Crowd throughput over the recent window (samples/s).
    public var samplesPerSecond: Double
    public var latestEvaluation: EvaluationPoint?
    /// The newest evaluations (at most 20), oldest first; the whole history is `GET /v1/evaluations`.
    public var evaluations: [EvaluationPoint]
    /// Evaluations recorded in all (nil from coordinators before the bounded status).
    public var evaluationsTotal: Int?
    public var updatesAccepted: Int
    public var updatesRejected: Int
    /// Update bytes received (accepted and rejected bodies).
    public var bytesIn: Int
    /// Model and shard bytes served.
    public var bytesOut: Int
    /// Seconds to reach `goalSamples` at the recent throughput; nil when unknown.
    public var etaSeconds: Double?

    public init(
        name: String, workload: String, round: UInt64, roundsCompleted: UInt64, maxRounds: UInt64?, finished: Bool,
        modelVersion: String, goalSamples: Int, samplesTrained: Int, percentFunded: Double, peersOnline: Int,
        peersTotal: Int, samplesPerSecond: Double, latestEvaluation: EvaluationPoint?, evaluations: [EvaluationPoint],
        updatesAccepted: Int, updatesRejected: Int, bytesIn: Int, bytesOut: Int, etaSeconds: Double?,
        evaluationsTotal: Int? = nil
    ) {
        self.name = name
        self.workload = workload
        self.round = round
        self.roundsCompleted = roundsCompleted
        self.maxRounds = maxRounds
        self.finished = finished
        self.modelVersion = modelVersion
        self.goalSamples = goalSamples
        self.samplesTrained = samplesTrained
        self.percentFunded = percentFunded
        self.peersOnline = peersOnline
        self.peersTotal = peersTotal
        self.samplesPerSecond = samplesPerSecond
        self.latestEvaluation = latestEvaluation
        self.evaluations = evaluations
        self.updatesAccepted = updatesAccepted
        self.updatesRejected = updatesRejected
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.etaSeconds = etaSeconds
        self.evaluationsTotal = evaluationsTotal
    }
}
