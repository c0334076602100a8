/// `POST /v1/lease` response (always this type, status 200).
///
/// Either `lease` is set, or it is nil and `retryAfter` says how long to wait before asking
/// again, with a `reason` (a `LeaseWaitReason` raw value).
public struct LeaseResponse: Codable, Sendable, Equatable {
    /// The work to do, or nil when there is none right now.
    public var lease: Lease?
    /// Seconds to wait before the next lease request when `lease` is nil.
    public var retryAfter: Double?
    /// Why there is no lease (`LeaseWaitReason` raw value), when `lease` is nil.
    public var reason: String?

    public init(lease: Lease) {
        self.lease = lease
        self.retryAfter = nil
        self.reason = nil
    }

    public init(retryAfter: Double, reason: LeaseWaitReason) {
        self.lease = nil
        self.retryAfter = retryAfter
        self.reason = reason.rawValue
    }
}

/// Why `POST /v1/lease` returned no work.
public enum LeaseWaitReason: String, Codable, Sendable, CaseIterable {
    /// Every lease of the current round is handed out; the next round starts after aggregation.
    case roundFull = "round_full"
    /// The peer already holds an open lease in the current round.
    case alreadyLeased = "already_leased"
    /// The coordinator is aggregating or evaluating.
    case aggregating
    /// The campaign reached its goal or its round limit; no more work will come.
    case campaignFinished = "campaign_finished"
}
