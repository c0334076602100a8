import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation

/// What a verification found (stored as evidence, shown by `coordinator audit`).
public struct VerificationReport: Codable, Sendable, Equatable {
    /// `verified`, or the stable code of the failure: `proof_invalid` (the revealed states are not the committed
    /// ones), `wrong_start` (segment 0 does not start from the lease's model and optimizer), `replay_mismatch` (the
    /// re-executed steps do not reach the committed state), `update_mismatch` (the upload is not this trajectory's Δ).
    public var result: String
    public var segment: Int
    /// True when the re-executed state is bit for bit the committed one.
    public var bitwise: Bool
    /// ‖θ_replayed − θ_committed‖ / ‖θ_committed − θ_start‖ (0 when bitwise; nil when no replay ran).
    public var paramDistance: Double?
    /// Largest ‖b_replayed − b_committed‖ / ‖b_committed‖ over the optimizer buffers.
    public var optimizerDistance: Double?
    /// ‖Δ_uploaded − (θ_0 − θ_H)‖ / ‖θ_0 − θ_H‖ (nil when not checked, e.g. top-k codecs).
    public var updateDistance: Double?
    /// Steps re-executed.
    public var steps: Int
    /// Seconds of the re-execution.
    public var seconds: Double
    /// The kernel that ran (`BLASBackend` summary, or "portable").
    public var kernel: String
    public var detail: String

    public var passed: Bool { result == Self.verified }
    public static let verified = "verified"

    public init(
        result: String, segment: Int, bitwise: Bool, paramDistance: Double?, optimizerDistance: Double?,
        updateDistance: Double?, steps: Int, seconds: Double, kernel: String, detail: String
    ) {
        self.result = result
        self.segment = segment
        self.bitwise = bitwise
        self.paramDistance = paramDistance
        self.optimizerDistance = optimizerDistance
        self.updateDistance = updateDistance
        self.steps = steps
        self.seconds = seconds
        self.kernel = kernel
        self.detail = detail
    }

    /// A failure found without re-executing anything.
    public static func failure(_ result: String, segment: Int, _ detail: String) -> VerificationReport {
        VerificationReport(
            result: result, segment: segment, bitwise: false, paramDistance: nil, optimizerDistance: nil,
            updateDistance: nil, steps: 0, seconds: 0, kernel: "-", detail: detail)
    }
}

/// The coordinator's check of one challenged segment. Pure computation over its inputs (no I/O): the coordinator,
/// the `bench verify` simulation and the tests run this same code.
///
/// Order: the revealed states must hash to the committed leaves (Merkle proofs), segment 0 must start from the
/// lease's base model and an allowed optimizer state, the upload must equal θ_0 − θ_H within the codec's
/// tolerance, and re-executing the segment's steps from its start state (the lease's batches, learning rates and
/// clipping) must reproduce the end state — bit for bit, or within `tolerance` of the segment's movement.
public struct SegmentVerifier: Sendable {
    public var tolerance: Double
    public var updateTolerance: Double

    public init(tolerance: Double, updateTolerance: Double) {
        self.tolerance = tolerance
        self.updateTolerance = updateTolerance
    }

    public struct Inputs {
        public var lease: Lease
        public var base: Checkpoint
        public var shards: [ShardPayload]
        public var commitment: WorkCommitment
        public var proof: TrajectoryProof
        /// The decoded upload Δ.
        public var uploaded: [Float]
        /// Allowed digests of the start optimizer state besides a fresh optimizer's.
        public var allowedInnerStates: [[UInt8]]
        /// The challenged segment.
        public var segment: Int
        /// Run the re-execution on the portable GEMM (the second verifier).
        public var portable: Bool

        public init(
            lease: Lease, base: Checkpoint, shards: [ShardPayload], commitment: WorkCommitment, proof: TrajectoryProof,
            uploaded: [Float], allowedInnerStates: [[UInt8]], segment: Int, portable: Bool = false
        ) {
            self.lease = lease
            self.base = base
            self.shards = shards
            self.commitment = commitment
            self.proof = proof
            self.uploaded = uploaded
            self.allowedInnerStates = allowedInnerStates
            self.segment = segment
            self.portable = portable
        }
    }

    /// The relative update tolerance for a codec: lossy codecs with error feedback carry the previous residual.
    public static func updateToleranceApplies(codec: String) -> Bool { !codec.hasPrefix("topk") }

