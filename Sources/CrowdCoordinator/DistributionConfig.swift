import Foundation

/// How the coordinator hands out its models (`distribution` in campaign.json; Docs/Protocol.md "Model
/// distribution").
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `keepVersions` | int | 16 | model versions kept on disk with their chunks and round deltas; older checkpoints are removed (never one a pending verification still needs). At least 2, in async mode `aggregation.maxStaleness + 2` |
/// | `gridStep` | bool | true | the outer step lies on an 8-bit grid per block of 64 parameters, so that a round delta (`grid8`) is about a quarter of the model; false: exact float steps, whose deltas (`xor`) are about three quarters |
public struct DistributionConfig: Codable, Sendable, Equatable {
    public var keepVersions: Int
    public var gridStep: Bool

    public init(keepVersions: Int = 16, gridStep: Bool = true) {
        self.keepVersions = keepVersions
        self.gridStep = gridStep
    }

    enum CodingKeys: String, CodingKey { case keepVersions, gridStep }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        keepVersions = try c.decodeIfPresent(Int.self, forKey: .keepVersions) ?? keepVersions
        gridStep = try c.decodeIfPresent(Bool.self, forKey: .gridStep) ?? gridStep
    }

    /// What is wrong with these settings for a campaign accepting updates `maxStaleness` rounds old (0 in sync
    /// mode), or nil.
    public func problem(maxStaleness: Int) -> String? {
        let least = max(2, maxStaleness + 2)
        guard (least...100_000).contains(keepVersions) else {
            return "distribution.keepVersions must be \(least)…100000 (a lease's base model must stay while its "
                + "update can still arrive: aggregation.maxStaleness + 2)"
        }
        return nil
    }
}
