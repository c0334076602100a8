import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// The held-out batches evaluated after every round, built once from the evaluation shard.
///
/// Images: the first `evalSamples` images in batches of 500 → `test_accuracy`. Text: up to
/// `evalSamples` non-overlapping sequences of `block` tokens in batches of 16 → `val_loss`.
public struct EvaluationSet: Sendable {
    public let batches: [Batch]
    /// `test_accuracy` or `val_loss`.
    public let metric: String

    public init(batches: [Batch], metric: String) {
        self.batches = batches
        self.metric = metric
    }

    /// Builds the set from a shard payload.
    public static func make(_ payload: ShardPayload, config: CampaignConfig) -> EvaluationSet {
        switch payload {
        case .images(let d):
            let n = min(config.evalSamples, d.count)
            let batches = stride(from: 0, to: n, by: 500).map { Batch.images(d.batch($0..<min($0 + 500, n))) }
            return EvaluationSet(batches: batches, metric: "test_accuracy")
        case .text(let c):
            let block = config.block ?? 64
            let available = max(0, (c.count - 1) / block - 1)
            let n = min(config.evalSamples, available)
            let offsets = (0..<n).map { $0 * block }
            let batches = stride(from: 0, to: n, by: 16).map {
                Batch.tokens(c.batch(offsets: Array(offsets[$0..<min($0 + 16, n)]), block: block))
            }
            return EvaluationSet(batches: batches, metric: "val_loss")
        }
    }

    /// Reads and verifies the campaign's evaluation shard.
    public static func load(paths: CampaignPaths, manifest: ShardManifest, config: CampaignConfig) throws
        -> EvaluationSet
    {
        let path = (paths.shards as NSString).appendingPathComponent(manifest.evaluation.file)
        let payload = try ShardFile.read(path: path, expectedID: manifest.evaluation.id)
        return make(payload, config: config)
    }

    /// Evaluates `model`: the metric value (accuracy or mean loss), the mean loss and the sample count.
    public func evaluate(_ model: any TrainableModel) -> (value: Double, loss: Double, samples: Int) {
        let sums = Evaluator.evaluate(model: model, batches: batches)
        let value = metric == "test_accuracy" ? sums.accuracy : sums.meanLoss
        return (value, sums.meanLoss, sums.count)
    }
}
