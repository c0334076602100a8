/// `POST /v1/lease` body. Both fields are hints only: the coordinator never trusts them for
/// credit or aggregation weights.
public struct LeaseRequest: Codable, Sendable, Equatable {
    /// Compute threads the peer will use.
    public var threads: Int
    /// The peer's measured training throughput (samples/s), if known.
    public var samplesPerSecond: Double?

    public init(threads: Int, samplesPerSecond: Double? = nil) {
        self.threads = threads
        self.samplesPerSecond = samplesPerSecond
    }
}
