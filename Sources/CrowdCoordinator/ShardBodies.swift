import CrowdCodec
import CrowdData
import CrowdEngine
import Foundation

/// The compressed form of a campaign's shards, as `GET /v1/shards/{id}` serves them (`CompressedShard`).
///
/// Each shard is compressed once, into `D/shards/<file>.zst` next to its raw file: by `coordinator init`
/// (`prepare`), or on its first download in a campaign made before compressed shards (`body`). A `.zst` file is
/// trusted only after it inflates to exactly the manifest's size and hashes to the shard's id; a missing or damaged
/// one is made again from the raw file, which is checked against the id first. The raw files stay: they are the
/// campaign's data (`shards verify`, evaluation, the verifier).
public enum ShardBodies {
    /// The `.zst` file of a shard file.
    public static func path(forShard file: String) -> String { file + ".zst" }

    /// The verified compressed body of `entry`, made (and written next to the shard) if missing or damaged.
    ///
    /// - Parameter directory: the campaign's shard directory.
    /// - Throws: `ShardError` if the raw shard is missing or does not hash to its id (the campaign's data is damaged:
    ///   `crowdtrain shards verify` names it), or an I/O error writing the `.zst` file.
    public static func body(for entry: ShardEntry, directory: String) throws -> Data {
        let raw = (directory as NSString).appendingPathComponent(entry.file)
        let zst = path(forShard: raw)
        if let stored = FileManager.default.contents(atPath: zst),
           let inflated = try? CompressedShard.decode(stored, expectedBytes: entry.bytes),
           ContentDigest.hex(inflated) == entry.id
        {
            return stored
        }
        guard let file = FileManager.default.contents(atPath: raw), file.count == entry.bytes,
              ContentDigest.hex(file) == entry.id
        else {
            throw ShardError(
                shard: entry.file, .checksumMismatch,
                "is missing, or its size or SHA-256 is not the manifest's; run `crowdtrain shards verify \(directory)`")
        }
        let body = try CompressedShard.encode(file)
        try AtomicFile.write(body, to: zst)
        return body
    }

    /// Compresses every training shard of `manifest` that has no valid `.zst` file yet (`coordinator init`). The
    /// evaluation shard is never served, so it is not compressed.
    /// - Returns: the compressed bytes of all training shards.
    @discardableResult
    public static func prepare(_ manifest: ShardManifest, directory: String) throws -> Int {
        try manifest.shards.reduce(0) { $0 + (try body(for: $1, directory: directory)).count }
    }
}
