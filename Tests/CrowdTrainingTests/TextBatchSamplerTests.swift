import CrowdData
import CrowdEngine
import CrowdTraining
import Testing

/// `BatchSampler.text`: seeded random windows with targets shifted by one byte.
struct TextBatchSamplerTests {
    @Test func windowsAreSeededAndShiftedByOne() {
        let corpus = TextCorpus(bytes: (0..<200).map { UInt8($0) })
        let a = BatchSampler.text(corpus, batch: 3, block: 5, seed: 42)
        let b = BatchSampler.text(corpus, batch: 3, block: 5, seed: 42)
        let c = BatchSampler.text(corpus, batch: 3, block: 5, seed: 43)
        guard case .tokens(let x) = a(), case .tokens(let y) = b(), case .tokens(let z) = c() else {
            Issue.record("text sampler returned a non-token batch")
            return
        }
        #expect(x.inputs == y.inputs && x.inputs != z.inputs)
        #expect(x.batch == 3 && x.block == 5)
        for r in 0..<3 {
            let row = Array(x.inputs[(r * 5)..<(r * 5 + 5)])
            // Bytes equal positions here: a window is consecutive, its start below 200 − 5 − 1.
            #expect(zip(row, row.dropFirst()).allSatisfy { $1 == $0 + 1 } && row[0] < 194)
            #expect(Array(x.targets[(r * 5)..<(r * 5 + 5)]) == row.map { $0 + 1 })
        }
        // The next call draws new offsets.
        guard case .tokens(let x2) = a() else { return }
        #expect(x2.inputs != x.inputs)
    }

    @Test func evaluationBatchesAreFixed() {
        let corpus = TextCorpus(bytes: (0..<100).map { UInt8($0) })
        let e1 = BatchSampler.textEvaluationBatches(corpus, count: 4, batch: 2, block: 8, seed: 7)
        let e2 = BatchSampler.textEvaluationBatches(corpus, count: 4, batch: 2, block: 8, seed: 7)
        #expect(e1.count == 4)
        for (p, q) in zip(e1, e2) {
            guard case .tokens(let u) = p, case .tokens(let v) = q else { continue }
            #expect(u.inputs == v.inputs && u.targets == v.targets)
        }
    }
}
