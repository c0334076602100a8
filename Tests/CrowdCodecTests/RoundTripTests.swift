@testable import CrowdCodec
import Foundation
import Testing

@Suite struct RoundTripTests {
    static let n = 3001  // not a multiple of any block size

    func roundTrip(_ x: [Float], _ codec: CodecSpec, level: Int32 = 1) throws -> (Data, [Float]) {
        let data = try UpdateEnvelope.encode(x, header: Fixture.header(codec, n: x.count), level: level)
        let out = try UpdateEnvelope.decode(data, expecting: Fixture.expect(n: x.count))
        #expect(out.header == Fixture.header(codec, n: x.count))
        #expect(try UpdateEnvelope.peekHeader(data) == out.header)
        #expect(data.count <= UpdateEnvelope.maxEnvelopeBytes(elementCount: x.count, codec: codec))
        return (data, out.values)
    }

    @Test func fp32IsLossless() throws {
        let x = Fixture.delta(Self.n, seed: 1)
        #expect(try roundTrip(x, .fp32).1 == x)
    }

    @Test func fp16WithinHalfUlp() throws {
        let x = Fixture.delta(Self.n, seed: 2)
        let y = try roundTrip(x, .fp16).1
        for i in x.indices {
            // Relative error ≤ 2⁻¹¹ for normal halves, absolute ≤ 2⁻²⁵ in the subnormal range.
            #expect(abs(x[i] - y[i]) <= max(abs(x[i]) * 0x1p-11, 0x1p-25))
        }
        #expect(y == x.map { Float(Float16($0)) })  // matches the platform's RNE conversion exactly
    }

    @Test func bf16WithinHalfUlpAndNearestEven() throws {
        let x = Fixture.delta(Self.n, seed: 3)
        let y = try roundTrip(x, .bf16).1
        for i in x.indices { #expect(abs(x[i] - y[i]) <= abs(x[i]) * 0x1p-8) }
        // Ties go to even: 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷.
        let ties: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, -(1 + 0x1p-8)]
        #expect(try roundTrip(ties, .bf16).1 == [1, 1 + 4 * 0x1p-8, -1])
    }

    @Test(arguments: [256, 64, 1])
    func int8WithinHalfStep(block: Int) throws {
        let x = Fixture.delta(Self.n, seed: 4)
        let (data, y) = try roundTrip(x, .int8(block: block))
        // Per element: |x − y| ≤ scale/2 of its block, read back from the payload.
        let scales = try rawPayload(data, codec: .int8(block: block), n: x.count)
        for i in x.indices {
            let s = HalfFloat.float(fromBF16: UInt16(scales[2 * (i / block)]) | UInt16(scales[2 * (i / block) + 1]) << 8)
            #expect(abs(x[i] - y[i]) <= s / 2 * 1.0001)
        }
        #expect(Fixture.relError(x, y) < 0.01)
    }

    @Test func topkKeepsLargestExactly() throws {
        let x = Fixture.delta(Self.n, seed: 5)
        let y = try roundTrip(x, .topk(fraction: 0.05)).1
        let k = CodecSpec.topKCount(elements: x.count, fraction: 0.05)
        let kept = y.indices.filter { y[$0] != 0 }
        #expect(kept.count == k)
        for i in kept { #expect(y[i] == x[i]) }
        let smallestKept = kept.map { abs(x[$0]) }.min()!
        let largestDropped = x.indices.filter { y[$0] == 0 }.map { abs(x[$0]) }.max()!
        #expect(smallestKept >= largestDropped)
    }

    @Test func topkTiesKeepExactlyK() throws {
        let x = [Float](repeating: 0.5, count: 100)
        let y = try roundTrip(x, .topk(fraction: 0.1)).1
        #expect(y.filter { $0 != 0 }.count == 10)
        #expect(Array(y[0..<10]) == [Float](repeating: 0.5, count: 10))  // first ties in index order
    }

    @Test(arguments: ["fp32", "fp16", "bf16", "int8", "int8:7", "topk:0.01"])
    func zeroAndConstantVectorsHaveNoNaN(codec: String) throws {
        let spec = try CodecSpec(parsing: codec)
        for x in [[Float](repeating: 0, count: 1000), [Float](repeating: -0.25, count: 1000), [Float(3)]] {
            let y = try roundTrip(x, spec).1
            #expect(y.allSatisfy { $0.isFinite })
            switch spec {
            case .topk: continue
            case .int8:  // bf16 scales rounded up: within half a step (≤ 1/254 relative) of the constant
                #expect(zip(x, y).allSatisfy { abs($0 - $1) <= abs($0) / 254 * 1.01 })
            default:  // zeros, −0.25 and 3 are exact in fp32, fp16 and bf16
                #expect(zip(x, y).allSatisfy { $0 == $1 })
            }
        }
    }

    @Test func reconstructionMatchesDecoderBitForBit() throws {
        let x = Fixture.delta(Self.n, seed: 6)
        for codec in [CodecSpec.fp16, .bf16, .int8(block: 256), .topk(fraction: 0.02)] {
            var rec = [Float](repeating: .nan, count: x.count)
            let data = try x.withUnsafeBufferPointer { xp in
                try rec.withUnsafeMutableBufferPointer { rp in
                    try UpdateEnvelope.encode(
                        values: xp, header: Fixture.header(codec, n: x.count), level: 1, reconstruction: rp)
                }
            }
            #expect(try UpdateEnvelope.decode(data, expecting: Fixture.expect(n: x.count)).values == rec)
        }
    }

    @Test func levelsAreConfigurable() throws {
        let x = Fixture.delta(Self.n, seed: 7)
        let (fast, y1) = try roundTrip(x, .int8(block: 256), level: 1)
        let (slow, y9) = try roundTrip(x, .int8(block: 256), level: 9)
        #expect(y1 == y9)
        #expect(slow.count <= fast.count)
    }

    @Test func encodeRejectsBadInput() {
        let h = Fixture.header(.int8(block: 256), n: 3)
        #expect(throws: CodecError.self) { try UpdateEnvelope.encode([1, .nan, 2], header: h) }
        #expect(throws: CodecError.self) { try UpdateEnvelope.encode([1, .infinity, 2], header: h) }
        #expect(throws: CodecError.self) { try UpdateEnvelope.encode([1, 2], header: h) }
        #expect(throws: CodecError.self) {
            try UpdateEnvelope.encode([1e5, 0, 0], header: Fixture.header(.fp16, n: 3))
        }
        #expect(throws: CodecError.self) {
            try UpdateEnvelope.encode([1, 0, 0], header: Fixture.header(.fp32, n: 3), level: 99)
        }
        for codec in [CodecSpec.fp32, .fp16, .bf16, .topk(fraction: 0.5)] {
            #expect(throws: CodecError.self) { try UpdateEnvelope.encode([0, .nan, 0], header: Fixture.header(codec, n: 3)) }
        }
    }

    /// Inflates an envelope's payload (test helper).
    func rawPayload(_ data: Data, codec: CodecSpec, n: Int) throws -> [UInt8] {
        let payload = Array(data[(data.startIndex + UpdateEnvelope.headerSize)...])
        var raw = [UInt8](repeating: 0, count: codec.rawPayloadSize(elements: n))
        try payload.withUnsafeBytes { p in
            try raw.withUnsafeMutableBytes { r in
                try Zstd.decompressExactly(p, into: r, context: Zstd.DecompressionContext())
            }
        }
        return raw
    }
}
