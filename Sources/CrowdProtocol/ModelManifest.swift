import Foundation

/// What a model version is made of (`GET /v1/models/{version}/manifest`, Docs/Protocol.md "Model distribution"):
/// the checkpoint cut into content-addressed chunks, and the round deltas that lead to it from the versions the
/// coordinator still keeps. It travels signed (`SignedManifest`) with the key the peer pinned at join.
public struct ModelManifest: Codable, Sendable, Equatable {
    /// Manifest format this build writes and reads.
    public static let currentFormat = 1
    /// Chunk size the coordinator cuts checkpoints into (the last chunk is shorter).
    public static let chunkBytes = 1 << 20
    /// Most chunks or deltas a manifest may list (a 16 GiB model; bounds what a peer parses).
    public static let maxEntries = 16_384

    /// One piece of the checkpoint: bytes `offset ..< offset + bytes`, named by their SHA-256.
    public struct Chunk: Codable, Sendable, Equatable {
        public var digest: String
        public var offset: Int
        public var bytes: Int
        public init(digest: String, offset: Int, bytes: Int) { self.digest = digest; self.offset = offset; self.bytes = bytes }
    }

    /// One round delta (`ModelDelta`): rebuilds `to` from `from`; named by the SHA-256 of its bytes.
    public struct Delta: Codable, Sendable, Equatable {
        public var from: String
        public var to: String
        public var round: UInt64
        public var digest: String
        public var bytes: Int
        /// `grid8` or `xor`.
        public var encoding: String
        public init(from: String, to: String, round: UInt64, digest: String, bytes: Int, encoding: String) {
            self.from = from; self.to = to; self.round = round; self.digest = digest; self.bytes = bytes
            self.encoding = encoding
        }
    }

    public var format: Int
    /// The campaign (a manifest of one campaign is not accepted by a peer of another).
    public var campaign: String
    /// SHA-256 hex of the checkpoint bytes.
    public var version: String
    /// The round that produced it (0: the initial model).
    public var round: UInt64
    /// Size of the checkpoint.
    public var bytes: Int
    public var chunks: [Chunk]
    /// The deltas of the last rounds, oldest first; the last one's `to` is `version`.
    public var deltas: [Delta]

    public init(
        format: Int = currentFormat, campaign: String, version: String, round: UInt64, bytes: Int, chunks: [Chunk],
        deltas: [Delta]
    ) {
        self.format = format; self.campaign = campaign; self.version = version; self.round = round
        self.bytes = bytes; self.chunks = chunks; self.deltas = deltas
    }

    /// Whether `text` is a lowercase SHA-256 hex digest.
    public static func isDigest(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Checks the manifest's own consistency (every name a digest, chunks that tile `bytes` exactly within the chunk
    /// size, deltas that chain into `version`); returns what is wrong, or nil.
    public func problem() -> String? {
        guard format == Self.currentFormat else { return "manifest format \(format); this build reads \(Self.currentFormat)" }
        guard Self.isDigest(version) else { return "the version is not a SHA-256 hex digest" }
        guard chunks.count <= Self.maxEntries, deltas.count <= Self.maxEntries else { return "more than \(Self.maxEntries) entries" }
        guard bytes > 0, !chunks.isEmpty else { return "an empty model" }
        var offset = 0
        for c in chunks {
            guard Self.isDigest(c.digest), c.offset == offset, (1...Self.chunkBytes).contains(c.bytes) else {
                return "chunk at \(c.offset) is not a digest of 1…\(Self.chunkBytes) bytes following the previous one"
            }
            offset += c.bytes
        }
        guard offset == bytes else { return "the chunks cover \(offset) bytes of a \(bytes)-byte model" }
        var next = version
        for d in deltas.reversed() {
            guard d.to == next, Self.isDigest(d.from), Self.isDigest(d.digest), d.bytes > 0,
                  d.encoding == "grid8" || d.encoding == "xor"
            else { return "the deltas do not chain into the version" }
            next = d.from
        }
        return nil
    }

    /// The deltas from `held` to `version` (nil when `held` is not on the chain).
    public func deltas(from held: String) -> ArraySlice<Delta>? {
        guard let i = deltas.firstIndex(where: { $0.from == held }) else { return nil }
        return deltas[i...]
    }
}

/// A manifest with the coordinator's Ed25519 signature: `manifest` is the base64 of the manifest's JSON bytes and
/// `signature` the base64 of the 64-byte signature of exactly those bytes, so nothing is re-serialized before it is
/// checked.
public struct SignedManifest: Codable, Sendable, Equatable {
    public var manifest: String
    public var signature: String
    public init(manifest: String, signature: String) { self.manifest = manifest; self.signature = signature }
}
