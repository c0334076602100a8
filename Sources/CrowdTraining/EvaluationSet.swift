import CrowdData
import CrowdEngine
import Foundation

/// The held-out batches evaluated after every round, built once from the evaluation shard.
///
/// Images: the first `samples` images in batches of 500 → `test_accuracy`. Text: up to `samples` non-overlapping
/// sequences of `block` tokens in batches of 16 → `val_loss`. The coordinator builds it from its campaign's
/// `evalSamples` and `block`; `crowdtrain eval --campaign` from the same keys of `campaign.json`.
public struct EvaluationSet: Sendable {
    public let batches: [Batch]
    /// `test_accuracy` or `val_loss`.
    public let metric: String

    public init(batches: [Batch], metric: String) {
        self.batches = batches
        self.metric = metric
    }

    /// Builds the set from a shard payload.
    public static func make(_ payload: ShardPayload, samples: Int, block: Int?) -> EvaluationSet {
        switch payload {
        case .images(let d):
            let n = min(samples, d.count)
            let batches = stride(from: 0, to: n, by: 500).map { Batch.images(d.batch($0..<min($0 + 500, n))) }
            return EvaluationSet(batches: batches, metric: "test_accuracy")
        case .text(let c):
            let block = block ?? 64
            let available = max(0, (c.count - 1) / block - 1)
            let n = min(samples, available)
            let offsets = (0..<n).map { $0 * block }
            let batches = stride(from: 0, to: n, by: 16).map {
                Batch.tokens(c.batch(offsets: Array(offsets[$0..<min($0 + 16, n)]), block: block))
            }
            return EvaluationSet(batches: batches, metric: "val_loss")
        }
    }

    /// Reads and verifies the evaluation shard of the shard directory `shards`.
    public static func load(shards: String, manifest: ShardManifest, samples: Int, block: Int?) throws -> EvaluationSet {
        let path = (shards as NSString).appendingPathComponent(manifest.evaluation.file)
        let payload = try ShardFile.read(path: path, expectedID: manifest.evaluation.id)
        return make(payload, samples: samples, block: block)
    }

    /// Evaluates `model`: the metric value (accuracy or mean loss), the mean loss and the sample count.
    public func evaluate(_ model: any TrainableModel) -> (value: Double, loss: Double, samples: Int) {
        let sums = Evaluator.evaluate(model: model, batches: batches)
        let value = metric == "test_accuracy" ? sums.accuracy : sums.meanLoss
        return (value, sums.meanLoss, sums.count)
    }
}
