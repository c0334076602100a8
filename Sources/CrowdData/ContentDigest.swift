import CrowdEngine
import Crypto
import Foundation

/// The project's one content digest: SHA-256 of the bytes, raw or as lowercase hex. Model versions, shard ids, stored
/// update and credential hashes, and the artifact cache's keys are all this value of the bytes they name, so a name
/// computed on one side always matches the other.
public enum ContentDigest {
    /// Lowercase hex SHA-256 of `data` (64 characters).
    public static func hex(_ data: Data) -> String { Hex.lowercase(SHA256.hash(data: data)) }

    /// Raw SHA-256 of `data` (32 bytes).
    public static func bytes(_ data: Data) -> [UInt8] { Array(SHA256.hash(data: data)) }
}
