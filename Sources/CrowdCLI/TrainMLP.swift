import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// `crowdtrain train --workload fmnist-mlp`: epochs of seeded shuffles, a test evaluation after each
/// epoch, an optional checkpoint and an optional final JSON line.
struct MLPTrainingRun {
    let common: TrainCommonOptions
    let options: MLPOptions

    init(common: TrainCommonOptions, options: MLPOptions) {
        self.common = common
        self.options = options
    }

    /// The final `--json` line.
    struct Summary: Encodable {
        var workload = WorkloadName.fmnistMLP.rawValue
        var testAccuracy: Double
        var testLoss: Double
        var trainLoss: Float
        var epochs: Int
        var samplesPerS: Double
        var seconds: Double
        var accuracyPerEpoch: [Double]
        var hidden: [Int]
        var params: Int
        var optimizer: String
        var lr: Float
        var batch: Int
        var threads: Int
        var seed: UInt64
        var checkpoint: String?
    }

    func run() throws {
        ComputeThreads.set(common.threads)
        let epochs = options.epochs ?? 5
        let batch = common.batch ?? 64
        let seed = common.seed ?? 0
        let lr = common.lr ?? options.defaultLR
        let (train, test) = try FashionMNIST.load(directory: options.data)
        guard batch <= train.count else {
            throw ConfigurationError("--batch \(batch) is larger than the training set (\(train.count) images)")
        }
        let config = MLPConfig(inputs: train.features, hidden: options.hidden.values, classes: FashionMNIST.classes)
        let model = MLP(config: config, seed: seed)
        let optimizerConfig = options.optimizerConfig(lr: lr)
        let optimizer = try optimizerConfig.make(for: model.layout)
        let nextBatch = BatchSampler.images(train, batch: batch, seed: seed &+ 1)
        let testBatches = BatchSampler.imageEvaluationBatches(test, batch: 1000)
        let stepsPerEpoch = train.count / batch

        let log: (String) -> Void = common.json
            ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            : { print($0) }
        let widths = config.widths.map(String.init).joined(separator: "-")
        log("fmnist-mlp \(widths), \(model.layout.count) parameters, \(optimizerConfig.kind) lr \(lr), batch \(batch), "
            + "\(common.threads) thread\(common.threads == 1 ? "" : "s"), seed \(seed)")

        var accuracies: [Double] = []
        var trainSeconds = 0.0, trainSamples = 0
        var lastRun = LocalRun(meanLoss: .nan, steps: 0, samples: 0, seconds: 0)
        var eval = EvalSums()
        for epoch in 1...epochs {
            lastRun = LocalTrainer.run(
                model: model, optimizer: optimizer, steps: stepsPerEpoch, lr: { _ in lr },
                gradClip: optimizerConfig.gradClip,
                nextBatch: nextBatch)
            trainSeconds += lastRun.seconds
            trainSamples += lastRun.samples
            eval = Evaluator.evaluate(model: model, batches: testBatches)
            accuracies.append(eval.accuracy)
            log(String(
                format: "epoch %d/%d  loss %.4f  test_acc %.4f  test_loss %.4f  %.0f samples/s",
                epoch, epochs, lastRun.meanLoss, eval.accuracy, eval.meanLoss, lastRun.samplesPerSecond))
            guard model.params.allFinite() else {
                throw ConfigurationError("training diverged (non-finite parameters) at epoch \(epoch); lower --lr")
            }
        }

        if let path = common.save {
            let meta = [
                "workload": WorkloadName.fmnistMLP.rawValue, "epochs": String(epochs),
                "test_accuracy": String(format: "%.4f", eval.accuracy), "seed": String(seed),
            ]
            try Checkpoint(model: model, metadata: meta).write(to: path)
            log("saved checkpoint \(path) (schema \(model.layout.schemaHashHex))")
        }

        let samplesPerSecond = trainSeconds > 0 ? Double(trainSamples) / trainSeconds : 0
        if common.json {
            let summary = Summary(
                testAccuracy: eval.accuracy, testLoss: eval.meanLoss, trainLoss: lastRun.meanLoss, epochs: epochs,
                samplesPerS: samplesPerSecond, seconds: trainSeconds, accuracyPerEpoch: accuracies,
                hidden: config.hidden, params: model.layout.count, optimizer: optimizerConfig.kind, lr: lr,
                batch: batch, threads: common.threads, seed: seed, checkpoint: common.save)
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(summary), as: UTF8.self))
        } else {
            print(String(
                format: "done: test accuracy %.4f after %d epochs, %.0f samples/s over %.1f s of training",
                eval.accuracy, epochs, samplesPerSecond, trainSeconds))
        }
    }
}
