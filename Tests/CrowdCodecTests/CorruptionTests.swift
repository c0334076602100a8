@testable import CrowdCodec
import Foundation
import Testing

/// Hostile input: every corruption must be refused with a typed `CodecError` (never a crash, never values).
@Suite struct CorruptionTests {
    static let n = 600
    static let codecs: [CodecSpec] = [.fp32, .fp16, .bf16, .int8(block: 256), .int8(block: 32), .topk(fraction: 0.05)]

    func valid(_ codec: CodecSpec) throws -> Data {
        try UpdateEnvelope.encode(Fixture.delta(Self.n, seed: 9), header: Fixture.header(codec, n: Self.n))
    }

    func refused(_ data: Data) -> CodecError? {
        do {
            _ = try UpdateEnvelope.decode(data, expecting: Fixture.expect(n: Self.n))
            return nil
        } catch let e as CodecError {
            return e
        } catch {
            return nil
        }
    }

    @Test(arguments: codecs)
    func everySingleBitFlipIsRefused(codec: CodecSpec) throws {
        let good = try valid(codec)
        var rng = TestRNG(seed: 100)
        // Every header bit, plus random payload bits.
        var positions = Array(0..<(UpdateEnvelope.headerSize * 8))
        for _ in 0..<200 { positions.append(UpdateEnvelope.headerSize * 8 + rng.int((good.count - UpdateEnvelope.headerSize) * 8)) }
        for bit in positions {
            var bad = good
            bad[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(refused(bad) != nil, "bit \(bit) flipped was accepted")
        }
    }

    @Test(arguments: codecs)
    func everyTruncationIsRefused(codec: CodecSpec) throws {
        let good = try valid(codec)
        for len in stride(from: 0, to: good.count, by: max(1, good.count / 150)) {
            let e = refused(good.prefix(len))
            #expect(e?.code == (len < 4 ? .badMagic : .truncated), "length \(len): \(String(describing: e))")
        }
    }

    @Test func trailingGarbageIsRefused() throws {
        var bad = try valid(.int8(block: 256))
        bad.append(contentsOf: [0, 1, 2])
        #expect(refused(bad)?.code == .trailingBytes)
    }

    @Test func headerFieldsMustMatchExpectation() throws {
        let good = try valid(.int8(block: 256))
        let e = Fixture.expect(n: Self.n)
        #expect(Fixture.fails(good, EnvelopeExpectation(schemaHash: 1, round: 7, baseModel: e.baseModel, elementCount: Self.n), .schemaMismatch))
        #expect(Fixture.fails(good, EnvelopeExpectation(schemaHash: 42, round: 8, baseModel: e.baseModel, elementCount: Self.n), .roundMismatch))
        #expect(Fixture.fails(good, EnvelopeExpectation(schemaHash: 42, round: 7, baseModel: [UInt8](repeating: 0, count: 32), elementCount: Self.n), .baseModelMismatch))
        #expect(Fixture.fails(good, Fixture.expect(n: Self.n + 1), .elementCountMismatch))
        var magic = good
        magic[0] = UInt8(ascii: "X")
        #expect(refused(magic)?.code == .badMagic)
        var version = good
        version[4] = 2
        #expect(refused(version)?.code == .unsupportedVersion)
        var codec = good
        codec[6] = 9
        #expect(refused(codec)?.code == .unknownCodec)
    }

    @Test func declaredRawSizeMustMatchCodec() throws {
        var bad = try valid(.fp32)
        bad.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(4 * Self.n + 4).littleEndian, toByteOffset: 72, as: UInt64.self) }
        #expect(refused(bad)?.code == .sizeMismatch)
    }

    @Test func frameContentSizeMustMatch() {
        // A valid frame of a different size behind an otherwise valid header and checksum.
        let raw = [UInt8](repeating: 0, count: 4 * Self.n - 4)
        let d = UpdateEnvelope.assemble(Fixture.header(.fp32, n: Self.n), rawSize: 4 * Self.n, payload: Zstd.frame(raw))
        #expect(refused(d)?.code == .sizeMismatch)
    }

    @Test func frameWithoutContentSizeIsRefused() {
        let raw = [UInt8](repeating: 0, count: 4 * Self.n)
        let d = UpdateEnvelope.assemble(
            Fixture.header(.fp32, n: Self.n), rawSize: raw.count, payload: Zstd.frame(raw, contentSize: false))
        #expect(refused(d)?.code == .badFrame)
    }

    @Test func severalFramesAreRefused() {
        let raw = [UInt8](repeating: 0, count: 4 * Self.n)
        let two = Zstd.frame(raw) + Zstd.frame([1, 2, 3])
        let d = UpdateEnvelope.assemble(Fixture.header(.fp32, n: Self.n), rawSize: raw.count, payload: two)
        #expect(refused(d)?.code == .badFrame)
        let garbage = Zstd.frame(raw) + [0xFF, 0xFE]
        let g = UpdateEnvelope.assemble(Fixture.header(.fp32, n: Self.n), rawSize: raw.count, payload: garbage)
        #expect(refused(g)?.code == .badFrame)
        let notZstd = UpdateEnvelope.assemble(Fixture.header(.fp32, n: Self.n), rawSize: raw.count, payload: [1, 2, 3, 4, 5])
        #expect(refused(notZstd)?.code == .badFrame)
    }

    @Test func oversizedWindowIsRefused() {
        // Rewrite a single-segment frame header into one that declares a 2³⁰-byte window.
        let n = 20_000
        let raw = [UInt8](repeating: 0, count: 4 * n)
        var f = Zstd.frame(raw)
        let fhd = f[4]
        #expect(fhd & 0x20 != 0 && fhd >> 6 == 2)  // single segment, 4-byte content size
        f[4] = fhd & ~0x20
        f.insert(20 << 3, at: 5)  // window descriptor: exponent 20 → windowLog 30
        let d = UpdateEnvelope.assemble(Fixture.header(.fp32, n: n), rawSize: raw.count, payload: f)
        #expect(Fixture.fails(d, Fixture.expect(n: n), .badFrame))
        f[4] |= 0x01  // dictionary id flag
        let dict = UpdateEnvelope.assemble(Fixture.header(.fp32, n: n), rawSize: raw.count, payload: f)
        #expect(Fixture.fails(dict, Fixture.expect(n: n), .badFrame))
    }

    @Test func nonFiniteValuesInPayloadsAreRefused() {
        let n = 8
        var f32 = [UInt8](repeating: 0, count: 4 * n)
        f32[4 * 3 + 2] = 0xC0; f32[4 * 3 + 3] = 0x7F  // NaN at index 3
        #expect(Fixture.fails(Fixture.envelope(raw: f32, codec: .fp32, n: n), Fixture.expect(n: n), .nonFiniteValue))
        var f16 = [UInt8](repeating: 0, count: 2 * n)
        f16[1] = 0x7C  // +Inf
        #expect(Fixture.fails(Fixture.envelope(raw: f16, codec: .fp16, n: n), Fixture.expect(n: n), .nonFiniteValue))
        var b16 = [UInt8](repeating: 0, count: 2 * n)
        b16[2 * 5] = 0xC0; b16[2 * 5 + 1] = 0xFF  // −NaN
        #expect(Fixture.fails(Fixture.envelope(raw: b16, codec: .bf16, n: n), Fixture.expect(n: n), .nonFiniteValue))
    }

    @Test(arguments: [UInt16(0x7F80), 0x7FC0, 0xFF80, 0xBF80, 0x7F7F])
    func badInt8ScalesAreRefused(scaleBits: UInt16) {
        // Inf, NaN, −Inf, −1, and the largest finite bf16 (whose ×127 overflows).
        let n = 10
        var raw = [UInt8](repeating: 1, count: 2 + n)
        raw[0] = UInt8(scaleBits & 0xFF); raw[1] = UInt8(scaleBits >> 8)
        let d = Fixture.envelope(raw: raw, codec: .int8(block: 256), n: n)
        #expect(Fixture.fails(d, Fixture.expect(n: n), .nonFiniteValue))
    }

    @Test func int8CodeMinus128IsRefused() {
        let n = 10
        var raw = [UInt8](repeating: 1, count: 2 + n)
        raw[0] = 0x80; raw[1] = 0x3F  // scale 1.0
        raw[2 + 4] = 0x80
        #expect(Fixture.fails(Fixture.envelope(raw: raw, codec: .int8(block: 256), n: n), Fixture.expect(n: n), .quantOutOfRange))
    }

    func topk(_ gaps: [UInt32], n: Int) -> Data {
        var raw: [UInt8] = []
        for g in gaps { withUnsafeBytes(of: g.littleEndian) { raw += $0 } }
        for _ in gaps { withUnsafeBytes(of: Float(1).bitPattern.littleEndian) { raw += $0 } }
        return Fixture.envelope(raw: raw, codec: .topk(fraction: Double(gaps.count) / Double(n)), n: n)
    }

    @Test func topkIndicesMustBeInRangeAndIncreasing() throws {
        let n = 10
        let ok = topk([1, 2, 3], n: n)  // indices 1, 3, 6
        #expect(try UpdateEnvelope.decode(ok, expecting: Fixture.expect(n: n)).values == [0, 1, 0, 1, 0, 0, 1, 0, 0, 0])
        #expect(Fixture.fails(topk([1, 0, 3], n: n), Fixture.expect(n: n), .badIndices))  // repeated
        #expect(Fixture.fails(topk([5, UInt32.max - 1, 1], n: n), Fixture.expect(n: n), .badIndices))  // going backwards
        #expect(Fixture.fails(topk([1, 2, 7], n: n), Fixture.expect(n: n), .badIndices))  // index 10 ≥ n
        #expect(Fixture.fails(topk([10, 1, 1], n: n), Fixture.expect(n: n), .badIndices))  // first out of range
    }

    @Test func randomByteCorruptionNeverCrashes() throws {
        var rng = TestRNG(seed: 5)
        for codec in Self.codecs {
            let good = try valid(codec)
            for _ in 0..<100 {
                var bad = good
                for _ in 0..<(1 + rng.int(4)) { bad[rng.int(bad.count)] = UInt8(truncatingIfNeeded: rng.next()) }
                if bad == good { continue }
                #expect(refused(bad) != nil)
            }
        }
    }

    @Test func messagesAreReadable() {
        let e = CodecError(.badIndices, "top-k index #2 is 10")
        #expect(e.description.contains("bad_indices"))
        #expect(e.description.contains("top-k index"))
    }
}
