import CrowdCodec
import CrowdEngine
import CrowdProtocol
import CrowdVerification
import Foundation

/// Verified work (Docs/Protocol.md "Verified work", Docs/ThreatModel.md): the commitment check at upload, the
/// challenge, the proof, the verifier's verdict, held credit and the penalty.
extension Coordinator {
    /// What the upload's commitment check decided.
    struct UploadVerification {
        var commitment: Data?
        var challenge: UpdateChallenge?
        var state: String?
    }

    /// Checks the envelope's commitment against the lease and decides the challenge. A commitment whose claims are
    /// not the lease's (steps, samples, segment length, an optimizer state the lease did not allow) is a false
    /// statement no honest peer makes: the credential is suspended and the evidence recorded.
    func verifyAtUpload(
        lease: LeaseRecord, header: EnvelopeHeader, peer: PeerRecord, reject: (APIErrorCode, String) -> APIError
    ) throws -> UploadVerification {
        let v = config.verification
        guard v.enabled else { return UploadVerification() }
        guard let c = header.commitment else {
            throw reject(
                .missingCommitment,
                "this campaign verifies work and the update carries no trajectory commitment; update crowdtrain")
        }
        let k = v.segmentSteps(localSteps: config.localSteps)
        let allowed = [freshInnerDigest] + (lease.innerState.flatMap { Hex.bytes($0) }.map { [$0] } ?? [])
        let lies = CommitmentCheck.lies(
            c, steps: config.localSteps, samples: lease.samples, segmentSteps: k, allowedStarts: allowed)
        if !lies.isEmpty {
            let detail = "the commitment " + lies.joined(separator: "; ")
            try punish(
                peerID: peer.id, leaseID: lease.id, round: lease.round, segment: -1, verifier: "upload",
                report: .failure("commitment_mismatch", segment: -1, detail))
            throw reject(.commitmentMismatch, detail + "; the claim is recorded and this credential is suspended")
        }
        let rate = v.challengeRate(clean: peer.auditClean)
        guard challengeDice() < rate else {
            return UploadVerification(commitment: Data(c.block), state: VerificationState.unchallenged)
        }
        let segments = Int(c.leaves) - 1
        let segment = min(segments - 1, Int(challengeDice() * Double(segments)))
        return UploadVerification(
            commitment: Data(c.block),
            challenge: UpdateChallenge(segment: segment, deadline: clock.now() + v.challengeSeconds),
            state: VerificationState.challenged)
    }

    /// `PUT /v1/updates/{leaseID}/proof`: stores the answer to the update's challenge and queues its verification.
    public func acceptProof(leaseID: String, peer: PeerRecord, body: Data) throws -> ProofReceipt {
        guard let u = try store.acceptedUpdate(leaseID: leaseID), u.peerID == peer.id else {
            throw APIError(.notFound, "this peer stored no update for lease \(leaseID)")
        }
        guard u.verification == VerificationState.challenged, let challenge = u.challenge,
              let block = u.commitment
        else {
            throw APIError(.noChallenge, "update \(leaseID.prefix(8)) has no open challenge; nothing to prove")
        }
        guard clock.now() <= challenge.deadline else {
            throw APIError(
                .noChallenge, "the challenge of update \(leaseID.prefix(8)) expired; its credit is forfeited")
        }
        guard try store.recordProof(leaseID: leaseID, at: clock.now()) else {
            throw APIError(.noChallenge, "the proof of update \(leaseID.prefix(8)) was already received")
        }
        try submitVerification(update: u, proof: body, commitmentBlock: block, segment: challenge.segment, second: false)
        logger.info(
            "proof received; verifying",
            metadata: ["lease": "\(leaseID)", "peer": "\(peer.id)", "segment": "\(challenge.segment)",
                       "bytes": "\(body.count)"])
        return ProofReceipt(leaseID: leaseID, status: "received")
    }

    func submitVerification(
        update u: AcceptedUpdateRecord, proof: Data, commitmentBlock: Data, segment: Int, second: Bool
    ) throws {
        guard let record = try store.lease(id: u.receipt.leaseID) else {
            throw APIError(.internalError, "lease \(u.receipt.leaseID) vanished from the database")
        }
        let lease = try wireLease(record)
        guard let round = try store.round(record.round), let checkpoint = try store.checkpoint(version: round.baseVersion)
        else { throw APIError(.internalError, "the base checkpoint of round \(record.round) is not recorded") }
        let commitment = try WorkCommitment(block: [UInt8](commitmentBlock))
        verifierQueue.submit(
            .init(
                leaseID: u.receipt.leaseID, peerID: u.peerID, round: record.round, segment: segment, lease: lease,
                checkpointPath: (paths.directory as NSString).appendingPathComponent(checkpoint.path),
                checkpointVersion: checkpoint.version,
                shardPaths: lease.shardIDs.map { shardFiles[$0] ?? "" }, commitment: commitment, proof: proof,
                envelope: u.envelope,
                expectation: EnvelopeExpectation(
                    schemaHash: schemaHash, round: record.round, baseModel: try baseDigest(round: record.round),
                    elementCount: elementCount),
                allowedInnerStates: record.innerState.flatMap { Hex.bytes($0) }.map { [$0] } ?? [],
                second: second))
    }

