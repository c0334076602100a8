import CrowdData
import CrowdEngine
import Foundation
import Testing
@testable import CrowdTraining

/// The shared training loop, batch sampling, evaluation and model factory on a synthetic image set.
struct LocalTrainerTests {
    /// 64 images of 4×4 pixels: class c has a bright quadrant c, plus noise.
    static func dataset(seed: UInt64 = 1) -> ImageDataset {
        var rng = SeededRNG(seed: seed)
        var pixels: [UInt8] = [], labels: [UInt8] = []
        for i in 0..<64 {
            let c = i % 4
            for r in 0..<4 {
                for col in 0..<4 {
                    let q = (r / 2) * 2 + col / 2
                    pixels.append(UInt8(q == c ? 200 + rng.nextInt(below: 55) : rng.nextInt(below: 60)))
                }
            }
            labels.append(UInt8(c))
        }
        return ImageDataset(count: 64, rows: 4, cols: 4, pixels: pixels, labels: labels)
    }

    @Test func batchSamplerIsSeededAndCoversEachEpoch() {
        let d = Self.dataset()
        let a = BatchSampler.images(d, batch: 10, seed: 5), b = BatchSampler.images(d, batch: 10, seed: 5)
        var seen: [Float] = []
        for _ in 0..<6 {  // one epoch = 6 batches of 10 (4 images dropped)
            guard case .images(let x) = a(), case .images(let y) = b() else { Issue.record("not images"); return }
            #expect(x.inputs == y.inputs && x.labels == y.labels && x.count == 10)
            #expect(x.inputs.allSatisfy { $0 >= 0 && $0 <= 1 })
            seen += x.inputs
        }
        // 60 distinct images in the first epoch (pixel rows differ by their noise).
        let rows = Set(stride(from: 0, to: seen.count, by: 16).map { Array(seen[$0..<($0 + 16)]) })
        #expect(rows.count == 60)
        guard case .images(let other) = BatchSampler.images(d, batch: 10, seed: 6)(),
              case .images(let first) = BatchSampler.images(d, batch: 10, seed: 5)()
        else { return }
        #expect(other.inputs != first.inputs)
    }

    @Test func trainingReducesLossAndIsDeterministic() throws {
        let d = Self.dataset()
        func train() throws -> (LocalRun, EvalSums, [Float]) {
            let model = try ModelFactory.make(
                kind: "mlp", configJSON: try JSONEncoder().encode(MLPConfig(inputs: 16, hidden: [8], classes: 4)),
                seed: 3)
            let opt = SGD(count: model.layout.count, momentum: 0.9)
            let run = LocalTrainer.run(
                model: model, optimizer: opt, steps: 40, lr: { _ in 0.1 }, gradClip: 1,
                nextBatch: BatchSampler.images(d, batch: 16, seed: 4))
            let eval = Evaluator.evaluate(model: model, batches: BatchSampler.imageEvaluationBatches(d, batch: 25))
            return (run, eval, model.params.toArray())
        }
        let (run, eval, params) = try train()
        #expect(run.steps == 40 && run.samples == 640 && run.seconds > 0 && run.samplesPerSecond > 0)
        #expect(eval.count == 64)
        #expect(eval.accuracy > 0.9, "accuracy \(eval.accuracy)")
        #expect(eval.meanLoss < 0.5 * log(4.0), "loss \(eval.meanLoss)")
        let (_, _, again) = try train()
        #expect(params.map(\.bitPattern) == again.map(\.bitPattern))
    }

    @Test func benchmarkTimesTheStepsAfterWarmup() throws {
        var o = MLPBenchmark.Options()
        o.config = MLPConfig(inputs: 16, hidden: [8], classes: 4)
        o.batch = 16
        o.epochs = 2
        o.warmup = 3
        let r = try MLPBenchmark.run(o, train: Self.dataset())
        #expect(r.steps == 2 * 4 - 3)  // 4 steps per epoch, the first 3 excluded
        #expect(r.epochSamplesPerSecond.count == 2 && r.samplesPerSecond > 0 && r.seconds > 0)
        #expect(r.lastEpochLoss.isFinite && r.lastEpochLoss < log(4.0))
    }

    @Test func factoryRefusesBadInput() {
        #expect(throws: ConfigurationError.self) {
            try ModelFactory.make(kind: "rnn", configJSON: Data("{}".utf8), seed: 0)
        }
        #expect(throws: ConfigurationError.self) {
            try ModelFactory.make(kind: "mlp", configJSON: Data("nope".utf8), seed: 0)
        }
        let zeroWidth = Data(#"{"inputs":784,"hidden":[0],"classes":10}"#.utf8)
        #expect(throws: ConfigurationError.self) { try ModelFactory.make(kind: "mlp", configJSON: zeroWidth, seed: 0) }
    }
}
