import CrowdProtocol
import Foundation

/// Invites: only SHA-256 hashes are stored; redeeming is single-use and atomic with creating the peer.
public protocol InviteRepository: Sendable {
    func insertInvites(hashes: [String], note: String?, at time: Double) throws
    /// Marks an unused invite revoked; false if unknown or already used/revoked.
    func revokeInvite(hash: String, at time: Double) throws -> Bool
    /// Revokes every unused invite; returns how many.
    func revokeUnusedInvites(at time: Double) throws -> Int
    /// In one transaction: checks the invite, checks that no peer has a name with `name.key`, marks the invite used
    /// and creates the peer with `credentialHash`. Any refusal leaves the invite unused.
    func redeemInvite(hash: String, peerID: String, name: DisplayName, credentialHash: String, at time: Double)
        throws -> InviteRedemption
}

/// Registered peers, looked up by credential hash.
public protocol PeerRepository: Sendable {
    func peer(credentialHash: String) throws -> PeerRecord?
    func peer(id: String) throws -> PeerRecord?
    /// `last_seen` of many peers in one transaction.
    func touchPeers(_ seen: [String: Double]) throws
    /// Revokes a peer's credential and expires its open leases, in one transaction; false if unknown or already revoked.
    func revokePeer(id: String, at time: Double) throws -> Bool
}

/// Rounds, leases, accepted updates (with their ledger entries), rejections, checkpoints, evaluations.
public protocol RoundRepository: Sendable {
    func currentRound() throws -> RoundRecord?
    func round(_ number: UInt64) throws -> RoundRecord?
    /// A recorded checkpoint whose file was not removed by retention.
    func checkpoint(version: String) throws -> CheckpointRecord?
    /// Recorded checkpoints whose files were not removed, newest round first.
    func checkpoints() throws -> [CheckpointRecord]
    /// The oldest round whose base checkpoint must stay (a pending verification or evaluation needs it).
    func oldestRoundStillNeeded() throws -> UInt64?
    /// Marks checkpoint files as removed by retention.
    func markCheckpointsRemoved(_ versions: [String], at time: Double) throws
    /// Records the initial model (round 0, closed, evaluated) and opens round 1, in one transaction.
    func bootstrap(initial: CheckpointRecord, evaluation: EvaluationRecord, round1Seed: UInt64, at time: Double) throws
    func insertLease(_ lease: LeaseRecord) throws
    func lease(id: String) throws -> LeaseRecord?
    /// Whether one of the peer's open leases names the training shard `shardID` (the only shards a peer may fetch).
    func holdsLeasedShard(peerID: String, shardID: String) throws -> Bool
    func leases(round: UInt64) throws -> [LeaseRecord]
    /// Every lease of `round` plus the open leases of rounds `openSince…round` (what a restart needs).
    func leasesForRestore(round: UInt64, openSince: UInt64) throws -> [LeaseRecord]
    func markLeasesExpired(ids: [String]) throws
    func acceptedUpdate(leaseID: String) throws -> AcceptedUpdateRecord?
    /// In ONE transaction: inserts the update (folding it into its round; `pending`, so no ledger entry unless its
    /// status is already `credited`), marks the lease accepted and bumps the round's counters. Throws if the lease
    /// already has an accepted update.
    func accept(_ update: AcceptedUpdateRecord, bytesIn: Int) throws
    /// The lease of a stored update with these values (SHA-256 of the decoded floats), if any.
    func hasUpdate(valuesSHA256: String) throws -> String?
    /// Norms and sketches of the last `limit` credited updates, oldest first.
    func recentCredited(limit: Int) throws -> [(norm: Double, sketch: Data?)]
    /// Sketch of the last broadcast model change (θ_before − θ_after of the last closed round).
    func broadcastSketch() throws -> Data?
    /// Every update folded into `round` (its aggregation input), in acceptance order.
    func foldedUpdates(round: UInt64) throws -> [FoldedUpdate]
    /// How many updates are folded into `round`.
    func foldedCount(round: UInt64) throws -> Int
    /// Σ samples / Σ (accepted − issued) over the peer's last `last` accepted leases; nil without history.
    func recentThroughput(peerID: String, last: Int) throws -> Double?
    /// Records a rejected upload (counter only; no credit).
    func recordRejection(peerID: String?, leaseID: String?, code: String, bytes: Int, at time: Double) throws
    /// In ONE transaction: records the new checkpoint, writes each folded update's decision (status, reason, norm,
    /// clip) and appends the ledger entries of the credited ones, closes `round`, expires the open leases
    /// of rounds before `expireOpenLeasesBefore`, saves the outer optimizer state and broadcast sketch, and opens round
    /// `round + 1` from the new checkpoint unless `openNext` is false. The round's evaluation is recorded later.
    func closeRound(
        _ round: UInt64, checkpoint: CheckpointRecord, outerState: Data,
        nextSeed: UInt64, openNext: Bool, expireOpenLeasesBefore: UInt64, decisions: [UpdateDecision],
        broadcastSketch: Data?, at time: Double) throws
    /// Records (or replaces) the evaluation of a closed round's result.
    func insertEvaluation(_ evaluation: EvaluationRecord, at time: Double) throws
    /// The checkpoints of the newest `limit` closed rounds that have a result but no evaluation, newest first.
    func roundsAwaitingEvaluation(limit: Int) throws -> [CheckpointRecord]
    /// The outer optimizer's momentum after the last closed round, if any.
    func outerState() throws -> (round: UInt64, momentum: Data)?
}

/// Read models for status, stats and the ledger.
public protocol StatsRepository: Sendable {
    func totals(now: Double, onlineWindow: Double, rateWindow: Double) throws -> CampaignTotals
    func evaluations() throws -> [EvaluationRecord]
    /// Up to `limit` evaluations of rounds after `after` (all rounds when nil), oldest first.
    func evaluationPage(after: UInt64?, limit: Int) throws -> [EvaluationRecord]
    /// The newest `limit` evaluations, oldest first.
    func latestEvaluations(limit: Int) throws -> [EvaluationRecord]
    func evaluationCount() throws -> Int
    /// Last-seen time of every unrevoked peer seen at or after `since`.
    func peersSeen(since: Double) throws -> [String: Double]
    /// (accepted_at, samples) of every update stored at or after `since`, oldest first.
    func acceptedSamples(since: Double) throws -> [(time: Double, samples: Int)]
    func contributors(top: Int) throws -> [ContributorRow]
    func addBytesOut(_ n: Int) throws
    /// Sum of ledger credit per peer (GFLOP).
    func ledgerTotals() throws -> [String: Double]
}

/// Everything the coordinator persists.
public typealias CoordinatorRepository = InviteRepository & PeerRepository & RoundRepository & StatsRepository
    & MetricsRepository & VerificationRepository
