@testable import CrowdCodec
import Foundation
import Testing

@Suite struct FuzzHarnessTests {
    /// The fuzzer's seeds are valid inputs for every mode, and decode (mode 0 seeds carry real envelopes).
    @Test func seedsCoverEveryCodecAndMode() throws {
        let seeds = CodecFuzzHarness.seeds()
        #expect(seeds.count == 3 * CodecFuzzHarness.codecs.count + 2)
        // The delta seeds decode and rebuild their model.
        for s in seeds where s[0] == 3 {
            let delta = try ModelDelta.decode(Data(s[1...]))
            #expect(delta.count == 300)
            #expect(try delta.apply(to: (0..<300).map { Float(($0 * 31) % 97) * 1e-2 }).count == 300)
        }
        for s in seeds where s[0] == 0 {
            let env = Data(s[1...])
            let h = try UpdateEnvelope.peekHeader(env)
            let e = EnvelopeExpectation(schemaHash: h.schemaHash, round: h.round, baseModel: h.baseModel, elementCount: h.elementCount)
            #expect(try UpdateEnvelope.decode(env, expecting: e).values.count == 300)
        }
    }

    /// A short run of the harness on mutated seeds (the harness traps on any invariant violation).
    @Test func shortMutationRunHoldsInvariants() {
        var rng = TestRNG(seed: 3)
        let seeds = CodecFuzzHarness.seeds()
        for _ in 0..<300 {
            var b = seeds[rng.int(seeds.count)]
            for _ in 0..<(1 + rng.int(3)) {
                let i = rng.int(b.count)
                if rng.int(4) == 0 { b.removeLast(rng.int(b.count - i)) } else { b[i] = UInt8(truncatingIfNeeded: rng.next()) }
                if b.isEmpty { break }
            }
            b.withUnsafeBytes { CodecFuzzHarness.run($0) }
        }
    }
}
