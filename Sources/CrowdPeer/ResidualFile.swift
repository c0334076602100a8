import Foundation

/// The codec's error-feedback residual, persisted between leases in `P/residual.bin`.
///
/// Error feedback keeps what compression dropped and adds it to the next update, so nothing a peer
/// computed is lost to quantization. The residual belongs to one parameter layout (`schemaHash`); a
/// residual of another layout is ignored. `afterLease` names the last lease whose encoding produced
/// it, which makes restoring after a crash idempotent (see `PendingUpdate`).
public struct ResidualFile: Sendable, Equatable {
    static let magic = "CRWDRESD"

    public var schemaHash: UInt64
    public var afterLease: String
    public var residual: [Float]

    public init(schemaHash: UInt64, afterLease: String, residual: [Float]) {
        self.schemaHash = schemaHash; self.afterLease = afterLease; self.residual = residual
    }

    public func encoded() -> Data {
        StateFile.encode(
            magic: Self.magic,
            sections: [StateFile.uint64(schemaHash), Data(afterLease.utf8), StateFile.floats(residual)])
    }

    public static func decode(_ data: Data, path: String = "residual.bin") throws -> ResidualFile {
        let s = try StateFile.decode(data, magic: magic, path: path)
        guard s.count == 3, let hash = StateFile.uint64(from: s[0]), let lease = String(data: s[1], encoding: .utf8),
              let values = StateFile.floats(from: s[2])
        else { throw PeerError("\(path): malformed residual file; it is discarded") }
        return ResidualFile(schemaHash: hash, afterLease: lease, residual: values)
    }

    /// Writes atomically.
    public func write(to path: String) throws {
        try AtomicFileWriter.write(encoded(), to: path)
    }

    /// Reads `path`; `nil` when absent. A corrupt file throws (callers log it and start from zero).
    public static func read(from path: String) throws -> ResidualFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try decode(data, path: path)
    }
}
