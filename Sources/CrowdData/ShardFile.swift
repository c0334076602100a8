import CrowdEngine
import Crypto
import Foundation

/// The shard file format (little-endian, version 1; Docs/WireFormats.md has the table):
///
/// | offset | bytes | field |
/// |---|---|---|
/// | 0 | 8 | magic `CRWDSHRD` |
/// | 8 | 4 | format version (1) |
/// | 12 | 1 | kind: 1 = labelled images, 2 = byte text |
/// | 13 | 3 | reserved, zero |
/// | 16 | 8 | record count R (images, or text bytes) |
/// | 24 | 4 | rows (images; 0 for text) |
/// | 28 | 4 | columns (images; 0 for text) |
/// | 32 | 4 | classes (images: labels are < classes; 0 for text) |
/// | 36 | 4 | reserved, zero |
/// | 40 | 8 | body length L |
/// | 48 | L | body: images = R·rows·cols pixels then R labels; text = R bytes |
/// | 48+L | 32 | SHA-256 of bytes 0 ..< 48+L |
///
/// A shard's id is the lowercase hex SHA-256 of the whole file, so any mirror can serve it and any peer
/// can verify it against the manifest.
public enum ShardFile {
    public static let magic: [UInt8] = Array("CRWDSHRD".utf8)
    public static let version: UInt32 = 1
    static let headerSize = 48
    static let trailerSize = 32
    /// Classes recorded for image shards (labels are checked against it on read).
    public static let imageClasses = 10
    /// Largest image side accepted.
    static let maxSide = 4096

