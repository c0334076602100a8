import Testing

@testable import CrowdAggregation

/// Aggregating from int8 codes (issue 15): every aggregator gives bit-for-bit the result it gives on the decoded
/// fp32 vectors, for block sizes that do and do not line up with the 64-wide tiles and lengths that end mid-block.
@Suite struct UpdateSourceTests {
    static let kinds: [AggregatorKind] = [
        .mean, .trimmedMean(trim: 0.25), .median, .centeredClip(radius: nil), .nnmTrimmedMean(trim: 0.25),
    ]

    /// Seeded codes: q in [−127, 127], scales over three orders of magnitude.
    static func codes(k: Int, n: Int, block: Int, seed: UInt64) -> [(q: [Int8], scales: [Float])] {
        var rng = SplitMix64(seed: seed)
        return (0..<k).map { _ in
            let q = (0..<n).map { _ in Int8(Int(rng.next() % 255) - 127) }
            let scales = (0..<((n + block - 1) / block)).map { _ in 1e-4 + rng.nextUnit() * 0.1 }
            return (q, scales)
        }
    }

    @Test(arguments: [64, 256, 100], [1, 255, 257, 1000])
    func codesAggregateExactlyLikeTheirDecodedValues(block: Int, n: Int) {
        for k in [1, 3, 8] {
            let c = Self.codes(k: k, n: n, block: block, seed: UInt64(block * 31 + n + k))
            let decoded = c.map { code in (0..<n).map { Float(code.q[$0]) * code.scales[$0 / block] } }
            let weights = (0..<k).map { Double(1 + $0 % 3) }
            for kind in Self.kinds {
                let fromFloats = kind.make().aggregate(decoded, weights: weights)
                var fromCodes = [Float](repeating: 0, count: n)
                func go(_ i: Int, _ sources: [UpdateSource]) {
                    if i == k {
                        fromCodes.withUnsafeMutableBufferPointer {
                            kind.make().aggregate(sources, weights: weights, into: $0)
                        }
                        return
                    }
                    c[i].q.withUnsafeBufferPointer { q in
                        c[i].scales.withUnsafeBufferPointer { s in
                            go(i + 1, sources + [.codes(q: q, scales: s, block: block)])
                        }
                    }
                }
                go(0, [])
                #expect(fromCodes == fromFloats, "\(kind) K \(k) n \(n) block \(block)")
            }
        }
    }

    @Test func theBenchmarkCodesDecodeToItsUpdates() {
        let codes = AggregationBenchmark.syntheticCodes(count: 3, params: 700, seed: 5)
        let updates = AggregationBenchmark.syntheticUpdates(count: 3, params: 700, seed: 5)
        #expect(codes.map(\.values) == updates)
        #expect(codes.allSatisfy { $0.q.allSatisfy { $0 >= -127 } && $0.scales.count == 3 })
    }
}
