/// A shard or manifest was refused: the message names the shard and says what to do.
public struct ShardError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable failure categories.
    public enum Code: String, Sendable {
        /// The file is not a shard (magic), or a version this build cannot read.
        case badHeader = "bad_header"
        /// The file is shorter or longer than its header says.
        case badSize = "bad_size"
        /// The embedded SHA-256 or the content id does not match (corrupt or mislabelled shard).
        case checksumMismatch = "checksum_mismatch"
        /// A record is invalid (e.g. a label outside the class range).
        case badRecord = "bad_record"
        /// The manifest is missing, unreadable or inconsistent.
        case badManifest = "bad_manifest"
        /// The file could not be read or written.
        case io
    }

    /// The shard file name (or `manifest.json`).
    public let shard: String
    public let code: Code
    public let message: String

    public init(shard: String, _ code: Code, _ message: String) {
        self.shard = shard
        self.code = code
        self.message = message
    }

    public var description: String { "shard \(shard): \(message)" }
}
