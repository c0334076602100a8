@testable import CrowdCodec
import Foundation
import Testing

@Suite struct ErrorFeedbackTests {
    /// Over many steps, Σ decoded = Σ true − r_T exactly (up to float rounding), and r_T stays bounded,
    /// so the transmitted sum tracks the true sum: ‖Σ true − Σ decoded‖ / ‖Σ true‖ ≤ stated bound.
    @Test(arguments: [("int8", 0.001), ("topk:0.05", 0.1)])
    func decodedSumTracksTrueSum(codec: String, bound: Double) throws {
        let n = 2000
        let steps = 100
        let spec = try CodecSpec(parsing: codec)
        var ef = ErrorFeedback(count: n)
        var trueSum = [Double](repeating: 0, count: n)
        var sentSum = [Double](repeating: 0, count: n)
        var rng = TestRNG(seed: 11)
        // A persistent direction plus noise, like successive pseudo-gradients.
        let drift = (0..<n).map { _ in rng.normal() * 1e-3 }
        for step in 0..<steps {
            let delta = (0..<n).map { drift[$0] + rng.normal() * 2e-3 }
            let data = try ef.encode(delta, header: Fixture.header(spec, n: n, round: UInt64(step)))
            let got = try UpdateEnvelope.decode(data, expecting: Fixture.expect(n: n, round: UInt64(step))).values
            for i in 0..<n {
                trueSum[i] += Double(delta[i])
                sentSum[i] += Double(got[i])
            }
        }
        var diff = 0.0
        var norm = 0.0
        var identity = 0.0
        for i in 0..<n {
            diff += (trueSum[i] - sentSum[i]) * (trueSum[i] - sentSum[i])
            norm += trueSum[i] * trueSum[i]
            identity = max(identity, abs(trueSum[i] - sentSum[i] - Double(ef.residual[i])))
        }
        #expect((diff / norm).squareRoot() <= bound)
        #expect(identity < 1e-5)  // Σ true − Σ sent == residual
    }

    @Test func residualIsTheDroppedPart() throws {
        var ef = ErrorFeedback(count: 4)
        let delta: [Float] = [1, 0.1, -0.2, 0.05]
        _ = try ef.encode(delta, header: Fixture.header(.topk(fraction: 0.25), n: 4))
        #expect(ef.residual == [0, 0.1, -0.2, 0.05])
        _ = try ef.encode([0, 0, 0, 0], header: Fixture.header(.topk(fraction: 0.25), n: 4))
        #expect(ef.residual == [0, 0.1, 0, 0.05])
    }

    @Test func failedEncodeLeavesResidualUnchanged() throws {
        var ef = ErrorFeedback(count: 3)
        _ = try ef.encode([1, 2, 3], header: Fixture.header(.topk(fraction: 0.34), n: 3))
        let before = ef.residual
        #expect(throws: CodecError.self) { try ef.encode([.nan, 0, 0], header: Fixture.header(.int8(block: 256), n: 3)) }
        #expect(throws: CodecError.self) { try ef.encode([0, 0], header: Fixture.header(.int8(block: 256), n: 2)) }
        #expect(ef.residual == before)
    }

    @Test func serializationRoundTrips() throws {
        var ef = ErrorFeedback(count: 50)
        _ = try ef.encode(Fixture.delta(50, seed: 3), header: Fixture.header(.int8(block: 16), n: 50))
        let back = try ErrorFeedback(serialized: ef.serialized(), count: 50)
        #expect(back.residual == ef.residual)
        #expect(throws: CodecError.self) { try ErrorFeedback(serialized: ef.serialized(), count: 49) }
        let json = try JSONEncoder().encode(ef)
        #expect(try JSONDecoder().decode(ErrorFeedback.self, from: json).residual == ef.residual)
    }
}
