import CrowdData
import CrowdEngine

/// Endless, seeded streams of training batches. Each returned closure owns its RNG state, so two
/// samplers with the same seed yield the same batches.
public enum BatchSampler {
    /// Epochs of seeded shuffles of `dataset`, `batch` images at a time; the last partial batch of
    /// each epoch is dropped (PyTorch `drop_last=True`). Pixels are scaled to [0, 1].
    /// - Precondition: `1 ≤ batch ≤ dataset.count`.
    public static func images(_ dataset: ImageDataset, batch: Int, seed: UInt64) -> () -> Batch {
        precondition(batch >= 1 && batch <= dataset.count, "batch \(batch) must be in 1…\(dataset.count)")
        var rng = SeededRNG(seed: seed)
        var order: [Int] = []
        var position = 0
        return {
            if position + batch > order.count {
                order = rng.permutation(dataset.count)
                position = 0
            }
            let b = dataset.batch(order[position..<(position + batch)])
            position += batch
            return .images(b)
        }
    }

    /// Test/evaluation batches over the whole dataset in order (the last one may be smaller).
    public static func imageEvaluationBatches(_ dataset: ImageDataset, batch: Int = 1000) -> [Batch] {
        stride(from: 0, to: dataset.count, by: batch).map {
            .images(dataset.batch($0..<min($0 + batch, dataset.count)))
        }
    }
}
