import CZlib

/// CRC-32 (ISO-HDLC, the one of gzip, PNG and zip) through zlib's `crc32`, which runs several GB/s: the
/// torn-write check of files rewritten every lease, where byte-serial FNV-1a was a measurable part of a round.
public enum CRC32 {
    /// CRC-32 of `raw`, continuing from `seed` (0 to start).
    public static func checksum(_ raw: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        var crc = UInt(seed)
        var rest = raw
        // zlib takes a 32-bit length: feed gigabyte pieces.
        while !rest.isEmpty {
            let n = min(rest.count, 1 << 30)
            crc = UInt(crc32(crc, rest.baseAddress!.assumingMemoryBound(to: UInt8.self), uInt(n)))
            rest = UnsafeRawBufferPointer(rebasing: rest[n...])
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
