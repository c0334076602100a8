import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation

/// The engine benchmark for `fmnist-mlp`, timed exactly like `ref_mlp_fmnist.py`: each epoch's
/// shuffled batches are gathered before the clock starts; the timed region is forward + backward
/// + optimizer step per batch; the first `warmup` steps of epoch 1 are excluded.
public enum MLPBenchmark {
    /// What to run.
    public struct Options: Sendable {
        public var config = MLPConfig()
        public var batch = 64
        public var epochs = 1
        public var warmup = 50
        public var seed: UInt64 = 0
        public var optimizer = InnerOptimizerConfig(kind: "sgd", lr: 0.05, momentum: 0.9)
        public init() {}
    }

    /// Measured throughput.
    public struct Result: Sendable, Codable {
        /// Steady-state samples per second (warm-up excluded).
        public var samplesPerSecond: Double
        /// Samples per second of each epoch (warm-up included).
        public var epochSamplesPerSecond: [Double]
        /// Timed steps (after warm-up) and their seconds.
        public var steps: Int
        public var seconds: Double
        /// Achieved GFLOP/s at `flopsPerSample` (6 × MACs).
        public var gflops: Double
        /// Mean training loss over the last epoch.
        public var lastEpochLoss: Float
    }

    /// Runs the benchmark on `train` with the current thread setting.
    public static func run(_ o: Options, train: ImageDataset) throws -> Result {
        let model = MLP(config: o.config, seed: o.seed)
        let optimizer = try o.optimizer.make(for: model.layout)
        var rng = SeededRNG(seed: o.seed)
        let stepsPerEpoch = train.count / o.batch
        var steadySeconds = 0.0, steadySamples = 0
        var epochRates: [Double] = []
        var lastLoss: Float = 0
        for epoch in 1...max(1, o.epochs) {
            let order = rng.permutation(train.count)
            let batches: [Batch] = (0..<stepsPerEpoch).map {
                .images(train.batch(order[($0 * o.batch)..<(($0 + 1) * o.batch)]))
            }
            var epochSeconds = 0.0
            var lossSum: Float = 0
            for (s, batch) in batches.enumerated() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let loss = model.forwardBackward(batch)
                optimizer.step(params: model.params, grads: model.grads, lr: o.optimizer.lr)
                let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                epochSeconds += dt
                lossSum += loss
                if !(epoch == 1 && s < o.warmup) {
                    steadySeconds += dt
                    steadySamples += o.batch
                }
            }
            epochRates.append(Double(stepsPerEpoch * o.batch) / epochSeconds)
            lastLoss = lossSum / Float(max(1, stepsPerEpoch))
        }
        let rate = steadySeconds > 0 ? Double(steadySamples) / steadySeconds : 0
        return Result(
            samplesPerSecond: rate, epochSamplesPerSecond: epochRates, steps: steadySamples / o.batch,
            seconds: steadySeconds, gflops: rate * model.flopsPerSample / 1e9, lastEpochLoss: lastLoss)
    }
}
