import CrowdEngine

/// A byte-level text corpus: any file's bytes are tokens 0…255.
public struct TextCorpus: Sendable {
    /// The bytes.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Number of bytes.
    public var count: Int { bytes.count }

    /// Splits by position: the first `fraction` for training, the rest for validation.
    public func split(trainFraction fraction: Double = 0.9) -> (train: TextCorpus, validation: TextCorpus) {
        let n = Int(fraction * Double(bytes.count))
        return (TextCorpus(bytes: Array(bytes[..<n])), TextCorpus(bytes: Array(bytes[n...])))
    }

    /// Gathers sequences starting at `offsets` (each `< count - block`), targets shifted by one
    /// (nanoGPT's `get_batch`).
    public func batch(offsets: [Int], block: Int) -> TokenBatch {
        var x = [Int32](repeating: 0, count: offsets.count * block)
        var y = [Int32](repeating: 0, count: offsets.count * block)
        for (b, o) in offsets.enumerated() {
            precondition(o >= 0 && o + block < bytes.count, "offset \(o) out of range for a corpus of \(bytes.count) bytes")
            for t in 0..<block {
                x[b * block + t] = Int32(bytes[o + t])
                y[b * block + t] = Int32(bytes[o + t + 1])
            }
        }
        return TokenBatch(batch: offsets.count, block: block, inputs: x, targets: y)
    }

    /// Random offsets in `0..<(count - block - 1)` (torch.randint semantics of nanoGPT), drawn from `rng`.
    public func randomOffsets(_ n: Int, block: Int, rng: inout SeededRNG) -> [Int] {
        let hi = count - block - 1
        precondition(hi > 0, "corpus of \(count) bytes is too small for block \(block)")
        return (0..<n).map { _ in rng.nextInt(below: hi) }
    }
}
