/// Settings of `crowdtrain peer run` (flags; defaults suit a volunteer's desktop).
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `threads` | int | 1 | compute threads for training (OpenBLAS) |
/// | `backoffBase` | seconds | 1 | first retry delay ceiling after a network error |
/// | `backoffCap` | seconds | 60 | largest retry delay ceiling |
/// | `exitWhenFinished` | bool | false | stop when the coordinator says the campaign is finished |
/// | `maxLeases` | int? | nil | stop after this many finished leases (tests, benchmarks) |
/// | `seed` | uint64? | nil | seed of the backoff jitter (nil: from the system) |
/// | `maxWait` | seconds | 300 | upper bound on the coordinator's `retryAfter` when it has no work (local demos use less) |
/// | `longPollSeconds` | seconds | 20 | how long the coordinator may hold a lease request while no work is free (it answers the moment a round opens); 0 polls |
/// | `limits` | `PeerLimits` | no caps, nice 10 | CPU cap, niceness, bandwidth caps, memory budget |
/// | `cacheBytes` | bytes | 2 GB | bound of the model and shard cache `P/cache` (`ArtifactCache`; least recently used files go first) |
public struct PeerRunConfig: Sendable {
    public var threads: Int
    public var backoffBase: Double
    public var backoffCap: Double
    public var exitWhenFinished: Bool
    public var maxLeases: Int?
    public var seed: UInt64?
    public var maxWait: Double
    public var longPollSeconds: Double
    public var limits: PeerLimits
    public var cacheBytes: Int

    public init(
        threads: Int = 1, backoffBase: Double = 1, backoffCap: Double = 60, exitWhenFinished: Bool = false,
        maxLeases: Int? = nil, seed: UInt64? = nil, maxWait: Double = 300, longPollSeconds: Double = 20,
        limits: PeerLimits = PeerLimits(), cacheBytes: Int = PeerSettings.defaultCacheBytes
    ) {
        self.cacheBytes = cacheBytes
        self.maxWait = maxWait
        self.longPollSeconds = min(max(longPollSeconds, 0), 25)
        self.limits = limits
        self.threads = threads; self.backoffBase = backoffBase; self.backoffCap = backoffCap
        self.exitWhenFinished = exitWhenFinished; self.maxLeases = maxLeases; self.seed = seed
    }
}
