/// One contributor in `GET /v1/stats`.
public struct ContributorRow: Codable, Sendable, Equatable {
    public var name: String
    public var peerID: String
    public var acceptedUpdates: Int
    public var rejectedUpdates: Int
    /// Samples credited (images or tokens).
    public var samples: Int
    /// Credit in GFLOP (sum of the peer's ledger entries).
    public var credit: Double
    /// Last authenticated call, Unix seconds; nil if never seen after joining.
    public var lastSeen: Double?

    public init(
        name: String, peerID: String, acceptedUpdates: Int, rejectedUpdates: Int, samples: Int, credit: Double,
        lastSeen: Double?
    ) {
        self.name = name
        self.peerID = peerID
        self.acceptedUpdates = acceptedUpdates
        self.rejectedUpdates = rejectedUpdates
        self.samples = samples
        self.credit = credit
        self.lastSeen = lastSeen
    }
}
