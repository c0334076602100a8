import ArgumentParser
import CrowdData
import CrowdEngine

/// Inputs the simulated-crowd benchmarks (`bench quality`, `bench crowd`) parse and load alike.
enum BenchInputs {
    /// "1,2,4" → [1, 2, 4], each within `range`, or a `ValidationError` naming `flag`.
    static func ints(_ s: String, _ flag: String, in range: ClosedRange<Int> = 1...Int.max) throws -> [Int] {
        try s.split(separator: ",").map {
            guard let v = Int($0.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
                let what = range.upperBound == Int.max ? "positive integers" : "integers in \(range.lowerBound)…\(range.upperBound)"
                throw ValidationError("\(flag) takes \(what), comma-separated; got '\($0)'")
            }
            return v
        }
    }

    /// The bytes of `text` (or the King James Bible), split 90 / 10 into training and validation, refused when the
    /// validation part cannot hold one window of the GPT's block.
    static func textSplit(_ text: String?, block: Int) throws -> (train: TextCorpus, validation: TextCorpus) {
        let corpus = try text.map { try TextCorpus.load(path: $0) } ?? TextCorpus.kjv()
        let (train, validation) = corpus.split(trainFraction: 0.9)
        guard validation.count > block + 1 else {
            throw ValidationError("the text is too short: its last 10 % must hold more than \(block + 1) bytes")
        }
        return (train, validation)
    }
}