    /// The verifier's report for `job`: a pass releases held credit; a first failure goes to the second verifier;
    /// a confirmed failure suspends the peer.
    func verificationFinished(_ job: WorkVerifierQueue.Job, _ report: VerificationReport) {
        do {
            let now = clock.now()
            let json = String(decoding: (try? JSONEncoder().encode(report)) ?? Data(), as: UTF8.self)
            var evidence = VerificationRecord(
                leaseID: job.leaseID, peerID: job.peerID, round: job.round, segment: job.segment,
                verifier: job.second ? "second" : "first", result: report.result, report: json, createdAt: now)
            if report.result == "input_error" {
                // The coordinator's own inputs failed (a damaged file): not the peer's doing.
                evidence.verifier = "waived"
                let released = try store.recordVerification(evidence, final: true, passed: true, proof: nil, at: now)
                board.update { $0.creditTotal += released }
                logger.error("verification could not run; waived", metadata: ["lease": "\(job.leaseID)", "why": "\(report.detail)"])
                return
            }
            if report.passed {
                let released = try store.recordVerification(evidence, final: true, passed: true, proof: nil, at: now)
                board.update { $0.creditTotal += released }
                logger.info(
                    "update verified",
                    metadata: ["lease": "\(job.leaseID)", "peer": "\(job.peerID)", "segment": "\(job.segment)",
                               "bitwise": "\(report.bitwise)", "verifier": "\(evidence.verifier)",
                               "distance": "\(report.paramDistance.map { String(format: "%.3g", $0) } ?? "-")"])
                return
            }
            if !job.second {
                _ = try store.recordVerification(evidence, final: false, passed: false, proof: nil, at: now)
                logger.warning(
                    "verification failed; a second verifier re-runs it before any penalty",
                    metadata: ["lease": "\(job.leaseID)", "peer": "\(job.peerID)", "result": "\(report.result)",
                               "detail": "\(report.detail)"])
                var again = job
                again.second = true
                verifierQueue.submit(again)
                return
            }
            _ = try store.recordVerification(evidence, final: true, passed: false, proof: job.proof, at: now)
            try punish(
                peerID: job.peerID, leaseID: job.leaseID, round: job.round, segment: job.segment, verifier: nil,
                report: report)
        } catch {
            logger.error("could not record a verification", metadata: ["lease": "\(job.leaseID)", "error": "\(error)"])
        }
    }

    /// Suspends a peer caught cheating: its held credit is forfeited, its updates not yet aggregated are dropped,
    /// its open leases expire; `verifier` (when not nil) also records `report` as evidence.
    func punish(
        peerID: String, leaseID: String, round: UInt64, segment: Int, verifier: String?, report: VerificationReport
    ) throws {
        let now = clock.now()
        if let verifier {
            let json = String(decoding: (try? JSONEncoder().encode(report)) ?? Data(), as: UTF8.self)
            _ = try store.recordVerification(
                VerificationRecord(
                    leaseID: leaseID, peerID: peerID, round: round, segment: segment, verifier: verifier,
                    result: report.result, report: json, createdAt: now), final: false, passed: false, proof: nil,
                at: now)
        }
        let affected = try store.suspendPeer(
            id: peerID, reason: "\(report.result) on lease \(leaseID.prefix(8)): \(report.detail)", at: now)
        machine.dropLeases(peerID: peerID)
        work.signal()
        board.rejected(code: "suspended", bytes: 0)
        logger.warning(
            "peer suspended: its work failed verification",
            metadata: ["peer": "\(peerID)", "lease": "\(leaseID)", "result": "\(report.result)",
                       "updates_dropped_or_forfeited": "\(affected.count)", "detail": "\(report.detail)"])
    }

    /// Moves held credit whose audit window passed (or whose verification is done) to the ledger and forfeits
    /// unanswered challenges; `closedRound` is the newest closed round.
    func settleHeldCredit(closedRound: UInt64, finished: Bool) throws {
        guard config.verification.enabled else { return }
        let r = try store.settleHeld(
            closedRound: closedRound, windowRounds: config.verification.windowRounds, finished: finished,
            now: clock.now())
        if r.released > 0 { board.update { $0.creditTotal += r.released } }
        for id in r.unanswered {
            logger.notice("challenge unanswered; the update's credit is forfeited", metadata: ["lease": "\(id)"])
        }
    }

    /// Replaces the challenge draws (tests: a fixed sequence makes the challenged updates known).
    func setChallengeDice(_ dice: @escaping @Sendable () -> Double) { challengeDice = dice }

    /// Largest proof body for this model (`PUT /v1/updates/{leaseID}/proof`).
    public nonisolated var maxProofBytes: Int { TrajectoryProof.maxBytes(parameters: elementCount) }

    /// Returns once no verification is queued or running (tests, `bench`).
    public func waitForVerifications() async {
        while verifierQueue.isBusy { await verifierQueue.waitUntilIdle() }
    }
}
