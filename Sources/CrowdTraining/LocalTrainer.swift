import CrowdEngine
import Foundation

/// The inner training loop shared by `crowdtrain train` and peers: batch → forward/backward →
/// optional gradient clipping → optimizer step.
public enum LocalTrainer {
    /// Runs `steps` optimizer steps on `model`.
    /// - Parameters:
    ///   - lr: learning rate for step `i` (0-based, counted within this run).
    ///   - gradClip: global gradient-norm clip; `0` disables it.
    ///   - nextBatch: yields the next training batch.
    public static func run(
        model: any TrainableModel, optimizer: any Optimizer, steps: Int,
        lr: (Int) -> Float, gradClip: Float, nextBatch: () -> Batch
    ) -> LocalRun {
        let start = DispatchTime.now().uptimeNanoseconds
        var lossSum: Double = 0
        var samples = 0
        for i in 0..<steps {
            let batch = nextBatch()
            let loss = model.forwardBackward(batch)
            if gradClip > 0 { clipGradNorm(model.grads, maxNorm: gradClip) }
            optimizer.step(params: model.params, grads: model.grads, lr: lr(i))
            lossSum += Double(loss)
            samples += batch.samples
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return LocalRun(
            meanLoss: steps > 0 ? Float(lossSum / Double(steps)) : .nan, steps: steps, samples: samples,
            seconds: seconds)
    }
}
