/// `POST /v1/lease` body. `threads` and `samplesPerSecond` are hints only: the coordinator never trusts them for
/// credit or aggregation weights.
public struct LeaseRequest: Codable, Sendable, Equatable {
    /// Longest long-poll a coordinator holds a lease request (seconds).
    public static let maxWaitSeconds = 25.0
    /// Most entries of `heldShards` (a longer list is refused with `bad_request`); 512 ids are 34 kB of JSON, within
    /// the 64 KiB body limit.
    public static let maxHeldShards = 512

    /// Compute threads the peer will use.
    public var threads: Int
    /// The peer's measured training throughput (samples/s), if known.
    public var samplesPerSecond: Double?
    /// Long-poll: when no work is free, the coordinator holds the request up to this many seconds (at most
    /// `maxWaitSeconds`) and answers as soon as a lease is free or the round opens. Nil or 0: answer at once.
    public var waitSeconds: Double?
    /// Shards the peer has in its cache (SHA-256 hex ids, most recently used first, at most `maxHeldShards`): when
    /// several slots of the round are free, the coordinator hands out the one whose shards it holds most of, so the
    /// peer downloads less. A preference only: which slots a round hands out does not change.
    public var heldShards: [String]?

    public init(
        threads: Int, samplesPerSecond: Double? = nil, waitSeconds: Double? = nil, heldShards: [String]? = nil
    ) {
        self.threads = threads
        self.samplesPerSecond = samplesPerSecond
        self.waitSeconds = waitSeconds
        self.heldShards = heldShards
    }
}
