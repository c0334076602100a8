import CrowdData
import CrowdTraining

extension EvaluationSet {
    /// The set of a campaign: its `evalSamples` and `block`.
    public static func make(_ payload: ShardPayload, config: CampaignConfig) -> EvaluationSet {
        make(payload, samples: config.evalSamples, block: config.block)
    }

    /// Reads and verifies the campaign's evaluation shard.
    public static func load(paths: CampaignPaths, manifest: ShardManifest, config: CampaignConfig) throws
        -> EvaluationSet
    {
        try load(shards: paths.shards, manifest: manifest, samples: config.evalSamples, block: config.block)
    }
}
