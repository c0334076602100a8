import CrowdData
import Foundation
import Testing
@testable import CrowdEngine

/// Checkpoint write/read round trip, and refusal of damaged or mismatched files.
struct CheckpointTests {
    static func tempDir() throws -> String {
        let dir = NSTemporaryDirectory() + "crowdtrain-ckpt-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func roundTripRestoresTheModel() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = MLPConfig(inputs: 6, hidden: [5], classes: 3)
        let m = MLP(config: config, seed: 1)
        let path = dir + "/m.ckpt"
        try Checkpoint(model: m, metadata: ["epoch": "2"]).write(to: path)
        let c = try Checkpoint.read(from: path)
        #expect(c.kind == "mlp" && c.metadata == ["epoch": "2"] && c.schemaHash == m.layout.schemaHash)
        #expect(try JSONDecoder().decode(MLPConfig.self, from: c.configJSON) == config)
        let other = MLP(config: config, seed: 2)
        #expect(other.params.toArray() != m.params.toArray())
        try c.load(into: other)
        #expect(other.params.toArray() == m.params.toArray())
    }

    /// zlib's CRC-32 (the peer state files' checksum) against the standard check value and in pieces.
    @Test func crc32MatchesTheStandardCheckValue() {
        let digits = Array("123456789".utf8)
        #expect(digits.withUnsafeBytes { CRC32.checksum($0) } == 0xCBF4_3926)
        let whole = Array(repeating: UInt8(0xA5), count: 100_000)
        let first = whole[..<40_000].withUnsafeBytes { CRC32.checksum($0) }
        #expect(whole[40_000...].withUnsafeBytes { CRC32.checksum($0, seed: first) } == whole.withUnsafeBytes { CRC32.checksum($0) })
    }

    /// `digestVerified` (bytes whose SHA-256 the caller checked) skips only the FNV trailer: a bad trailer decodes
    /// (control: refused without the flag), a structural fault is refused either way.
    @Test func aDigestVerifiedDecodeSkipsOnlyTheTrailer() throws {
        let m = MLP(config: MLPConfig(inputs: 4, hidden: [3], classes: 2), seed: 3)
        let good = try Checkpoint(model: m, metadata: [:]).encoded()
        var trailer = good
        trailer[trailer.count - 1] ^= 0xFF
        #expect(throws: CheckpointError.self) { try Checkpoint.decode(trailer) }
        #expect(try Checkpoint.decode(trailer, digestVerified: true).params == m.params.toArray())
        let short = good.prefix(good.count - 12) + good.suffix(8)
        #expect(throws: CheckpointError.self) { try Checkpoint.decode(Data(short), digestVerified: true) }
    }

    @Test func damagedFilesAreRefused() throws {
        let m = MLP(config: MLPConfig(inputs: 4, hidden: [3], classes: 2), seed: 1)
        let good = try Checkpoint(model: m).encoded()
        var flipped = good
        flipped[good.count / 2] ^= 0x01
        var badMagic = good
        badMagic[0] = UInt8(ascii: "X")
        for (bytes, expected) in [
            (flipped, "checksum"), (good.prefix(good.count - 3), "checksum"), (badMagic, "bad magic"),
            (good.prefix(5), "bad magic"), (Data(), "bad magic"),
        ] {
            do {
                _ = try Checkpoint.decode(Data(bytes), path: "x.ckpt")
                Issue.record("a damaged checkpoint was accepted (\(expected))")
            } catch let e as CheckpointError {
                #expect(e.description.contains(expected) && e.description.contains("x.ckpt"), "\(e)")
            }
        }
    }

    @Test func mismatchedModelIsRefused() throws {
        let small = MLP(config: MLPConfig(inputs: 4, hidden: [3], classes: 2), seed: 1)
        let other = MLP(config: MLPConfig(inputs: 4, hidden: [5], classes: 2), seed: 1)
        let c = try Checkpoint(model: small)
        #expect(throws: CheckpointError.self) { try c.load(into: other) }
        var wrongKind = c
        wrongKind.kind = "gpt"
        #expect(throws: CheckpointError.self) { try wrongKind.load(into: small) }
    }
}
