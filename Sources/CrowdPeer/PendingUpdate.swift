import Foundation

/// A finished, encoded update that the coordinator has not yet acknowledged: `P/pending.bin`.
///
/// The peer writes it (one atomic rename) *before* uploading, together with the error-feedback
/// residual that results from the encoding. After a crash or a lost connection the daemon re-sends
/// the same bytes under the same lease id; the coordinator answers a retry of an accepted lease with
/// the same receipt, so work is neither lost nor counted twice. Only once the outcome is definitive
/// (receipt, or a rejection the coordinator will not change its mind on) is `residualAfter` promoted
/// to `residual.bin` and this file removed — both steps idempotent.
public struct PendingUpdate: Sendable, Equatable {
    static let magic = "CRWDPEND"

    /// What the peer needs to re-send and report the update.
    public struct Info: Codable, Sendable, Equatable {
        public var leaseID: String
        public var round: UInt64
        public var modelVersion: String
        public var schemaHash: UInt64
        /// Samples the coordinator assigned to the lease.
        public var samples: Int
        /// Mean local training loss.
        public var loss: Float
        /// Seconds of local compute.
        public var trainSeconds: Double
        /// Lease deadline, Unix seconds (a stale update is not worth re-sending forever).
        public var deadline: Double
        /// Unix seconds the update was finished.
        public var finishedAt: Double

        public init(
            leaseID: String, round: UInt64, modelVersion: String, schemaHash: UInt64, samples: Int, loss: Float,
            trainSeconds: Double, deadline: Double, finishedAt: Double
        ) {
            self.leaseID = leaseID; self.round = round; self.modelVersion = modelVersion
            self.schemaHash = schemaHash; self.samples = samples; self.loss = loss
            self.trainSeconds = trainSeconds; self.deadline = deadline; self.finishedAt = finishedAt
        }
    }

    public var info: Info
    /// The update envelope bytes exactly as uploaded.
    public var envelope: Data
    /// Error-feedback residual after encoding this update.
    public var residualAfter: [Float]

    public init(info: Info, envelope: Data, residualAfter: [Float]) {
        self.info = info; self.envelope = envelope; self.residualAfter = residualAfter
    }

    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return StateFile.encode(
            magic: Self.magic, sections: [try enc.encode(info), envelope, StateFile.floats(residualAfter)])
    }

    public static func decode(_ data: Data, path: String = "pending.bin") throws -> PendingUpdate {
        let s = try StateFile.decode(data, magic: magic, path: path)
        guard s.count == 3, let info = try? JSONDecoder().decode(Info.self, from: s[0]),
              let residual = StateFile.floats(from: s[2])
        else { throw PeerError("\(path): malformed pending update; it is discarded") }
        return PendingUpdate(info: info, envelope: s[1], residualAfter: residual)
    }

    /// Writes atomically.
    public func write(to path: String) throws {
        try AtomicFileWriter.write(try encoded(), to: path)
    }

    /// Reads `path`; `nil` when absent.
    public static func read(from path: String) throws -> PendingUpdate? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try decode(data, path: path)
    }
}
