import CrowdEngine
import CrowdProtocol
import Foundation

/// `P/inner-state.bin`: the inner optimizer's state (SGD momentum, AdamW moments and step count) after the last
/// finished lease, so the next lease continues it, as DiLoCo workers keep their inner optimizer across outer
/// steps. The model itself always restarts from the lease's global checkpoint; only the optimizer carries over.
///
/// `StateFile` framing (magic `CRWDINNR`, FNV-1a 64 checksum) with sections: 0 schema hash (UInt64 LE), 1 round
/// of the lease that produced it (UInt64 LE), 2 the lease's optimizer settings without the schedule position
/// (JSON, sorted keys), 3 optimizer kind (UTF-8), 4 step count (UInt64 LE), 5… buffers (float32 × N each).
///
/// It is used only for a lease of the same model layout and optimizer settings whose round is at most
/// `maxRoundGap` after the saved one (or the same round: in async mode a version may outlive a lease), and only
/// when the lease asks for it (`inner.keepState`); otherwise — the model version jumped (a fallback, a long absence, another campaign) — it is dropped and the lease starts a
/// fresh optimizer. A torn or corrupt file is logged and dropped: the state is an optimisation, never needed
/// for correctness.
public struct InnerStateFile: Sendable {
    static let magic = "CRWDINNR"
    /// Most rounds between the saved state's lease and the next one for the state to still apply.
    public static let maxRoundGap: UInt64 = 4

    public var schemaHash: UInt64
    public var round: UInt64
    public var settings: Data
    public var state: OptimizerState

    public init(schemaHash: UInt64, round: UInt64, settings: InnerOptimizerConfig, state: OptimizerState) {
        self.init(schemaHash: schemaHash, round: round, fingerprint: Self.fingerprint(settings), state: state)
    }

    init(schemaHash: UInt64, round: UInt64, fingerprint: Data, state: OptimizerState) {
        self.schemaHash = schemaHash
        self.round = round
        self.settings = fingerprint
        self.state = state
    }

    /// The settings that must match for the state to carry over (the schedule position moves every lease).
    static func fingerprint(_ s: InnerOptimizerConfig) -> Data {
        var s = s
        s.keepState = true
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return (try? enc.encode(s)) ?? Data()
    }

    /// The saved state if it applies to `lease` on a model of `schemaHash` with `count` parameters, else nil.
    public func state(for lease: Lease, schemaHash: UInt64, count: Int) -> OptimizerState? {
        guard lease.inner.keepState == true, self.schemaHash == schemaHash, lease.round >= round,
              lease.round - round <= Self.maxRoundGap, settings == Self.fingerprint(lease.inner),
              state.kind == lease.inner.kind, state.buffers.allSatisfy({ $0.count == count })
        else { return nil }
        return state
    }

    public func encoded() -> Data {
        var parts: [StateFile.Part] = [
            .bytes(StateFile.uint64(schemaHash)), .bytes(StateFile.uint64(round)), .bytes(settings),
            .bytes(Data(state.kind.utf8)), .bytes(StateFile.uint64(UInt64(state.step))),
        ]
        parts += state.buffers.map(StateFile.Part.floats)
        return StateFile.encode(magic: Self.magic, parts: parts)
    }

    public static func decode(_ data: Data, path: String = "inner-state.bin") throws -> InnerStateFile {
        let s = try StateFile.decode(data, magic: magic, path: path)
        func malformed(_ why: String) -> PeerError {
            PeerError("\(path): \(why); the peer discards it and starts the next lease with a fresh optimizer")
        }
        guard s.count >= 5, let hash = StateFile.uint64(from: s[0]), let round = StateFile.uint64(from: s[1]),
              let kind = String(data: s[3], encoding: .utf8), let step = StateFile.uint64(from: s[4]),
              step <= UInt64(Int.max)
        else { throw malformed("malformed header") }
        var buffers: [[Float]] = []
        for section in s[5...] {
            guard let b = StateFile.floats(from: section), b.count == buffers.first?.count ?? b.count,
                  b.allSatisfy({ $0.isFinite })
            else { throw malformed("an optimizer buffer is malformed or not finite") }
            buffers.append(b)
        }
        return InnerStateFile(
            schemaHash: hash, round: round, fingerprint: s[2],
            state: OptimizerState(kind: kind, step: Int(step), buffers: buffers))
    }

    /// Writes atomically.
    public func write(to path: String) throws { try AtomicFileWriter.write(encoded(), to: path) }

    /// Reads `path`; nil when absent. A corrupt file throws (callers log it and drop it).
    public static func read(from path: String) throws -> InnerStateFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try decode(data, path: path)
    }
}
