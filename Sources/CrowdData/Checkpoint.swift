import CrowdEngine
import Foundation

/// A model checkpoint: parameters plus everything needed to rebuild the model that owns them.
///
/// Binary format (little-endian), version 1:
///
/// | bytes | field |
/// |---|---|
/// | 8 | magic `CRWDCKPT` |
/// | 4 | format version (1) |
/// | 8 | layout schema hash (FNV-1a 64) |
/// | 4 | length L of the model kind (UTF-8) |
/// | L | model kind, e.g. `mlp`, `gpt` |
/// | 4 | length J of the model configuration JSON |
/// | J | configuration JSON |
/// | 4 | length M of the metadata JSON (string → string) |
/// | M | metadata JSON (step, metric, workload …) |
/// | 8 | parameter count N |
/// | 4·N | parameters, float32 |
/// | 8 | FNV-1a 64 of every preceding byte |
///
/// `read` verifies the magic, the version, every length against the file size, and the trailing
/// checksum, so a torn or bit-flipped file is refused rather than loaded.
public struct Checkpoint: Sendable {
    public static let magic: [UInt8] = Array("CRWDCKPT".utf8)
    public static let version: UInt32 = 1

    public var kind: String
    public var schemaHash: UInt64
    public var configJSON: Data
    public var metadata: [String: String]
    public var params: [Float]

    public init(kind: String, schemaHash: UInt64, configJSON: Data, metadata: [String: String] = [:], params: [Float]) {
        self.kind = kind; self.schemaHash = schemaHash; self.configJSON = configJSON
        self.metadata = metadata; self.params = params
    }

    /// A checkpoint of `model`'s current parameters.
    public init(model: any TrainableModel, metadata: [String: String] = [:]) throws {
        self.init(
            kind: type(of: model).kind, schemaHash: model.layout.schemaHash,
            configJSON: try model.configJSON(), metadata: metadata, params: model.params.toArray())
    }

    /// Serialized bytes.
    public func encoded() throws -> Data {
        var out = Data()
        out.reserveCapacity(64 + configJSON.count + params.count * 4)
        out.append(contentsOf: Self.magic)
        out.appendLE(Self.version)
        out.appendLE(schemaHash)
        let kindBytes = Data(kind.utf8)
        out.appendLE(UInt32(kindBytes.count)); out.append(kindBytes)
        out.appendLE(UInt32(configJSON.count)); out.append(configJSON)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let meta = try enc.encode(metadata)
        out.appendLE(UInt32(meta.count)); out.append(meta)
        out.appendLE(UInt64(params.count))
        params.withUnsafeBytes { out.append(contentsOf: $0) }
        let sum = out.withUnsafeBytes { FNV1a64.hash($0) }
        out.appendLE(sum)
        return out
    }

