import CrowdData
import CrowdEngine

extension BatchSampler {
    /// Endless random windows of `corpus` (nanoGPT's `get_batch`): `batch` offsets uniform in
    /// `0..<(count − block − 1)` from a generator seeded with `seed`, inputs `[batch, block]` and
    /// targets shifted by one byte.
    /// - Precondition: the corpus holds more than `block + 1` bytes.
    public static func text(_ corpus: TextCorpus, batch: Int, block: Int, seed: UInt64) -> () -> Batch {
        textStream(corpus, batch: batch, block: block, seed: seed).next
    }

    /// `text` as a stream that can also skip batches (draws their offsets, gathers nothing).
    public static func textStream(_ corpus: TextCorpus, batch: Int, block: Int, seed: UInt64) -> BatchStream {
        precondition(batch >= 1 && block >= 1, "batch and block must be at least 1")
        final class State {
            var rng: SeededRNG
            init(seed: UInt64) { rng = SeededRNG(seed: seed) }
        }
        let s = State(seed: seed)
        return BatchStream(
            next: { .tokens(corpus.batch(offsets: corpus.randomOffsets(batch, block: block, rng: &s.rng), block: block)) },
            skip: { _ = corpus.randomOffsets(batch, block: block, rng: &s.rng) })
    }

    /// `count` fixed text batches drawn from a generator seeded with `seed` (the same batches at
    /// every evaluation, as in `ref_gpt_bytes.py`).
    public static func textEvaluationBatches(
        _ corpus: TextCorpus, count: Int, batch: Int, block: Int, seed: UInt64
    ) -> [Batch] {
        let next = text(corpus, batch: batch, block: block, seed: seed)
        return (0..<count).map { _ in next() }
    }
}
