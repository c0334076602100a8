import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdVerification
import Foundation
import Synchronization

/// Runs challenged segments' re-executions off the coordinator actor, one at a time on a dedicated thread (like
/// `CoordinatorEvaluator`): the actor hands over a job after storing the proof, the thread decodes the proof, the
/// upload, the base checkpoint and the shards, runs `SegmentVerifier`, and hands the report back through
/// `onResult`. A failed first verification is run again by the second verifier (a fresh decode of everything and
/// the portable GEMM kernel) before any penalty.
///
/// The queue's memory is bounded: proofs and uploads of waiting jobs are kept in memory up to `memoryBudget` bytes
/// and written to `spillDirectory` beyond it (read back, and the file removed, when the job runs). Many new peers'
/// proofs arriving at once — every update of a new peer is challenged — so wait on disk instead of in RAM (measured
/// before: 1,000 new peers raised the coordinator's peak RSS to 951 MB). A restart drops the queue (the store turns
/// challenged updates with a received proof back to unchallenged), so the directory is emptied at start.
final class WorkVerifierQueue: Sendable {
    struct Job: Sendable {
        var leaseID: String
        var peerID: String
        var round: UInt64
        var segment: Int
        var lease: Lease
        /// Path of the lease's base checkpoint and its SHA-256 hex.
        var checkpointPath: String
        var checkpointVersion: String
        var shardPaths: [String]
        var commitment: WorkCommitment
        var proof: Data
        var envelope: Data
        var expectation: EnvelopeExpectation
        var allowedInnerStates: [[UInt8]]
        /// The second, independent verification of a disputed update.
        var second = false
        /// Where `proof` and `envelope` wait while they are spilled (both empty in memory meanwhile).
        var spilled: String?

        /// Bytes this job holds in memory.
        var memoryBytes: Int { proof.count + envelope.count }
    }

    struct Context: Sendable {
        var verifier: SegmentVerifier
        var onResult: @Sendable (Job, VerificationReport) -> Void
        /// Where waiting jobs' bytes go beyond `memoryBudget` (nil: always in memory).
        var spillDirectory: String?
        /// In-memory bytes of waiting jobs before they spill (`verification.queueMemoryBytes`).
        var memoryBudget: Int = VerificationConfig().queueMemoryBytes
    }

    private struct State {
        var context: Context?
        var queue: [Job] = []
        var running = false
        var waiters: [CheckedContinuation<Void, Never>] = []
        /// Bytes of waiting jobs held in memory, and the most ever held (for tests and the load benchmark).
        var memoryBytes = 0
        var peakMemoryBytes = 0
        var spills = 0
    }

    private let state = Mutex(State())

