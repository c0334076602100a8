import Foundation
import Testing

@testable import CrowdCodec

/// The wire form of shards (`CompressedShard`): one zstd frame with its content size, inflated with a hard bound.
@Suite struct CompressedShardTests {
    /// Shard-like bytes: a header-sized prefix, then mostly dark "pixels" with some structure (compressible).
    static func shardLike(count: Int, seed: UInt64) -> Data {
        var s = seed
        var out = Data(count: count)
        for i in 0..<count {
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            out[i] = i % 28 < 8 ? 0 : UInt8(truncatingIfNeeded: (s >> 56) & 0x3F)
        }
        return out
    }

    @Test func aShardRoundTripsAndShrinks() throws {
        let file = Self.shardLike(count: 200_000, seed: 7)
        let body = try CompressedShard.encode(file)
        #expect(body.count < file.count * 3 / 4, "\(body.count) bytes for \(file.count)")
        #expect(CompressedShard.declaredSize(body) == UInt64(file.count))
        #expect(try CompressedShard.decode(body, expectedBytes: file.count) == file)
        #expect(try CompressedShard.decode(body) == file)  // no size given: bounded by the default limit
        #expect(body.count <= CompressedShard.maxBodyBytes(fileBytes: file.count))
    }

    @Test func aDecompressionBombIsRefusedBeforeInflating() throws {
        // 64 MiB of zeros compress to a few KiB: a small body that declares (and would inflate to) 64 MiB.
        let bomb = Data(Zstd.frame([UInt8](repeating: 0, count: 64 << 20), level: 3))
        #expect(bomb.count < 64 << 10)
        let told = #expect(throws: CodecError.self) { try CompressedShard.decode(bomb, expectedBytes: 7_850_080) }
        #expect(told?.code == .sizeMismatch)
        #expect(told?.message.contains("declares 67108864 bytes uncompressed, the lease says 7850080") == true)
        let capped = #expect(throws: CodecError.self) { try CompressedShard.decode(bomb, limit: 1 << 20) }
        #expect(capped?.code == .sizeMismatch)
        #expect(capped?.message.contains("more than the 1048576-byte limit") == true)
        // A frame that hides its content size is refused unread too (it could inflate to anything).
        let hidden = Data(Zstd.frame([UInt8](repeating: 1, count: 4096), contentSize: false))
        let unknown = #expect(throws: CodecError.self) { try CompressedShard.decode(hidden) }
        #expect(unknown?.code == .badFrame)
    }

    @Test func aCorruptOrForeignBodyIsRefusedWithAClearError() throws {
        let file = Self.shardLike(count: 50_000, seed: 3)
        let body = try CompressedShard.encode(file)
        // Truncated: the frame ends early.
        let cut = #expect(throws: CodecError.self) {
            try CompressedShard.decode(body.prefix(body.count / 2), expectedBytes: file.count)
        }
        #expect(cut?.code == .badFrame)
        // Trailing garbage after the frame.
        let padded = #expect(throws: CodecError.self) {
            try CompressedShard.decode(body + Data([1, 2, 3]), expectedBytes: file.count)
        }
        #expect(padded?.message.contains("exactly one frame is allowed") == true)
        // A raw shard file (an older coordinator) or any other bytes: not a zstd frame.
        let raw = #expect(throws: CodecError.self) { try CompressedShard.decode(Data("CRWDSHRD....".utf8)) }
        #expect(raw?.code == .badFrame && raw?.message.contains("not a zstd frame") == true)
        // Bit flips inside the compressed blocks: zstd fails, or inflates other bytes (the caller's id check then
        // refuses them); never the original file.
        var flipped = body
        for i in stride(from: 20, to: flipped.count - 4, by: 97) { flipped[i] ^= 0x5A }
        do {
            let inflated = try CompressedShard.decode(flipped, expectedBytes: file.count)
            #expect(inflated != file)
        } catch let error as CodecError {
            #expect([.decompressionFailed, .badFrame, .sizeMismatch].contains(error.code))
        }
    }
}
