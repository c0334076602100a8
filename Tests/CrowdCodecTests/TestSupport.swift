@testable import CrowdCodec
import Foundation

/// Small deterministic generator for test inputs (SplitMix64), so tests don't depend on CrowdEngine.
struct TestRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }
    mutating func int(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    /// Approximately normal (sum of 4 uniforms, centred, unit variance).
    mutating func normal() -> Float {
        (uniform() + uniform() + uniform() + uniform() - 2) * 1.7320508
    }
}

enum Fixture {
    static let base = [UInt8](repeating: 0xAB, count: 32)

    static func header(_ codec: CodecSpec, n: Int, schema: UInt64 = 42, round: UInt64 = 7) -> EnvelopeHeader {
        EnvelopeHeader(schemaHash: schema, round: round, baseModel: base, codec: codec, elementCount: n)
    }

    static func expect(n: Int, schema: UInt64 = 42, round: UInt64 = 7) -> EnvelopeExpectation {
        EnvelopeExpectation(schemaHash: schema, round: round, baseModel: base, elementCount: n)
    }

    /// A delta-like vector: normal values with per-row magnitudes spread over two decades.
    static func delta(_ n: Int, seed: UInt64, scale: Float = 1e-3) -> [Float] {
        var r = TestRNG(seed: seed)
        return (0..<n).map { i in r.normal() * scale * (1 + Float((i / 97) % 10)) }
    }

    static func relError(_ a: [Float], _ b: [Float]) -> Double {
        var num = 0.0
        var den = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            num += d * d
            den += Double(a[i]) * Double(a[i])
        }
        return (num / den).squareRoot()
    }

    /// Decoding must fail with a `CodecError` of `code`; returns false otherwise.
    static func fails(_ data: Data, _ e: EnvelopeExpectation, _ code: CodecError.Code) -> Bool {
        do {
            _ = try UpdateEnvelope.decode(data, expecting: e)
            return false
        } catch let err as CodecError {
            return err.code == code
        } catch {
            return false
        }
    }

    /// An envelope around a hand-made raw payload (valid frame, valid checksum) for deep-check tests.
    static func envelope(raw: [UInt8], codec: CodecSpec, n: Int) -> Data {
        UpdateEnvelope.assemble(header(codec, n: n), rawSize: raw.count, payload: Zstd.frame(raw))
    }
}
