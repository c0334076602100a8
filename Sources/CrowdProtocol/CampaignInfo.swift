/// Identity of a campaign, returned on join.
public struct CampaignInfo: Codable, Sendable, Equatable {
    /// Campaign name (`campaign.json` key `name`).
    public var name: String
    /// Workload, `fmnist-mlp` or `kjv-gpt`.
    public var workload: String
    /// Model family, `mlp` or `gpt`.
    public var modelKind: String

    public init(name: String, workload: String, modelKind: String) {
        self.name = name
        self.workload = workload
        self.modelKind = modelKind
    }
}
