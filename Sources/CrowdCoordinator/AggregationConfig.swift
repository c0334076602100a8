import CrowdAggregation
import Foundation

/// How rounds close, `campaign.json` key `aggregation`.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `mode` | `sync` \| `async` | `sync` | `sync`: a round's leases all train from one model and the round closes at its quorum. `async`: buffered asynchronous aggregation (FedBuff) — leases survive round closes and an outer step is applied every `bufferSize` accepted updates |
/// | `bufferSize` | int? | `peersPerRound` | async only: accepted updates per outer step (K) |
/// | `maxStaleness` | int | 4 | async only: an update computed from a model more than this many versions old is rejected (`stale_update`) |
///
/// In async mode an update whose lease was issued at model version (round) r and that is folded into round
/// r + s weighs `samples / √(1 + s)` in the buffer's weighted mean (see `OuterOptimizerStrategy`).
public struct AggregationConfig: Codable, Sendable, Equatable {
    /// `sync` or `async`.
    public enum Mode: String, Codable, Sendable, CaseIterable {
        case sync
        case async
    }

    public var mode: Mode
    /// Updates per outer step in async mode; nil = `peersPerRound`.
    public var bufferSize: Int?
    /// Largest accepted staleness s (rounds between lease and fold) in async mode.
    public var maxStaleness: Int

    public init(mode: Mode = .sync, bufferSize: Int? = nil, maxStaleness: Int = 4) {
        self.mode = mode
        self.bufferSize = bufferSize
        self.maxStaleness = maxStaleness
    }

    /// Synchronous rounds (the default).
    public static let sync = AggregationConfig()

    enum CodingKeys: String, CodingKey { case mode, bufferSize, maxStaleness }

    /// Decodes with defaults for missing keys and a clear message for an unknown mode.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        if let raw = try c.decodeIfPresent(String.self, forKey: .mode) {
            guard let m = Mode(rawValue: raw) else {
                throw CoordinatorError("campaign.json: aggregation.mode '\(raw)' is not known; use sync or async")
            }
            mode = m
        }
        bufferSize = try c.decodeIfPresent(Int.self, forKey: .bufferSize)
        maxStaleness = try c.decodeIfPresent(Int.self, forKey: .maxStaleness) ?? maxStaleness
    }

    /// K: the effective buffer size for a campaign with `peersPerRound`.
    public func effectiveBufferSize(peersPerRound: Int) -> Int { bufferSize ?? peersPerRound }

    /// The weight multiplier 1/√(1 + s) of an update `staleness` versions old.
    public static func stalenessScale(_ staleness: Int) -> Double { WeightedUpdate.stalenessScale(staleness) }
}