    /// Writes atomically (temp, fsync, rename, fsync dir).
    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
    }

    /// Reads and verifies a checkpoint file.
    public static func read(from path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CheckpointError(path: path, reason: "cannot read the file (does it exist?)")
        }
        return try decode(data, path: path)
    }

    /// Verifies and decodes checkpoint bytes; `path` only labels errors.
    /// - Parameter digestVerified: the caller has checked the bytes' SHA-256 against a digest it trusts (a peer's
    ///   model from its signed manifest or its verified cache): the FNV-1a trailer can add nothing to that, so it is
    ///   not recomputed (a megabyte-scale pass per lease). Every structural check still runs.
    public static func decode(_ data: Data, path: String = "<memory>", digestVerified: Bool = false) throws -> Checkpoint {
        func fail(_ r: String) -> CheckpointError { CheckpointError(path: path, reason: r) }
        var r = ByteReader(data)
        guard let m = r.bytes(8), m == magic else {
            throw fail("not a CrowdTrain checkpoint (bad magic); pass a file written by `crowdtrain train --save` or exported by a coordinator")
        }
        guard let v: UInt32 = r.le(), v == version else {
            throw fail("unsupported checkpoint version; this build reads version \(version)")
        }
        guard data.count >= 8 + 4 + 8 else { throw fail("truncated header") }
        let sumStored = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: data.count - 8, as: UInt64.self) }
        func sum() -> UInt64 {
            data.withUnsafeBytes { FNV1a64.hash(UnsafeRawBufferPointer(rebasing: $0[0..<(data.count - 8)])) }
        }
        guard digestVerified || UInt64(littleEndian: sumStored) == sum() else {
            throw fail("checksum mismatch: the file is truncated or corrupted")
        }
        guard let hash: UInt64 = r.le(),
              let kl: UInt32 = r.le(), let kb = r.bytes(Int(kl)), let kind = String(bytes: kb, encoding: .utf8),
              let cl: UInt32 = r.le(), let cb = r.bytes(Int(cl)),
              let ml: UInt32 = r.le(), let mb = r.bytes(Int(ml)),
              let n: UInt64 = r.le()
        else { throw fail("truncated header") }
        guard n <= UInt64(data.count / 4), r.remaining == Int(n) * 4 + 8 else {
            throw fail("parameter count \(n) does not match the file size")
        }
        let meta: [String: String]
        do { meta = try JSONDecoder().decode([String: String].self, from: Data(mb)) } catch {
            throw fail("metadata is not valid JSON")
        }
        var params = [Float](repeating: 0, count: Int(n))
        let start = r.offset
        params.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { src in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + Int(n) * 4)]))
            }
        }
        return Checkpoint(kind: kind, schemaHash: hash, configJSON: Data(cb), metadata: meta, params: params)
    }

    /// Where a verified checkpoint's parameters start: its bytes split into the prefix (header through the parameter
    /// count) and the parameters (a round delta carries the one and rebuilds the other).
    public static func split(_ data: Data, path: String = "<memory>", digestVerified: Bool = false) throws -> (
        prefix: Data, params: [Float]
    ) {
        let checkpoint = try decode(data, path: path, digestVerified: digestVerified)
        let start = data.count - 8 - 4 * checkpoint.params.count
        return (Data(data[data.startIndex..<(data.startIndex + start)]), checkpoint.params)
    }

    /// The checkpoint bytes made of `prefix` (as `split` returns it) and `params`, with the checksum trailer.
    public static func assemble(prefix: Data, params: [Float]) -> Data {
        var out = Data()
        out.reserveCapacity(prefix.count + 4 * params.count + 8)
        out.append(prefix)
        params.withUnsafeBytes { out.append(contentsOf: $0) }
        let sum = out.withUnsafeBytes { FNV1a64.hash($0) }
        out.appendLE(sum)
        return out
    }

    /// Copies the parameters into `model` after checking kind, schema hash and count.
    public func load(into model: any TrainableModel) throws {
        let want = type(of: model).kind
        guard kind == want else {
            throw CheckpointError(path: "", reason: "checkpoint holds a \(kind) model, not \(want)")
        }
        guard schemaHash == model.layout.schemaHash, params.count == model.layout.count else {
            throw CheckpointError(path: "", reason: "checkpoint layout (schema \(hex64(schemaHash)), \(params.count) parameters) does not match the model (schema \(model.layout.schemaHashHex), \(model.layout.count) parameters): the model configuration differs")
        }
        params.withUnsafeBufferPointer { model.params.base.update(from: $0.baseAddress!, count: params.count) }
    }
}

/// A checkpoint could not be read or does not fit.
public struct CheckpointError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { path.isEmpty ? "checkpoint: \(reason)" : "checkpoint \(path): \(reason)" }
}

/// Little-endian cursor over bytes; every read is bounds-checked and returns nil past the end.
public struct ByteReader {
    public let data: Data
    public private(set) var offset: Int

    public init(_ data: Data) {
        self.data = data
        self.offset = data.startIndex
    }

    public var remaining: Int { data.endIndex - offset }

    public mutating func bytes(_ n: Int) -> [UInt8]? {
        guard n >= 0, n <= remaining else { return nil }
        defer { offset += n }
        return Array(data[offset..<(offset + n)])
    }

    public mutating func le<T: FixedWidthInteger>() -> T? {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { return nil }
        var v: T = 0
        withUnsafeMutableBytes(of: &v) { dst in
            data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: offset..<(offset + size))
        }
        offset += size
        return T(littleEndian: v)
    }
}

extension Data {
    /// Appends a fixed-width integer in little-endian byte order.
    public mutating func appendLE<T: FixedWidthInteger>(_ v: T) {
        Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
    }
}
