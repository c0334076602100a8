/// `POST /v1/lease` body. `threads` and `samplesPerSecond` are hints only: the coordinator never trusts them for
/// credit or aggregation weights.
public struct LeaseRequest: Codable, Sendable, Equatable {
    /// Longest long-poll a coordinator holds a lease request (seconds).
    public static let maxWaitSeconds = 25.0

    /// Compute threads the peer will use.
    public var threads: Int
    /// The peer's measured training throughput (samples/s), if known.
    public var samplesPerSecond: Double?
    /// Long-poll: when no work is free, the coordinator holds the request up to this many seconds (at most
    /// `maxWaitSeconds`) and answers as soon as a lease is free or the round opens. Nil or 0: answer at once.
    public var waitSeconds: Double?

    public init(threads: Int, samplesPerSecond: Double? = nil, waitSeconds: Double? = nil) {
        self.threads = threads
        self.samplesPerSecond = samplesPerSecond
        self.waitSeconds = waitSeconds
    }
}
