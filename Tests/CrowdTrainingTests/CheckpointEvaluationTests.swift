import CrowdData
import CrowdEngine
import Foundation
import Testing
@testable import CrowdTraining

/// `crowdtrain eval`'s logic: a checkpoint written to disk evaluates exactly as the model that wrote it.
struct CheckpointEvaluationTests {
    func temporaryPath() -> String { NSTemporaryDirectory() + "crowdtrain-eval-\(UUID().uuidString).ckpt" }

    @Test func trainedMLPCheckpointEvaluatesLikeTheModel() throws {
        let d = LocalTrainerTests.dataset()
        let model = MLP(config: MLPConfig(inputs: 16, hidden: [8], classes: 4), seed: 3)
        _ = LocalTrainer.run(
            model: model, optimizer: SGD(count: model.layout.count, momentum: 0.9), steps: 20, lr: { _ in 0.1 },
            gradClip: 1, nextBatch: BatchSampler.images(d, batch: 16, seed: 4))
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint(model: model, metadata: ["seed": "3"]).write(to: path)

        let restored = try CheckpointEvaluation.model(from: try Checkpoint.read(from: path))
        let result = CheckpointEvaluation.images(model: restored, test: d)
        let direct = Evaluator.evaluate(model: model, batches: BatchSampler.imageEvaluationBatches(d, batch: 1000))
        #expect(result.metric == "test_accuracy")
        #expect(result.value == direct.accuracy && result.loss == direct.meanLoss && result.samples == 64)
        #expect(result.kind == "mlp" && result.params == model.layout.count)
        // Trained, so better than chance (4 classes): the checkpoint really carries the trained weights.
        #expect(result.value > 0.5, "accuracy \(result.value)")
    }

    @Test func gptCheckpointValidationLossMatchesTheTrainingBatches() throws {
        let bytes: [UInt8] = (0..<400).map { (i: Int) -> UInt8 in UInt8(97 + (i * 7 + i / 13) % 16) }
        let corpus = TextCorpus(bytes: bytes)
        let validation = corpus.split(trainFraction: 0.9).validation
        let config = GPTConfig(layers: 1, heads: 2, width: 8, block: 6, vocab: 128)
        let model = GPT(config: config, seed: 5)
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Checkpoint(model: model).write(to: path)

        let restored = try CheckpointEvaluation.model(from: try Checkpoint.read(from: path))
        let result = CheckpointEvaluation.text(
            model: restored, validation: validation, block: 6, count: 3, batch: 4, seed: 1338)
        let batches = BatchSampler.textEvaluationBatches(validation, count: 3, batch: 4, block: 6, seed: 1338)
        let direct = Evaluator.evaluate(model: model, batches: batches)
        #expect(result.metric == "val_loss" && result.kind == "gpt")
        #expect(result.value == direct.meanLoss && result.samples == 3 * 4 * 6)
    }

    @Test func corruptCheckpointIsRefusedWithAReason() throws {
        let model = MLP(config: MLPConfig(inputs: 16, hidden: [4], classes: 4), seed: 1)
        var bytes = try Checkpoint(model: model).encoded()
        bytes[bytes.count - 20] ^= 0x01
        #expect { try Checkpoint.decode(bytes, path: "x.ckpt") } throws: { error in
            "\(error)".contains("checksum mismatch")
        }
        #expect { try Checkpoint.decode(Data("hello world, not a checkpoint".utf8)) } throws: { error in
            "\(error)".contains("bad magic")
        }
        // A checkpoint whose parameters do not fit its own configuration.
        var wrong = try Checkpoint(model: model)
        wrong.params.removeLast()
        #expect(throws: ConfigurationError.self) { _ = try CheckpointEvaluation.model(from: wrong) }
    }
}
