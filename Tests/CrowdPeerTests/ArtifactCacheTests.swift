import CrowdCodec
import CrowdData
import Foundation
import Testing

@testable import CrowdPeer

/// The peer's artifact cache: compressed shards are inflated and verified, damaged files are fetched again, and the
/// cache stays within `cacheBytes` by evicting the least recently used files, never those of the lease in progress.
@Suite struct ArtifactCacheTests {
    let paths: PeerPaths

    init() throws {
        paths = PeerPaths(root: NSTemporaryDirectory() + "crowdpeer-cache-\(UInt64.random(in: 0...UInt64.max))")
        try paths.create()
    }

    /// A shard-sized file with distinct bytes per `seed`, and its id.
    static func file(_ seed: UInt8, bytes: Int = 10_000) -> (id: String, data: Data) {
        var d = Data(count: bytes)
        for i in 0..<bytes { d[i] = UInt8(truncatingIfNeeded: i / 7) &+ seed }
        return (ContentDigest.hex(d), d)
    }

    /// Sets a cached file's last use (its modification time) to `seconds` after an arbitrary origin.
    func setUsed(_ kind: ArtifactCache.Kind, _ id: String, _ seconds: Double, _ cache: ArtifactCache) throws {
        try FileManager.default.setAttributes(
            [.modificationDate: Date(timeIntervalSince1970: 1_700_000_000 + seconds)],
            ofItemAtPath: cache.path(kind, id))
    }

    /// A downloader that counts its calls.
    final class Downloads: @unchecked Sendable {
        var calls = 0
        let body: Data
        init(_ body: Data) { self.body = body }
        func next() -> Data {
            calls += 1
            return body
        }
    }

    @Test func aCompressedShardIsInflatedVerifiedAndThenServedFromTheCache() async throws {
        let cache = ArtifactCache(paths: paths)
        let shard = Self.file(1, bytes: 50_000)
        let wire = Downloads(try CompressedShard.encode(shard.data))
        let first = try await cache.fetch(.shard, shard.id, expectedBytes: shard.data.count) { wire.next() }
        #expect(first.data == shard.data && first.downloadedBytes == wire.body.count && wire.body.count < 50_000)
        let second = try await cache.fetch(.shard, shard.id, expectedBytes: shard.data.count) { wire.next() }
        #expect(second.data == shard.data && second.downloadedBytes == 0 && wire.calls == 1)
    }

    @Test func aDamagedCacheFileIsDeletedAndFetchedAgain() async throws {
        let cache = ArtifactCache(paths: paths)
        let shard = Self.file(2)
        let wire = Downloads(try CompressedShard.encode(shard.data))
        _ = try await cache.fetch(.shard, shard.id) { wire.next() }
        // One flipped byte on disk (a bad sector, a stray write).
        var damaged = try #require(FileManager.default.contents(atPath: cache.path(.shard, shard.id)))
        damaged[damaged.count / 2] ^= 0xFF
        try damaged.write(to: URL(fileURLWithPath: cache.path(.shard, shard.id)))
        #expect(cache.get(.shard, shard.id) == nil)
        #expect(!FileManager.default.fileExists(atPath: cache.path(.shard, shard.id)), "the damaged file is removed")
        let again = try await cache.fetch(.shard, shard.id) { wire.next() }
        #expect(again.data == shard.data && again.downloadedBytes > 0 && wire.calls == 2)
        #expect(cache.get(.shard, shard.id) == shard.data)
    }

    @Test func aBombOrACorruptBodyIsRefusedAndNotCached() async throws {
        let cache = ArtifactCache(paths: paths)
        let shard = Self.file(3)
        let bomb = try CompressedShard.encode(Data(count: 32 << 20), level: 3)  // 32 MiB of zeros: a few kB
        let refused = await #expect(throws: PeerError.self) {
            _ = try await cache.fetch(.shard, shard.id, expectedBytes: shard.data.count) { bomb }
        }
        let refusal = refused.map { "\($0)" } ?? ""
        #expect(refusal.contains("declares 33554432 bytes uncompressed, the lease says 10000"))
        // A well-formed frame of other bytes (a corrupt or swapped shard): inflates, then fails the id check.
        let other = try CompressedShard.encode(Self.file(4).data)
        let wrong = await #expect(throws: PeerError.self) {
            _ = try await cache.fetch(.shard, shard.id, expectedBytes: shard.data.count) { other }
        }
        #expect("\(wrong.map { "\($0)" } ?? "")".contains("corrupted in transit; it will be fetched again"))
        #expect(cache.entries().isEmpty, "nothing refused is stored")
    }

    @Test func theCacheEvictsLeastRecentlyUsedBeyondItsBoundButKeepsTheLeaseInProgress() throws {
        // Room for three 10 kB shards and a little more.
        var cache = ArtifactCache(paths: paths, limitBytes: 35_000)
        let a = Self.file(10), b = Self.file(11), c = Self.file(12), d = Self.file(13), e = Self.file(14)
        try cache.put(.shard, a.id, a.data)
        try cache.put(.shard, b.id, b.data)
        try cache.put(.shard, c.id, c.data)
        try setUsed(.shard, a.id, 1, cache)
        try setUsed(.shard, b.id, 2, cache)
        try setUsed(.shard, c.id, 3, cache)
        #expect(cache.get(.shard, a.id) == a.data)  // a is now the most recently used
        // d joins: over the bound by one file; b is the least recently used.
        try cache.put(.shard, d.id, d.data)
        #expect(Set(cache.heldShards(limit: 10)) == [a.id, c.id, d.id])
        #expect(cache.totalBytes <= 35_000)
        // e joins while the lease in progress uses the two oldest (c, then a): they stay, d goes.
        try setUsed(.shard, c.id, 4, cache)
        try setUsed(.shard, a.id, 5, cache)
        try setUsed(.shard, d.id, 6, cache)
        try cache.put(.shard, e.id, e.data, keeping: [c.id, a.id])
        #expect(Set(cache.heldShards(limit: 10)) == [a.id, c.id, e.id])
        // A bound below the lease's own files: they are kept anyway, everything else goes.
        cache.limitBytes = 5_000
        #expect(Set(cache.trim(keeping: [e.id])) == [a.id, c.id])
        #expect(cache.heldShards(limit: 10) == [e.id])
        // Models count towards the same bound.
        cache.limitBytes = 25_000
        let m = Self.file(20)
        try cache.put(.model, m.id, m.data, keeping: [m.id])
        try cache.put(.shard, a.id, a.data, keeping: [a.id, m.id])
        #expect(cache.get(.model, m.id) == m.data && cache.get(.shard, a.id) == a.data)
        #expect(cache.get(.shard, e.id) == nil, "the older shard made room")
    }

    @Test func heldShardsAreTheNewestFirstAndBounded() throws {
        let cache = ArtifactCache(paths: paths)
        let files = (0..<5).map { Self.file(UInt8(30 + $0)) }
        for (i, f) in files.enumerated() {
            try cache.put(.shard, f.id, f.data)
            try setUsed(.shard, f.id, Double(i), cache)
        }
        // Stray files in the cache directory are not shards the peer holds.
        try Data("x".utf8).write(to: URL(fileURLWithPath: paths.shardCache + "/not-a-digest.shard"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: paths.shardCache + "/.tmp-123"))
        #expect(cache.heldShards(limit: 3) == [files[4].id, files[3].id, files[2].id])
        #expect(cache.heldShards(limit: 100).count == 5)
    }
}
