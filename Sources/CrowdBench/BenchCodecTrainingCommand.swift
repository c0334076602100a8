import CrowdCLI
import ArgumentParser
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// `crowdtrain bench codec-training`: does compressing every K-step update hurt accuracy?
///
/// One simulated peer trains the fmnist-mlp MLP (SGD lr 0.05, momentum 0.9, batch 64). Every `--k` steps its
/// update Δ = θ_local − θ_global is encoded with error feedback, decoded as a coordinator would, and applied
/// (θ_global += decode(Δ)); the peer continues from θ_global with its own optimizer state. The uncompressed
/// variant applies Δ exactly (plain training). All variants use the same seeds and batches; test accuracy
/// after `--steps` steps is reported per variant, averaged over `--seeds` runs (a single run's final accuracy
/// moves by about ±1 point from chaotic divergence alone — even fp16 does — so one seed cannot resolve 1 point).
struct BenchCodecTrainingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec-training",
        abstract: "MLP training with every K-step update compressed (+ error feedback): accuracy vs uncompressed.")

    @Option(help: "Total SGD steps (937 = one epoch at batch 64).")
    var steps: Int = 1874

    @Option(help: "Local steps per update (K).")
    var k: Int = 10

    @Option(help: "Comma-separated codecs to compare with the uncompressed run.")
    var codecs: String = "int8,topk:0.01"

    @Option(help: "First random seed (initialisation and batches).")
    var seed: UInt64 = 0

    @Option(help: "Number of seeds (seed, seed+1, …) each variant is trained with; accuracies are averaged.")
    var seeds: Int = 3

    @Option(help: "Fashion-MNIST directory.")
    var data: String = FashionMNIST.defaultDirectory

    @Flag(help: "One JSON line per variant.")
    var json = false

    struct Report: Codable {
        var variant: String
        var steps: Int
        var k: Int
        /// Mean over seeds.
        var test_accuracy: Double
        var test_loss: Double
        var seed_accuracies: [Double]
        var mean_update_bytes: Double
        var ratio_vs_fp32: Double
        var seconds: Double
    }

    func validate() throws {
        guard steps >= 1, k >= 1, seeds >= 1 else { throw ValidationError("--steps, --k and --seeds must be at least 1") }
        for c in codecs.split(separator: ",") { _ = try CodecSpec(parsing: String(c)) }
    }

    func run() throws {
        ComputeThreads.set(1)
        let (train, test) = try FashionMNIST.load(directory: data)
        let evalBatches = BatchSampler.imageEvaluationBatches(test)
        let parameters = MLP(config: MLPConfig(), seed: seed).params.count
        let variants: [CodecSpec?] = [nil] + (try codecs.split(separator: ",").map { try CodecSpec(parsing: String($0)) })
        var reports: [Report] = []
        for v in variants {
            var runs: [Report] = []
            for s in 0..<seeds {
                runs.append(try train1(variant: v, seed: seed + UInt64(s), train: train, evalBatches: evalBatches))
            }
            var r = runs[0]
            let count = Double(runs.count)
            r.seed_accuracies = runs.map(\.test_accuracy)
            r.test_accuracy = runs.reduce(0) { $0 + $1.test_accuracy } / count
            r.test_loss = runs.reduce(0) { $0 + $1.test_loss } / count
            r.mean_update_bytes = runs.reduce(0) { $0 + $1.mean_update_bytes } / count
            r.ratio_vs_fp32 = Double(4 * parameters) / r.mean_update_bytes
            r.seconds = runs.reduce(0) { $0 + $1.seconds }
            reports.append(r)
            if json {
                let enc = JSONEncoder()
                enc.outputFormatting = [.sortedKeys]
                print(String(decoding: try enc.encode(r), as: UTF8.self))
            } else {
                print(r.variant.padding(toLength: 14, withPad: " ", startingAt: 0) + String(
                    format: " mean test acc %.4f  loss %.4f  %9.0f B/update  ratio %6.2f×  %.1f s  (seeds: %@)",
                    r.test_accuracy, r.test_loss, r.mean_update_bytes, r.ratio_vs_fp32,
                    r.seconds, r.seed_accuracies.map { String(format: "%.4f", $0) }.joined(separator: " ") as NSString))
            }
        }
        if !json, let base = reports.first {
            for r in reports.dropFirst() {
                print(String(format: "%@: %+.2f points vs uncompressed", r.variant as NSString,
                             100 * (r.test_accuracy - base.test_accuracy)))
            }
        }
    }

    func train1(variant: CodecSpec?, seed: UInt64, train: ImageDataset, evalBatches: [Batch]) throws -> Report {
        let start = DispatchTime.now().uptimeNanoseconds
        let model = MLP(config: MLPConfig(), seed: seed)
        let optimizer = try InnerOptimizerConfig(kind: "sgd", lr: 0.05, momentum: 0.9).make(for: model.layout)
        let next = BatchSampler.images(train, batch: 64, seed: seed)
        let n = model.params.count
        var global = model.params.toArray()
        var ef = ErrorFeedback(count: n)
        let base = [UInt8](repeating: 0, count: 32)
        var done = 0
        var round: UInt64 = 0
        var bytes = 0
        while done < steps {
            let kk = min(k, steps - done)
            _ = LocalTrainer.run(model: model, optimizer: optimizer, steps: kk, lr: { _ in 0.05 }, gradClip: 0,
                                 nextBatch: next)
            done += kk
            guard let codec = variant else { continue }  // uncompressed: θ_global = θ_local
            let local = model.params.toArray()
            let delta = (0..<n).map { local[$0] - global[$0] }
            let header = EnvelopeHeader(
                schemaHash: model.layout.schemaHash, round: round, baseModel: base, codec: codec, elementCount: n)
            let envelope = try ef.encode(delta, header: header)
            bytes += envelope.count
            let decoded = try UpdateEnvelope.decode(
                envelope,
                expecting: EnvelopeExpectation(
                    schemaHash: model.layout.schemaHash, round: round, baseModel: base, elementCount: n)).values
            for i in 0..<n { global[i] += decoded[i] }
            let p = model.params.base
            for i in 0..<n { p[i] = global[i] }
            round += 1
        }
        let sums = Evaluator.evaluate(model: model, batches: evalBatches)
        let updates = max(1, Int(round))
        let meanBytes = variant == nil ? Double(4 * n) : Double(bytes) / Double(updates)
        return Report(
            variant: variant?.description ?? "uncompressed", steps: steps, k: k, test_accuracy: sums.accuracy,
            test_loss: sums.meanLoss, seed_accuracies: [sums.accuracy], mean_update_bytes: meanBytes, ratio_vs_fp32: Double(4 * n) / meanBytes,
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
}
