import CrowdEngine
import Foundation

/// Cuts datasets into content-addressed shards and writes `manifest.json`.
public enum ShardMaker {
    /// Writes image shards of `shardSize` images each (the last may be smaller) plus one evaluation shard.
    public static func images(
        train: ImageDataset, evaluation: ImageDataset, shardSize: Int, workload: String, out: String
    ) throws -> ShardManifest {
        precondition(shardSize > 0, "shardSize must be positive")
        var payloads: [ShardPayload] = []
        var start = 0
        while start < train.count {
            let end = min(start + shardSize, train.count)
            let f = train.features
            payloads.append(
                .images(
                    ImageDataset(
                        count: end - start, rows: train.rows, cols: train.cols,
                        pixels: Array(train.pixels[(start * f)..<(end * f)]), labels: Array(train.labels[start..<end]))))
            start = end
        }
        return try write(train: payloads, evaluation: .images(evaluation), workload: workload, out: out)
    }

    /// Writes text shards of `shardSize` bytes each (the last may be smaller) plus one evaluation shard.
    public static func text(
        train: TextCorpus, evaluation: TextCorpus, shardSize: Int, workload: String, out: String
    ) throws -> ShardManifest {
        precondition(shardSize > 0, "shardSize must be positive")
        var payloads: [ShardPayload] = []
        var start = 0
        while start < train.count {
            let end = min(start + shardSize, train.count)
            payloads.append(.text(TextCorpus(bytes: Array(train.bytes[start..<end]))))
            start = end
        }
        return try write(train: payloads, evaluation: .text(evaluation), workload: workload, out: out)
    }

    static func write(train: [ShardPayload], evaluation: ShardPayload, workload: String, out: String) throws
        -> ShardManifest
    {
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw ShardError(shard: out, .io, "cannot create directory \(out): \(error)")
        }
        func put(_ p: ShardPayload, _ file: String) throws -> ShardEntry {
            let data = ShardFile.encode(p)
            let path = (out as NSString).appendingPathComponent(file)
            do {
                try AtomicFile.write(data, to: path)
            } catch {
                throw ShardError(shard: file, .io, "cannot write \(path): \(error)")
            }
            return ShardEntry(id: ShardFile.id(of: data), file: file, bytes: data.count, records: p.records)
        }
        var entries: [ShardEntry] = []
        for (i, p) in train.enumerated() {
            entries.append(try put(p, String(format: "train-%05d.shard", i)))
        }
        let eval = try put(evaluation, "eval.shard")
        let manifest = ShardManifest(workload: workload, shards: entries, evaluation: eval)
        try manifest.write(directory: out)
        return manifest
    }
}
