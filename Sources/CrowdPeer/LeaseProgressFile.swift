import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation

/// `P/progress.bin`: the lease in progress (`LeaseProgress`), so a stopped or killed peer resumes it.
///
/// `StateFile` framing (magic `CRWDPRG2`, version 1, FNV-1a 64 checksum over everything) with sections:
///
/// | # | content |
/// |---|---|
/// | 0 | the lease, JSON (sorted keys; 64-bit values as decimal strings) |
/// | 1 | counters, 40 bytes LE: steps UInt64, samples UInt64, lossSum, seconds, savedAt (Float64 bit patterns) |
/// | 2 | parameters θ after `steps` steps, float32 × N |
/// | 3 | optimizer kind, UTF-8 (`sgd`, `adamw`) |
/// | 4 | optimizer step count, UInt64 LE |
/// | 5 | trajectory digests recorded so far, 64 bytes a leaf (empty without verification) |
/// | 6… | optimizer buffers, float32 × N each (SGD: momentum; AdamW: m, v) |
///
/// Files of the earlier layout (magic `CRWDPROG`: no section 5) are still read; they carry no digests.
///
/// Replaced atomically (temp, fsync, rename, fsync dir). A torn, bit-flipped or inconsistent file throws
/// `PeerError`: the daemon logs it, removes the file and trains the lease from its start.
public enum LeaseProgressFile {
    static let magic = "CRWDPRG2"
    static let magicV1 = "CRWDPROG"

    public static func encode(_ p: LeaseProgress) throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var counters = Data()
        counters.appendLE(UInt64(p.steps))
        counters.appendLE(UInt64(p.samples))
        counters.appendLE(p.lossSum.bitPattern)
        counters.appendLE(p.seconds.bitPattern)
        counters.appendLE(p.savedAt.bitPattern)
        var parts: [StateFile.Part] = [
            .bytes(try enc.encode(p.lease)), .bytes(counters), .floats(p.params), .bytes(Data(p.optimizer.kind.utf8)),
            .bytes(StateFile.uint64(UInt64(p.optimizer.step))), .bytes(Data(p.trajectoryDigests)),
        ]
        parts += p.optimizer.buffers.map(StateFile.Part.floats)
        return StateFile.encode(magic: magic, parts: parts)
    }

    public static func decode(_ data: Data, path: String = "progress.bin") throws -> LeaseProgress {
        let v1 = data.prefix(magicV1.utf8.count) == Data(magicV1.utf8)
        let s = try StateFile.decode(data, magic: v1 ? magicV1 : magic, path: path)
        func malformed(_ why: String) -> PeerError {
            PeerError("\(path): \(why); the peer discards this file and trains the lease from its start")
        }
        let first = v1 ? 5 : 6
        guard s.count >= first else { throw malformed("\(s.count) sections, expected at least \(first)") }
        guard let lease = try? JSONDecoder().decode(Lease.self, from: s[0]) else {
            throw malformed("the lease does not decode")
        }
        var r = ByteReader(s[1])
        guard s[1].count == 40, let steps: UInt64 = r.le(), let samples: UInt64 = r.le(), let loss: UInt64 = r.le(),
              let seconds: UInt64 = r.le(), let savedAt: UInt64 = r.le()
        else { throw malformed("bad counters") }
        guard steps <= UInt64(max(lease.steps, 0)), samples <= UInt64(Int.max) else {
            throw malformed("\(steps) steps done of a lease of \(lease.steps)")
        }
        guard let params = StateFile.floats(from: s[2]) else { throw malformed("bad parameter section") }
        guard let kind = String(data: s[3], encoding: .utf8), let step = StateFile.uint64(from: s[4]),
              step <= UInt64(Int.max)
        else { throw malformed("bad optimizer header") }
        let digests = v1 ? [] : [UInt8](s[5])
        guard digests.count % 64 == 0 else { throw malformed("bad trajectory digests") }
        var buffers: [[Float]] = []
        for section in s[first...] {
            guard let b = StateFile.floats(from: section), b.count == params.count else {
                throw malformed("an optimizer buffer does not match the \(params.count) parameters")
            }
            buffers.append(b)
        }
        return LeaseProgress(
            lease: lease, steps: Int(steps), lossSum: Double(bitPattern: loss), samples: Int(samples),
            seconds: Double(bitPattern: seconds), params: params,
            optimizer: OptimizerState(kind: kind, step: Int(step), buffers: buffers),
            savedAt: Double(bitPattern: savedAt), trajectoryDigests: digests)
    }

    /// Writes atomically.
    public static func write(_ p: LeaseProgress, to path: String) throws {
        try AtomicFileWriter.write(try encode(p), to: path)
    }

    /// Reads `path`; `nil` when absent. A corrupt file throws (callers log it, remove it, start afresh).
    public static func read(from path: String) throws -> LeaseProgress? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try decode(data, path: path)
    }

    /// Removes `path` durably; a missing file is fine.
    public static func remove(_ path: String) {
        AtomicFileWriter.remove(path)
    }
}
