import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// The coordinator's probe batch: a few hundred training examples it keeps to ask, of every update, "does it
/// lower the loss?" (the `defence.probe` check) and, of every aggregate, "did the loss explode?".
///
/// Built from the first training shard (images: its first `probeSamples` images; text: `probeSamples`
/// sequences of `block` tokens), never from the evaluation shard, so the reported metric stays held out.
/// Owns one model instance; not thread-safe (the coordinator actor uses it).
final class ProbeSet {
    let set: EvaluationSet
    let model: any TrainableModel

    init(set: EvaluationSet, model: any TrainableModel) {
        self.set = set
        self.model = model
    }

    /// Loads the probe from the campaign's first training shard.
    static func load(
        paths: CampaignPaths, manifest: ShardManifest, config: CampaignConfig, checkpoint: Checkpoint
    ) throws -> ProbeSet {
        guard let first = manifest.shards.first else { throw CoordinatorError("the campaign has no training shards") }
        let payload = try ShardFile.read(
            path: (paths.shards as NSString).appendingPathComponent(first.file), expectedID: first.id)
        var probeConfig = config
        probeConfig.evalSamples = config.probeSamples
        let model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: 0)
        return ProbeSet(set: EvaluationSet.make(payload, config: probeConfig), model: model)
    }

    /// Mean loss of the model with parameters `params` on the probe batch (NaN/∞ when they are unusable).
    func loss(_ params: [Float]) -> Double {
        precondition(params.count == model.params.count, "probe: parameter count mismatch")
        params.withUnsafeBufferPointer { model.params.base.update(from: $0.baseAddress!, count: $0.count) }
        return set.evaluate(model).loss
    }
}
