import CrowdData
import CrowdEngine
import CrowdTraining
import Testing

/// Skipping batches (a verifier starting mid-lease) leaves a stream exactly where drawing them would.
@Suite struct BatchStreamTests {
    static func images(_ n: Int) -> ImageDataset {
        ImageDataset(
            count: n, rows: 2, cols: 2, pixels: (0..<(4 * n)).map { UInt8($0 % 251) },
            labels: (0..<n).map { UInt8($0 % 10) })
    }

    static func key(_ b: Batch) -> [Float] {
        switch b {
        case .images(let i): i.inputs
        case .tokens(let t): t.inputs.map(Float.init)
        }
    }

    @Test(arguments: [0, 1, 3, 7, 25]) func skippedImageBatchesEqualDrawnOnes(skip: Int) {
        let drawn = BatchSampler.imageStream(Self.images(20), batch: 6, seed: 9)
        for _ in 0..<skip { _ = drawn.next() }
        let skipped = BatchSampler.imageStream(Self.images(20), batch: 6, seed: 9)
        skipped.skip(skip)
        for _ in 0..<5 { #expect(Self.key(drawn.next()) == Self.key(skipped.next())) }
    }

    @Test(arguments: [0, 2, 11]) func skippedTextBatchesEqualDrawnOnes(skip: Int) {
        let corpus = TextCorpus(bytes: (0..<3000).map { UInt8($0 % 200) })
        let drawn = BatchSampler.textStream(corpus, batch: 3, block: 16, seed: 4)
        for _ in 0..<skip { _ = drawn.next() }
        let skipped = BatchSampler.textStream(corpus, batch: 3, block: 16, seed: 4)
        skipped.skip(skip)
        for _ in 0..<4 { #expect(Self.key(drawn.next()) == Self.key(skipped.next())) }
    }
}
