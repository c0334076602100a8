import CrowdData
import CrowdEngine
import Foundation

/// The held-out metric of a checkpoint (`crowdtrain eval`), computed exactly as `crowdtrain train` does:
///
/// - MLP: `test_accuracy` (and mean loss) over the whole test split in batches of 1000.
/// - GPT: `val_loss` (nats/byte) on `count` fixed seeded batches of windows of the validation text,
///   the same batches `train --workload kjv-gpt` evaluates (seed = training seed + 1).
public struct CheckpointEvaluation: Sendable, Equatable, Codable {
    /// `test_accuracy` or `val_loss`.
    public var metric: String
    /// The metric: accuracy in [0, 1] or mean loss in nats per sample/byte.
    public var value: Double
    /// Mean cross-entropy loss (nats).
    public var loss: Double
    /// Images or tokens evaluated.
    public var samples: Int
    /// Model kind (`mlp`, `gpt`).
    public var kind: String
    /// Parameter count.
    public var params: Int

    public init(metric: String, value: Double, loss: Double, samples: Int, kind: String, params: Int) {
        self.metric = metric; self.value = value; self.loss = loss
        self.samples = samples; self.kind = kind; self.params = params
    }

    /// Rebuilds the model stored in `checkpoint` and loads its parameters.
    /// - Throws: `ConfigurationError` when the kind/configuration is unknown or the parameters do not fit.
    public static func model(from checkpoint: Checkpoint) throws -> any TrainableModel {
        let model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: 0)
        do { try checkpoint.load(into: model) } catch let e as CheckpointError {
            throw ConfigurationError("the checkpoint does not fit its own configuration: \(e.reason)")
        }
        return model
    }

    /// Test accuracy and loss of an image classifier on `test` (batches of 1000, in order).
    public static func images(model: any TrainableModel, test: ImageDataset) -> CheckpointEvaluation {
        let sums = Evaluator.evaluate(model: model, batches: BatchSampler.imageEvaluationBatches(test, batch: 1000))
        return CheckpointEvaluation(
            metric: "test_accuracy", value: sums.accuracy, loss: sums.meanLoss, samples: sums.count,
            kind: type(of: model).kind, params: model.layout.count)
    }

    /// Validation loss of a language model on `count` seeded batches of `batch` windows of `block` bytes.
    public static func text(
        model: any TrainableModel, validation: TextCorpus, block: Int, count: Int, batch: Int, seed: UInt64
    ) -> CheckpointEvaluation {
        let batches = BatchSampler.textEvaluationBatches(
            validation, count: count, batch: batch, block: block, seed: seed)
        let sums = Evaluator.evaluate(model: model, batches: batches)
        return CheckpointEvaluation(
            metric: "val_loss", value: sums.meanLoss, loss: sums.meanLoss, samples: sums.count,
            kind: type(of: model).kind, params: model.layout.count)
    }
}
