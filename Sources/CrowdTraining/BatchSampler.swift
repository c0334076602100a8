import CrowdData
import CrowdEngine

/// Endless, seeded streams of training batches. Each returned closure owns its RNG state, so two
/// samplers with the same seed yield the same batches.
public enum BatchSampler {
    /// Epochs of seeded shuffles of `dataset`, `batch` images at a time; the last partial batch of
    /// each epoch is dropped (PyTorch `drop_last=True`). Pixels are scaled to [0, 1].
    /// - Precondition: `1 ≤ batch ≤ dataset.count`.
    public static func images(_ dataset: ImageDataset, batch: Int, seed: UInt64) -> () -> Batch {
        imageStream(dataset, batch: batch, seed: seed).next
    }

    /// `images` as a stream that can also skip batches without gathering them (a verifier starting mid-lease).
    public static func imageStream(_ dataset: ImageDataset, batch: Int, seed: UInt64) -> BatchStream {
        precondition(batch >= 1 && batch <= dataset.count, "batch \(batch) must be in 1…\(dataset.count)")
        final class State {
            var rng: SeededRNG
            var order: [Int] = []
            var position = 0
            init(seed: UInt64) { rng = SeededRNG(seed: seed) }
        }
        let s = State(seed: seed)
        func advance() -> Range<Int> {
            if s.position + batch > s.order.count {
                s.order = s.rng.permutation(dataset.count)
                s.position = 0
            }
            defer { s.position += batch }
            return s.position..<(s.position + batch)
        }
        return BatchStream(
            next: { .images(dataset.batch(s.order[advance()])) },
            skip: { _ = advance() })
    }

    /// Test/evaluation batches over the whole dataset in order (the last one may be smaller).
    public static func imageEvaluationBatches(_ dataset: ImageDataset, batch: Int = 1000) -> [Batch] {
        stride(from: 0, to: dataset.count, by: batch).map {
            .images(dataset.batch($0..<min($0 + batch, dataset.count)))
        }
    }
}

/// A seeded batch stream: `next` draws a batch; `skip` advances the stream by one batch exactly as `next` would,
/// without gathering it.
public final class BatchStream {
    public let next: () -> Batch
    let skipOne: () -> Void

    public init(next: @escaping () -> Batch, skip: @escaping () -> Void) {
        self.next = next
        self.skipOne = skip
    }

    public func skip(_ n: Int) { for _ in 0..<max(0, n) { skipOne() } }
}
