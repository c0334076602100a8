import Foundation

/// The wire form of a shard file (`GET /v1/shards/{id}`, Docs/WireFormats.md §1): exactly one zstd frame with its
/// content size set, whose content is the shard file byte for byte.
///
/// The shard's id stays the SHA-256 of the *uncompressed* file, so the receiver checks it after `decode`. Decoding
/// is bounded: the frame must declare its content size, that size must be the one the receiver expects (the lease's
/// `shardBytes`) or at most `limit`, and the window is bounded by it (`Zstd.decompressExactly`). So a decompression
/// bomb — a small body declaring, or inflating to, gigabytes — is refused before anything is allocated for it.
public enum CompressedShard {
    /// zstd level of shard bodies. Shards are compressed once per campaign; on Fashion-MNIST shards level 9 is 3 %
    /// smaller than level 3 (4.30 against 4.42 MB of 7.85 MB) at 0.7 s per shard; level 19 gains 2 % more for 11×
    /// the time.
    public static let level: Int32 = 9
    /// Largest shard file a receiver inflates when it was not told the exact size (1 GiB, the download limit of
    /// uncompressed shards before compression).
    public static let maxFileBytes = 1 << 30

    /// Compresses a shard file into its wire form (one frame, content size set).
    /// - Throws: `CodecError(.compressionFailed)` if zstd fails (it reports why).
    public static func encode(_ file: Data, level: Int32 = Self.level) throws -> Data {
        guard Zstd.levelRange.contains(level) else {
            throw CodecError(.badCodecParameters, "zstd level \(level) is outside \(Zstd.levelRange)")
        }
        var out = Data(count: Zstd.compressBound(file.count))
        let n = try out.withUnsafeMutableBytes { dst in
            try file.withUnsafeBytes { src in
                try Zstd.withCompressionContext { ctx in
                    try Zstd.compress(src, into: dst, level: level, context: ctx)
                }
            }
        }
        out.removeSubrange(n...)
        return out
    }

    /// The content size the frame in `body` declares, without inflating it (nil: not a frame with a declared size).
    public static func declaredSize(_ body: Data) -> UInt64? {
        body.withUnsafeBytes { src -> UInt64? in
            guard src.count >= 4, src.loadUnaligned(as: UInt32.self).littleEndian == Zstd.frameMagic else { return nil }
            let n = Zstd.frameContentSize(src)
            return n == Zstd.contentSizeError || n == Zstd.contentSizeUnknown ? nil : n
        }
    }

    /// Largest body `decode` can accept for a file of at most `fileBytes` (the download limit to set).
    public static func maxBodyBytes(fileBytes: Int) -> Int { Zstd.compressBound(max(0, fileBytes)) }

    /// Inflates a shard's wire form.
    ///
    /// - Parameters:
    ///   - body: the response body: exactly one zstd frame with its content size set.
    ///   - expectedBytes: the uncompressed size the receiver was told (the lease's `shardBytes`); the frame must
    ///     declare exactly this. Nil: any size up to `limit`.
    ///   - limit: the largest content size accepted when `expectedBytes` is nil.
    /// - Returns: the shard file bytes (the caller checks them against the shard id).
    /// - Throws: `CodecError`: `.sizeMismatch` for a declared size that is not the expected one or above the limit (a
    ///   decompression bomb), `.badFrame` for anything that is not exactly one well-formed frame with a content size
    ///   and a bounded window, `.decompressionFailed` for a corrupt frame.
    public static func decode(_ body: Data, expectedBytes: Int? = nil, limit: Int = maxFileBytes) throws -> Data {
        guard body.count >= 4,
              body.withUnsafeBytes({ $0.loadUnaligned(as: UInt32.self).littleEndian }) == Zstd.frameMagic
        else {
            throw CodecError(.badFrame, "the shard body is not a zstd frame (bad frame magic)")
        }
        guard let declared = declaredSize(body) else {
            throw CodecError(
                .badFrame, "the shard's zstd frame does not declare a readable content size; it is refused unread")
        }
        let size: Int
        if let expectedBytes {
            guard expectedBytes >= 0, declared == UInt64(expectedBytes) else {
                throw CodecError(
                    .sizeMismatch,
                    "the shard's zstd frame declares \(declared) bytes uncompressed, the lease says \(expectedBytes): "
                        + "refused unread (a damaged or hostile body)")
            }
            size = expectedBytes
        } else {
            guard declared <= UInt64(max(0, limit)) else {
                throw CodecError(
                    .sizeMismatch,
                    "the shard's zstd frame declares \(declared) bytes uncompressed, more than the \(limit)-byte "
                        + "limit: refused unread (a decompression bomb?)")
            }
            size = Int(declared)
        }
        var out = Data(count: size)
        try out.withUnsafeMutableBytes { dst in
            try body.withUnsafeBytes { src in
                try Zstd.withDecompressionContext { ctx in try Zstd.decompressExactly(src, into: dst, context: ctx) }
            }
        }
        return out
    }
}
