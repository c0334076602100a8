@testable import CrowdData
import Foundation
import Testing

@Suite struct ShardMakerTests {
    func tempDir() -> String {
        let p = NSTemporaryDirectory() + "shards-\(UUID().uuidString)"
        return p
    }

    @Test func imageShardsCoverTheDatasetAndVerify() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let train = ShardFileTests.images(25)
        let m = try ShardMaker.images(
            train: train, evaluation: ShardFileTests.images(5, seed: 9), shardSize: 10, workload: "fmnist-mlp", out: dir)
        #expect(m.shards.map(\.records) == [10, 10, 5])
        #expect(m.evaluation.records == 5)
        #expect(try ShardManifest.load(directory: dir) == m)
        var labels: [UInt8] = []
        for e in m.shards {
            guard case .images(let d) = try m.read(e, directory: dir) else { Issue.record("kind"); return }
            labels += d.labels
        }
        #expect(labels == train.labels)
        #expect(ShardVerifier.verify(directory: dir).isEmpty)
    }

    @Test func textShardsConcatenateToTheCorpus() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corpus = TextCorpus(bytes: (0..<1000).map { UInt8($0 % 251) })
        let (train, val) = corpus.split(trainFraction: 0.9)
        let m = try ShardMaker.text(train: train, evaluation: val, shardSize: 256, workload: "kjv-gpt", out: dir)
        #expect(m.shards.count == 4 && m.evaluation.records == 100)
        var bytes: [UInt8] = []
        for e in m.shards {
            guard case .text(let c) = try m.read(e, directory: dir) else { Issue.record("kind"); return }
            bytes += c.bytes
        }
        #expect(bytes == train.bytes)
        #expect(ShardVerifier.verify(directory: dir).isEmpty)
    }

    @Test func verifierNamesEachBadShard() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = try ShardMaker.images(
            train: ShardFileTests.images(30), evaluation: ShardFileTests.images(4), shardSize: 10,
            workload: "fmnist-mlp", out: dir)
        // Corrupt one byte of shard 0, truncate shard 2, swap the evaluation shard for shard 1's bytes.
        let p0 = (dir as NSString).appendingPathComponent(m.shards[0].file)
        var d0 = try Data(contentsOf: URL(fileURLWithPath: p0))
        d0[100] ^= 0x40
        try d0.write(to: URL(fileURLWithPath: p0))
        let p2 = (dir as NSString).appendingPathComponent(m.shards[2].file)
        try Data(try Data(contentsOf: URL(fileURLWithPath: p2)).prefix(50)).write(to: URL(fileURLWithPath: p2))
        let pe = (dir as NSString).appendingPathComponent(m.evaluation.file)
        try FileManager.default.removeItem(atPath: pe)
        try FileManager.default.copyItem(atPath: (dir as NSString).appendingPathComponent(m.shards[1].file), toPath: pe)
        let problems = ShardVerifier.verify(directory: dir)
        #expect(problems.map(\.shard) == [m.shards[0].file, m.shards[2].file, m.evaluation.file])
        #expect(throws: ShardError.self) { try m.read(m.shards[0], directory: dir) }
        #expect(try m.read(m.shards[1], directory: dir).records == 10)
    }

    @Test func badManifestIsAProblem() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(ShardVerifier.verify(directory: dir).map(\.shard) == ["manifest.json"])
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let entry = ShardEntry(id: String(repeating: "a", count: 64), file: "../etc/passwd", bytes: 1, records: 1)
        let m = ShardManifest(workload: "fmnist-mlp", shards: [entry], evaluation: entry)
        try m.write(directory: dir)
        #expect(throws: ShardError.self) { try ShardManifest.load(directory: dir) }
    }
}