    public func verify(_ x: Inputs) -> VerificationReport {
        let kernel = x.portable ? "portable" : BLASBackend.shared.summary
        func fail(_ code: String, _ detail: String, param: Double? = nil, opt: Double? = nil, upd: Double? = nil,
                  steps: Int = 0, seconds: Double = 0) -> VerificationReport {
            VerificationReport(
                result: code, segment: x.segment, bitwise: false, paramDistance: param, optimizerDistance: opt,
                updateDistance: upd, steps: steps, seconds: seconds, kernel: kernel, detail: detail)
        }
        let c = x.commitment, p = x.proof
        let k = Int(c.segmentSteps), steps = Int(c.steps), leaves = Int(c.leaves)
        guard p.segment == x.segment, p.leaves == leaves, x.segment >= 0, x.segment + 1 < leaves else {
            return fail("proof_invalid", "the proof answers segment \(p.segment) of \(p.leaves) leaves; the challenge "
                + "was segment \(x.segment) of \(leaves)")
        }
        let startStep = WorkCommitment.step(ofLeaf: x.segment, steps: steps, segmentSteps: k)
        let endStep = WorkCommitment.step(ofLeaf: x.segment + 1, steps: steps, segmentSteps: k)
        let startP = StateDigest.params(p.start.params), startO = StateDigest.optimizer(p.start.optimizer)
        let endP = StateDigest.params(p.end.params), endO = StateDigest.optimizer(p.end.optimizer)
        let finalIndex = leaves - 1
        let finalParams = p.finalParams ?? (x.segment + 1 == finalIndex ? p.end.params : nil)
        guard let finalParams, finalParams.count == x.base.params.count else {
            return fail("proof_invalid", "the proof lacks the final parameters")
        }
        let finalP = StateDigest.params(finalParams)
        let checks: [(index: Int, step: Int, params: [UInt8], opt: [UInt8], proof: [[UInt8]], what: String)] = [
            (x.segment, startStep, startP, startO, p.startProof, "segment start"),
            (x.segment + 1, endStep, endP, endO, p.endProof, "segment end"),
            (finalIndex, steps, finalP, p.finalOptimizerDigest, p.finalProof, "final state"),
        ]
        for ch in checks {
            let leaf = StateDigest.leaf(index: ch.index, step: ch.step, params: ch.params, optimizer: ch.opt)
            guard MerkleTree.verify(leaf: leaf, index: ch.index, count: leaves, proof: ch.proof, root: c.root) else {
                return fail("proof_invalid", "the revealed \(ch.what) (leaf \(ch.index)) is not the committed one")
            }
        }
        guard p.finalOptimizerDigest == c.endInnerState, x.segment > 0 || startO == c.startInnerState else {
            return fail("proof_invalid", "the revealed optimizer digests contradict the commitment's")
        }
        let program: LeaseProgram
        do { program = try LeaseProgram(lease: x.lease, checkpoint: x.base, shards: x.shards) } catch {
            return fail("input_error", "the coordinator could not set up the lease: \(error)")
        }
        if x.segment == 0 {
            guard startP == StateDigest.params(x.base.params) else {
                return fail("wrong_start", "segment 0 does not start from the lease's base model")
            }
            guard startO == program.freshOptimizerDigest || x.allowedInnerStates.contains(startO) else {
                return fail("wrong_start", "segment 0 starts from an optimizer state the lease did not allow")
            }
        }
        // The upload must be this trajectory's Δ = θ_0 − θ_H (within the codec's error and error feedback).
        var updateDistance: Double? = nil
        if Self.updateToleranceApplies(codec: x.lease.codec) {
            guard x.uploaded.count == finalParams.count else {
                return fail("update_mismatch", "the upload has \(x.uploaded.count) values for \(finalParams.count)")
            }
            var num = 0.0, den = 0.0
            for i in 0..<finalParams.count {
                let d = Double(x.base.params[i]) - Double(finalParams[i])
                let e = Double(x.uploaded[i]) - d
                num += e * e
                den += d * d
            }
            let dist = den > 0 ? (num / den).squareRoot() : (num > 0 ? .infinity : 0)
            updateDistance = dist
            guard dist <= updateTolerance else {
                return fail(
                    "update_mismatch",
                    String(format: "the upload differs from the committed trajectory's Δ by %.3g of its norm (limit %.3g)",
                           dist, updateTolerance), upd: dist)
            }
        }
        // Re-execute the segment.
        let started = DispatchTime.now().uptimeNanoseconds
        do { try program.load(params: p.start.params, optimizer: p.start.optimizer) } catch {
            return fail("replay_mismatch", "the revealed start state does not fit the lease's optimizer: \(error)",
                        upd: updateDistance)
        }
        program.skip(startStep)
        func run() { for _ in startStep..<endStep { _ = program.step() } }
        if x.portable { KernelOverride.withPortableGEMM(run) } else { run() }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let replayedP = program.paramsDigest, replayedState = program.optimizer.state
        if replayedP == endP && StateDigest.optimizer(replayedState) == endO {
            return VerificationReport(
                result: VerificationReport.verified, segment: x.segment, bitwise: true, paramDistance: 0,
                optimizerDistance: 0, updateDistance: updateDistance, steps: endStep - startStep, seconds: seconds,
                kernel: kernel, detail: "re-executed steps \(startStep)..<\(endStep): bit for bit")
        }
        let theta = program.model.params
        var num = 0.0, den = 0.0
        for i in 0..<theta.count {
            let e = Double(theta.base[i]) - Double(p.end.params[i])
            let m = Double(p.end.params[i]) - Double(p.start.params[i])
            num += e * e
            den += m * m
        }
        let paramDistance = den > 0 ? (num / den).squareRoot() : (num > 0 ? .infinity : 0)
        var optDistance = 0.0
        if replayedState.kind != p.end.optimizer.kind || replayedState.buffers.count != p.end.optimizer.buffers.count
            || replayedState.step != p.end.optimizer.step
        {
            optDistance = .infinity
        } else {
            for (a, b) in zip(replayedState.buffers, p.end.optimizer.buffers) {
                var n = 0.0, d = 0.0
                for i in 0..<min(a.count, b.count) {
                    let e = Double(a[i]) - Double(b[i])
                    n += e * e
                    d += Double(b[i]) * Double(b[i])
                }
                optDistance = max(optDistance, d > 0 ? (n / d).squareRoot() : (n > 0 ? .infinity : 0))
            }
        }
        let ok = paramDistance <= tolerance && optDistance <= tolerance
        return VerificationReport(
            result: ok ? VerificationReport.verified : "replay_mismatch", segment: x.segment, bitwise: false,
            paramDistance: paramDistance, optimizerDistance: optDistance, updateDistance: updateDistance,
            steps: endStep - startStep, seconds: seconds, kernel: kernel,
            detail: String(
                format: "re-executed steps %d..<%d: parameters %.3g, optimizer %.3g from the committed state (limit %.3g)",
                startStep, endStep, paramDistance, optDistance, tolerance))
    }
}