    /// Starts accepting work; empties the spill directory (its files belong to a previous run's queue).
    func start(_ context: Context) {
        if let dir = context.spillDirectory {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.createDirectory(
                atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        state.withLock { $0.context = context }
    }

    /// Most bytes of waiting jobs ever held in memory, and how many jobs were spilled to disk.
    var memoryStats: (peakBytes: Int, spills: Int) { state.withLock { ($0.peakMemoryBytes, $0.spills) } }

    func submit(_ job: Job) {
        var job = job
        let (budget, dir, held) = state.withLock { s in
            (s.context?.memoryBudget ?? Int.max, s.context?.spillDirectory, s.memoryBytes)
        }
        if let dir, held + job.memoryBytes > budget, let path = Self.spill(&job, to: dir) {
            job.spilled = path
        }
        let spawn = state.withLock { s -> Bool in
            s.memoryBytes += job.memoryBytes
            s.peakMemoryBytes = max(s.peakMemoryBytes, s.memoryBytes)
            if job.spilled != nil { s.spills += 1 }
            s.queue.append(job)
            guard s.context != nil, !s.running else { return false }
            s.running = true
            return true
        }
        if spawn {
            let thread = Thread { [self] in drain() }
            thread.name = "crowdtrain-verifier"
            thread.stackSize = 16 << 20
            thread.start()
        }
    }

    /// Returns once no verification is queued or running.
    func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                guard s.running || !s.queue.isEmpty else { return true }
                s.waiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }

    var isBusy: Bool { state.withLock { $0.running || !$0.queue.isEmpty } }

    private func drain() {
        while true {
            let next = state.withLock { s -> (Job, Context)? in
                guard let context = s.context, !s.queue.isEmpty else {
                    s.running = false
                    let w = s.waiters
                    s.waiters = []
                    for c in w { c.resume() }
                    return nil
                }
                let job = s.queue.removeFirst()
                s.memoryBytes -= job.memoryBytes
                return (job, context)
            }
            guard var (job, context) = next else { return }
            if let path = job.spilled {
                guard Self.unspill(&job, from: path) else {
                    context.onResult(job, .failure("input_error", segment: job.segment, "the spilled proof \(path) is unreadable"))
                    continue
                }
            }
            context.onResult(job, Self.run(job, verifier: context.verifier))
        }
    }

    /// Writes the job's proof and upload to one file in `dir` (8-byte proof length, proof, upload) and empties them;
    /// nil (the job stays in memory) if the file cannot be written.
    static func spill(_ job: inout Job, to dir: String) -> String? {
        let path = (dir as NSString).appendingPathComponent("\(job.leaseID.prefix(64))-\(job.second ? 2 : 1).job")
        var bytes = Data(capacity: 8 + job.memoryBytes)
        bytes.appendLE(UInt64(job.proof.count))
        bytes.append(job.proof)
        bytes.append(job.envelope)
        guard FileManager.default.createFile(atPath: path, contents: bytes, attributes: [.posixPermissions: 0o600])
        else { return nil }
        job.proof = Data()
        job.envelope = Data()
        return path
    }

    /// Reads a spilled job's bytes back and removes the file; false if it is missing or damaged.
    static func unspill(_ job: inout Job, from path: String) -> Bool {
        defer { try? FileManager.default.removeItem(atPath: path) }
        guard let bytes = FileManager.default.contents(atPath: path), bytes.count >= 8 else { return false }
        var reader = ByteReader(bytes)
        guard let n: UInt64 = reader.le(), n <= UInt64(bytes.count - 8) else { return false }
        let start = bytes.startIndex + 8
        job.proof = bytes.subdata(in: start..<(start + Int(n)))
        job.envelope = bytes.subdata(in: (start + Int(n))..<bytes.endIndex)
        job.spilled = nil
        return true
    }

    static func run(_ job: Job, verifier: SegmentVerifier) -> VerificationReport {
        func inputFailure(_ why: String) -> VerificationReport {
            .failure("input_error", segment: job.segment, why)
        }
        let proof: TrajectoryProof
        do { proof = try TrajectoryProof.decode(job.proof, parameters: job.expectation.elementCount) } catch {
            return .failure("proof_invalid", segment: job.segment, "the proof does not decode: \(error)")
        }
        let values: [Float]
        do { values = try UpdateEnvelope.decode(job.envelope, expecting: job.expectation).values } catch {
            return inputFailure("the stored upload does not decode: \(error)")
        }
        guard let bytes = FileManager.default.contents(atPath: job.checkpointPath),
              ContentDigest.hex(bytes) == job.checkpointVersion
        else { return inputFailure("the base checkpoint \(job.checkpointPath) is missing or damaged") }
        let base: Checkpoint
        do { base = try Checkpoint.decode(bytes, path: job.checkpointPath) } catch {
            return inputFailure("the base checkpoint does not decode: \(error)")
        }
        var shards: [ShardPayload] = []
        for (id, path) in zip(job.lease.shardIDs, job.shardPaths) {
            guard let data = FileManager.default.contents(atPath: path),
                  let payload = try? ShardFile.decode(data, name: "shard \(id.prefix(12))", expectedID: id)
            else { return inputFailure("shard \(id.prefix(12)) is missing or damaged") }
            shards.append(payload)
        }
        return verifier.verify(
            .init(
                lease: job.lease, base: base, shards: shards, commitment: job.commitment, proof: proof,
                uploaded: values, allowedInnerStates: job.allowedInnerStates, segment: job.segment,
                portable: job.second))
    }
}
