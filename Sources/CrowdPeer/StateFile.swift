import CrowdData
import CrowdEngine
import Foundation

/// Framing of the peer's binary state files: magic, version, length-prefixed sections, checksum.
///
/// | bytes | field |
/// |---|---|
/// | 8 | magic (per file kind) |
/// | 4 | version (2; 1 is still read) |
/// | 4 | section count S |
/// | S × (8 + n) | section: length n (UInt64 LE), n bytes |
/// | 8 | checksum of every preceding byte: version 2 CRC-32 (zlib's, as UInt64 LE), version 1 FNV-1a 64 |
///
/// Files are replaced atomically, and the checksum catches a torn or bit-flipped file from a disk
/// that lied about fsync: such a file is reported, never half-loaded. Version 2 changed only the checksum: the
/// peer rewrites its residual, optimizer state and pending update every lease, and byte-serial FNV-1a over them
/// was ~8% of a round's CPU in `bench rounds` (CRC-32 runs ~3× faster here).
enum StateFile {
    static let version: UInt32 = 2

    /// The trailer of `version` over `raw`.
    static func checksum(_ raw: UnsafeRawBufferPointer, version: UInt32) -> UInt64 {
        version == 1 ? FNV1a64.hash(raw) : UInt64(CRC32.checksum(raw))
    }

    /// One section's content; `floats` is appended straight from the array (no intermediate copy, which
    /// matters for model-sized sections).
    enum Part {
        case bytes(Data)
        case floats([Float])

        var count: Int {
            switch self {
            case .bytes(let d): return d.count
            case .floats(let f): return f.count * MemoryLayout<Float>.size
            }
        }
    }

    static func encode(magic: String, sections: [Data]) -> Data {
        encode(magic: magic, parts: sections.map(Part.bytes))
    }

    static func encode(magic: String, parts: [Part]) -> Data {
        var out = Data()
        out.reserveCapacity(8 + 4 + 4 + parts.reduce(0) { $0 + 8 + $1.count } + 8)
        out.append(contentsOf: Array(magic.utf8))
        out.appendLE(version)
        out.appendLE(UInt32(parts.count))
        for part in parts {
            out.appendLE(UInt64(part.count))
            switch part {
            case .bytes(let d): out.append(d)
            case .floats(let f): f.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        }
        let sum = out.withUnsafeBytes { checksum($0, version: version) }
        out.appendLE(sum)
        return out
    }

    static func decode(_ data: Data, magic: String, path: String) throws -> [Data] {
        func fail(_ why: String) -> PeerError {
            PeerError("\(path): \(why); the peer discards this file and starts that part afresh")
        }
        let data = Data(data)  // rebase to index 0
        guard data.count >= 8 + 4 + 4 + 8 else { throw fail("truncated") }
        var r = ByteReader(data.prefix(data.count - 8))
        guard let m = r.bytes(8), m == Array(magic.utf8) else { throw fail("wrong file kind (bad magic)") }
        guard let v: UInt32 = r.le(), v == 1 || v == version else { throw fail("unsupported version") }
        let stored = data.withUnsafeBytes {
            UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: data.count - 8, as: UInt64.self))
        }
        let sum = data.withUnsafeBytes {
            checksum(UnsafeRawBufferPointer(rebasing: $0[0..<(data.count - 8)]), version: v)
        }
        guard stored == sum else { throw fail("checksum mismatch (torn or corrupted)") }
        guard let n: UInt32 = r.le() else { throw fail("truncated") }
        var sections: [Data] = []
        var offset = r.offset
        let end = data.count - 8
        for _ in 0..<n {
            var len = ByteReader(data[offset..<end])
            guard let count: UInt64 = len.le(), count <= UInt64(end - offset - 8) else {
                throw fail("truncated section")
            }
            offset += 8
            // One copy, indexed from 0 like every other Data the callers handle.
            sections.append(Data(data[offset..<(offset + Int(count))]))
            offset += Int(count)
        }
        guard offset == end else { throw fail("trailing bytes") }
        return sections
    }

    static func floats(_ values: [Float]) -> Data {
        values.withUnsafeBytes { Data($0) }
    }

    static func floats(from data: Data) -> [Float]? {
        guard data.count % 4 == 0 else { return nil }
        var out = [Float](repeating: 0, count: data.count / 4)
        out.withUnsafeMutableBytes { dst in data.withUnsafeBytes { dst.copyMemory(from: $0) } }
        return out
    }

    static func uint64(_ v: UInt64) -> Data {
        var d = Data()
        d.appendLE(v)
        return d
    }

    static func uint64(from data: Data) -> UInt64? {
        var r = ByteReader(data)
        return r.le()
    }
}