    /// Serializes a payload.
    public static func encode(_ p: ShardPayload) -> Data {
        var kind: UInt8
        var rows = 0
        var cols = 0
        var classes = 0
        var bodyLength: Int
        switch p {
        case .images(let d):
            kind = 1
            rows = d.rows
            cols = d.cols
            classes = max(imageClasses, Int(d.labels.max() ?? 0) + 1)
            bodyLength = d.pixels.count + d.labels.count
        case .text(let c):
            kind = 2
            bodyLength = c.count
        }
        var out = Data(count: headerSize + bodyLength + trailerSize)
        out.withUnsafeMutableBytes { b in
            for (i, m) in magic.enumerated() { b[i] = m }
            b.storeBytes(of: version.littleEndian, toByteOffset: 8, as: UInt32.self)
            b[12] = kind
            b.storeBytes(of: UInt64(p.records).littleEndian, toByteOffset: 16, as: UInt64.self)
            b.storeBytes(of: UInt32(rows).littleEndian, toByteOffset: 24, as: UInt32.self)
            b.storeBytes(of: UInt32(cols).littleEndian, toByteOffset: 28, as: UInt32.self)
            b.storeBytes(of: UInt32(classes).littleEndian, toByteOffset: 32, as: UInt32.self)
            b.storeBytes(of: UInt64(bodyLength).littleEndian, toByteOffset: 40, as: UInt64.self)
            let body = UnsafeMutableRawBufferPointer(rebasing: b[headerSize..<(headerSize + bodyLength)])
            switch p {
            case .images(let d):
                d.pixels.withUnsafeBytes { body.copyMemory(from: $0) }
                d.labels.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: body[d.pixels.count...]).copyMemory(from: $0)
                }
            case .text(let c):
                c.bytes.withUnsafeBytes { body.copyMemory(from: $0) }
            }
            let digest = SHA256.hash(data: UnsafeRawBufferPointer(rebasing: b[0..<(headerSize + bodyLength)]))
            for (i, x) in digest.enumerated() { b[headerSize + bodyLength + i] = x }
        }
        return out
    }

    /// The shard id: lowercase hex SHA-256 of the file bytes.
    public static func id(of data: Data) -> String { ContentDigest.hex(data) }

    /// Parses and validates a shard. `name` is used in error messages; if `expectedID` is given the content
    /// hash must equal it (a renamed or swapped shard is refused as mislabelled).
    public static func decode(_ d: Data, name: String, expectedID: String?) throws -> ShardPayload {
        if let expectedID {
            let actual = id(of: d)
            guard actual == expectedID.lowercased() else {
                throw ShardError(
                    shard: name, .checksumMismatch,
                    "content hash \(actual.prefix(16))… does not match the manifest id \(expectedID.prefix(16))…; "
                        + "the file is corrupt or mislabelled — delete it and fetch it again")
            }
        }
        return try d.withUnsafeBytes { b in try parse(b, name: name) }
    }

    /// Reads and validates the shard at `path` (named by its file name in errors).
    public static func read(path: String, expectedID: String?) throws -> ShardPayload {
        let name = (path as NSString).lastPathComponent
        guard let d = FileManager.default.contents(atPath: path) else {
            throw ShardError(shard: name, .io, "cannot read \(path): check that it exists and is readable")
        }
        return try decode(d, name: name, expectedID: expectedID)
    }

    static func parse(_ b: UnsafeRawBufferPointer, name: String) throws -> ShardPayload {
        func fail(_ c: ShardError.Code, _ m: String) -> ShardError { ShardError(shard: name, c, m) }
        guard b.count >= 8, Array(b[0..<8]) == magic else {
            throw fail(.badHeader, "not a CrowdTrain shard (expected magic CRWDSHRD); re-create it with `crowdtrain shards make`")
        }
        guard b.count >= headerSize + trailerSize else {
            throw fail(.badSize, "file is \(b.count) bytes, shorter than a shard header; it is truncated")
        }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: b.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        let v = u32(8)
        guard v == version else {
            throw fail(.badHeader, "shard format version \(v) is not supported (this build reads \(version)); upgrade crowdtrain")
        }
        guard b[13] == 0, b[14] == 0, b[15] == 0, u32(36) == 0 else {
            throw fail(.badHeader, "reserved header bytes are not zero; the file is corrupt")
        }
        let records = u64(16)
        let rows = Int(u32(24))
        let cols = Int(u32(28))
        let classes = Int(u32(32))
        let bodyLength = u64(40)
        guard bodyLength == UInt64(b.count - headerSize - trailerSize) else {
            throw fail(.badSize, "header declares a \(bodyLength)-byte body but the file holds \(b.count - headerSize - trailerSize); it is truncated or padded")
        }
        let body = UnsafeRawBufferPointer(rebasing: b[headerSize..<(b.count - trailerSize)])
        let digest = Array(SHA256.hash(data: UnsafeRawBufferPointer(rebasing: b[0..<(b.count - trailerSize)])))
        guard digest == Array(b[(b.count - trailerSize)...]) else {
            throw fail(.checksumMismatch, "embedded SHA-256 does not match the contents; the file is corrupt — fetch it again")
        }
        switch b[12] {
        case 1:
            guard (1...maxSide).contains(rows), (1...maxSide).contains(cols), (1...256).contains(classes) else {
                throw fail(.badHeader, "image shard declares \(rows)×\(cols) images with \(classes) classes; out of range")
            }
            let per = UInt64(rows * cols + 1)
            guard records.multipliedReportingOverflow(by: per) == (bodyLength, false) else {
                throw fail(.badSize, "\(records) images of \(rows)×\(cols) need \(records &* per) body bytes, found \(bodyLength)")
            }
            let n = Int(records)
            let pixels = Array(body[0..<(n * rows * cols)])
            let labels = Array(body[(n * rows * cols)...])
            if let i = labels.firstIndex(where: { Int($0) >= classes }) {
                throw fail(.badRecord, "image \(i) has label \(labels[i]), outside 0..<\(classes); the shard is mislabelled")
            }
            return .images(ImageDataset(count: n, rows: rows, cols: cols, pixels: pixels, labels: labels))
        case 2:
            guard rows == 0, cols == 0, classes == 0, records == bodyLength else {
                throw fail(.badHeader, "text shard header is inconsistent (records \(records), body \(bodyLength))")
            }
            return .text(TextCorpus(bytes: Array(body)))
        default:
            throw fail(.badHeader, "unknown shard kind \(b[12]) (1 = images, 2 = text)")
        }
    }
}
