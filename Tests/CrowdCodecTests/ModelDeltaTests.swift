@testable import CrowdCodec
import Foundation
import Testing

/// Round deltas (`ModelDelta`, `GridStep`): bit-identical rebuilds, the grid's error bound, the size the issue asks
/// for, and every way a hostile delta is refused.
@Suite struct ModelDeltaTests {
    static let v0 = [UInt8](repeating: 1, count: 32)
    static let v1 = [UInt8](repeating: 2, count: 32)
    static let prefix = Data("CRWDCKPT header bytes".utf8)

    static func params(_ n: Int, seed: UInt64, scale: Float = 0.1) -> [Float] {
        var rng = TestRNG(seed: seed)
        return (0..<n).map { _ in rng.normal() * scale }
    }

    static func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

    @Test func aGridDeltaRebuildsTheStepBitForBit() throws {
        var base = Self.params(10_000, seed: 1)
        base[3] = -0.0
        base[4] = 1e30
        base[5] = 1e-40  // subnormal
        var wanted = base
        var rng = TestRNG(seed: 2)
        for i in wanted.indices { wanted[i] += rng.normal() * 1e-3 }
        let step = GridStep.nearest(from: base, to: wanted)
        let target = step.apply(to: base)
        let delta = try ModelDelta.grid(step, baseVersion: Self.v0, targetVersion: Self.v1, targetPrefix: Self.prefix)
        let decoded = try ModelDelta.decode(delta.encoded())
        #expect(decoded == delta)
        #expect(Self.bits(try decoded.apply(to: base)) == Self.bits(target))
        #expect(decoded.prefix == Self.prefix && decoded.encoding == .grid8 && decoded.count == base.count)
    }

    @Test func theGridLandsWithinHalfAStepOfWhereTheOptimizerWanted() {
        let base = Self.params(4096, seed: 3)
        var rng = TestRNG(seed: 4)
        let wanted = base.map { $0 + rng.normal() * 0.01 }
        let step = GridStep.nearest(from: base, to: wanted)
        let landed = step.apply(to: base)
        for b in 0..<(base.count / step.blockSize) {
            let r = (b * step.blockSize)..<((b + 1) * step.blockSize)
            let m = r.map { abs(wanted[$0] - base[$0]) }.max()!
            for i in r {
                // m/254 from rounding to nearest, plus float32 rounding of the fused step and of the wanted value.
                #expect(abs(landed[i] - wanted[i]) <= m / 254 * 1.01 + 4 * Float.ulpOfOne * abs(wanted[i]))
            }
        }
    }

    @Test func aGridDeltaIsAtMostAThirdOfTheModelAndAnXorDeltaIsLossless() throws {
        let n = 100_000
        let base = Self.params(n, seed: 5)
        var rng = TestRNG(seed: 6)
        let wanted = base.map { $0 + rng.normal() * 1e-3 }
        let grid = try ModelDelta.grid(
            GridStep.nearest(from: base, to: wanted), baseVersion: Self.v0, targetVersion: Self.v1, targetPrefix: Self.prefix)
        let modelBytes = 4 * n
        let gridBytes = grid.encoded().count
        // Int8 steps of Gaussian moves plus a scale per 64: about 27 % before zstd, under 30 % after.
        #expect(Double(gridBytes) / Double(modelBytes) < 0.30, "grid8 delta \(gridBytes) of \(modelBytes) bytes")
        // The control: the same move as exact floats, XOR-encoded, costs much more (float noise).
        let xor = try ModelDelta.xor(base: base, target: wanted, baseVersion: Self.v0, targetVersion: Self.v1, targetPrefix: Self.prefix)
        #expect(xor.encoded().count > 2 * gridBytes, "xor \(xor.encoded().count) against grid \(gridBytes)")
        #expect(Self.bits(try ModelDelta.decode(xor.encoded()).apply(to: base)) == Self.bits(wanted))
    }

    @Test func anXorDeltaCarriesAnyBitPatternExactly() throws {
        var rng = TestRNG(seed: 7)
        let base = (0..<777).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let target = (0..<777).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        let delta = try ModelDelta.xor(base: base, target: target, baseVersion: Self.v0, targetVersion: Self.v1, targetPrefix: Data())
        #expect(Self.bits(try ModelDelta.decode(delta.encoded()).apply(to: base)) == Self.bits(target))
    }

    static func sample() throws -> (ModelDelta, [Float]) {
        let base = Self.params(1000, seed: 8)
        var rng = TestRNG(seed: 9)
        let step = GridStep.nearest(from: base, to: base.map { $0 + rng.normal() * 1e-2 })
        return (try ModelDelta.grid(step, baseVersion: Self.v0, targetVersion: Self.v1, targetPrefix: Self.prefix), base)
    }

    static func refused(_ bytes: Data, _ code: CodecError.Code, base: [Float]? = nil) {
        do {
            let d = try ModelDelta.decode(bytes)
            if let base { _ = try d.apply(to: base) }
            Issue.record("a hostile delta was accepted (expected \(code))")
        } catch let e as CodecError {
            #expect(e.code == code, "\(e)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func hostileDeltasAreRefusedWithTheirReason() throws {
        let (delta, base) = try Self.sample()
        let good = delta.encoded()
        // Truncated anywhere, or with bytes after it.
        for cut in [0, 7, 30, 90, good.count - 1] { Self.refused(good.prefix(cut), cut < 8 ? .badMagic : .truncated) }
        Self.refused(good + Data([0]), .trailingBytes)
        var magic = good
        magic[0] ^= 0xFF
        Self.refused(magic, .badMagic)
        var version = good
        version[8] = 9
        Self.refused(version, .unsupportedVersion)
        var encoding = good
        encoding[76] = 7
        Self.refused(encoding, .unknownCodec)
        var reserved = good
        reserved[77] = 1
        Self.refused(reserved, .unknownCodec)
        var block = good
        block.replaceSubrange(80..<84, with: [0, 0, 0, 0])
        Self.refused(block, .badCodecParameters)
        var prefixLength = good
        prefixLength.replaceSubrange(92..<96, with: withUnsafeBytes(of: UInt32(2 << 20).littleEndian) { Data($0) })
        Self.refused(prefixLength, .sizeMismatch)
        // A base of another size, a frame of another size, a NaN scale, the step −128.
        Self.refused(good, .elementCountMismatch, base: Array(base.dropLast()))
        var resized = delta
        resized.frame = Data(Zstd.frame([UInt8](repeating: 0, count: 100)))
        Self.refused(resized.encoded(), .sizeMismatch, base: base)
        var nan = delta
        var raw = try ModelDelta.inflate(delta.frame, exactly: 4 * 16 + 1000)
        raw.replaceSubrange(0..<4, with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian) { Array($0) })
        nan.frame = Data(Zstd.frame(raw))
        Self.refused(nan.encoded(), .nonFiniteValue, base: base)
        var minStep = delta
        raw = try ModelDelta.inflate(delta.frame, exactly: 4 * 16 + 1000)
        raw[4 * 16 + 5] = 0x80
        minStep.frame = Data(Zstd.frame(raw))
        Self.refused(minStep.encoded(), .quantOutOfRange, base: base)
    }
}
