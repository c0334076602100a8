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
    }

    struct Context: Sendable {
        var verifier: SegmentVerifier
        var onResult: @Sendable (Job, VerificationReport) -> Void
    }

    private struct State {
        var context: Context?
        var queue: [Job] = []
        var running = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func start(_ context: Context) { state.withLock { $0.context = context } }

    func submit(_ job: Job) {
        let spawn = state.withLock { s -> Bool in
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
                return (s.queue.removeFirst(), context)
            }
            guard let (job, context) = next else { return }
            context.onResult(job, Self.run(job, verifier: context.verifier))
        }
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
