import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import CrowdVerification
import Foundation
import Synchronization
import Testing

@testable import CrowdCoordinator

/// Verified work against a real coordinator (SQLite, the verifier thread, a manual clock): each test runs the
/// attack (or the honest path) and checks credit, suspension and the evidence; the control runs the same attack with
/// verification off.
@Suite struct VerifiedWorkTests {
    /// One lease per round, 6 steps committed every 2, the verification settings given.
    static func campaign(_ verification: VerificationConfig) throws -> TestCampaign {
        try TestCampaign.make {
            $0.peersPerRound = 1
            $0.localSteps = 6
            $0.maxRounds = 10
            $0.verification = verification
            $0.verification.segmentSteps = 2
        }
    }

    /// A fixed sequence of challenge draws (then 0.99: unchallenged).
    final class Dice: Sendable {
        let values: Mutex<[Double]>
        init(_ values: [Double]) { self.values = Mutex(values) }
        func next() -> Double { values.withLock { $0.isEmpty ? 0.99 : $0.removeFirst() } }
    }

    struct Peer {
        let c: Coordinator
        let record: PeerRecord
        let credential: String

        static func join(_ c: Coordinator, _ tc: TestCampaign) async throws -> Peer {
            let joined = try await c.join(JoinRequest(invite: try tc.invite(1)[0], name: "p"))
            return Peer(
                c: c, record: try c.authenticate(authorization: "Bearer \(joined.credential)"),
                credential: joined.credential)
        }

        func lease() async throws -> (Lease, Data) {
            let lease = try #require(try await c.lease(for: record, request: LeaseRequest(threads: 1)).lease)
            return (lease, try await c.modelBytes(version: lease.modelVersion))
        }
    }

    /// What a peer uploads for `lease`: trains it (on `shard`, default the leased one) and commits (claiming
    /// `claimSamples`, default the lease's).
    static func work(
        _ c: Coordinator, _ lease: Lease, _ base: Data, shard: String? = nil, claimSamples: Int? = nil,
        commit: Bool = true
    ) async throws -> (envelope: Data, trajectory: Trajectory) {
        let checkpoint = try Checkpoint.decode(base)
        let id = shard ?? lease.shardIDs[0]
        let payload = try ShardFile.decode(try await c.storedShard(id), name: "shard", expectedID: id)
        let x = try LeaseProgram.execute(
            lease: lease, checkpoint: checkpoint, shards: [payload], segmentSteps: lease.verification?.segmentSteps ?? 2)
        let t = try #require(x.trajectory)
        let body = try envelope(
            x.delta, lease: lease, base: base, exact: true,
            commitment: commit ? t.commitment(samples: claimSamples ?? lease.samples) : nil)
        return (body, t)
    }

    func code(_ error: any Error) -> APIErrorCode? { (error as? APIError)?.code }

    /// Shards of the campaign other than `id`.
    static func otherShard(_ tc: TestCampaign, than id: String) throws -> String {
        let manifest = try ShardManifest.load(directory: CampaignPaths(directory: tc.directory).shards)
        return try #require(manifest.shards.map(\.id).first { $0 != id })
    }

    @Test func anHonestChallengedUpdateIsVerifiedAndCredited() async throws {
        let tc = try Self.campaign(VerificationConfig(windowRounds: 3))
        defer { tc.remove() }
        let c = try tc.open()
        let peer = try await Peer.join(c, tc)
        let (lease, base) = try await peer.lease()
        #expect(lease.verification?.segmentSteps == 2)
        let (body, trajectory) = try await Self.work(c, lease, base)
        let receipt = try await c.upload(leaseID: lease.leaseID, peer: peer.record, body: body, trainLoss: nil)
        await c.waitForEvaluations()  // the round closes after the upload's reply
        let challenge = try #require(receipt.challenge, "a new peer's updates are all challenged")
        #expect((0..<3).contains(challenge.segment))
        // The round closed on this upload: aggregated, credit held until the proof is verified.
        #expect(try await c.outcome(leaseID: lease.leaseID, peer: peer.record).status == UpdateOutcome.held)
        let proof = try #require(trajectory.proof(segment: challenge.segment))
        _ = try await c.acceptProof(leaseID: lease.leaseID, peer: peer.record, body: proof.encoded())
        await c.waitForVerifications()
        let outcome = try await c.outcome(leaseID: lease.leaseID, peer: peer.record)
        #expect(outcome.status == UpdateOutcome.credited && outcome.verification == VerificationState.verified)
        #expect(outcome.credit > 0)
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        let evidence = try store.verifications(peerID: nil, limit: 10)
        #expect(evidence.count == 1 && evidence[0].result == "verified" && evidence[0].verifier == "first")
        #expect(try store.peer(id: peer.record.id)?.auditClean == 1)
        #expect((try store.ledgerTotals()[peer.record.id] ?? 0) > 0)
        // A second proof for the same challenge, and a proof for nothing, are refused.
        await #expect { try await c.acceptProof(leaseID: lease.leaseID, peer: peer.record, body: proof.encoded()) }
            throws: { code($0) == .noChallenge }
    }

    /// The attack: a peer trains on a shard it was not leased (cheap data it has, say) and commits honestly to
    /// that trajectory. Its first update is honest and unchallenged (credit held); its second is the cheat and is
    /// challenged. Returns the ledger credit the peer ends with, whether it was suspended, and the evidence.
    func wrongShardAttack(verify: Bool) async throws -> (ledger: Double, suspended: Bool, evidence: [VerificationRecord],
                                                          outcomes: [String])
    {
        var v = VerificationConfig(newPeerUpdates: 0, decay: 0.5, floorRate: 0.5, windowRounds: 3)
        v.enabled = verify
        let tc = try Self.campaign(v)
        defer { tc.remove() }
        let c = try tc.open()
        let dice = Dice([0.9, 0.1, 0.0])  // first upload unchallenged; second challenged, segment 0
        await c.setChallengeDice { dice.next() }
        let peer = try await Peer.join(c, tc)
        let (first, base1) = try await peer.lease()
        let honest = try await Self.work(c, first, base1, commit: verify)
        let r1 = try await c.upload(leaseID: first.leaseID, peer: peer.record, body: honest.envelope, trainLoss: nil)
        #expect(r1.challenge == nil)
        let (second, base2) = try await peer.lease()
        let cheat = try await Self.work(
            c, second, base2, shard: try Self.otherShard(tc, than: second.shardIDs[0]), commit: verify)
        let r2 = try await c.upload(leaseID: second.leaseID, peer: peer.record, body: cheat.envelope, trainLoss: nil)
        if verify {
            let challenge = try #require(r2.challenge)
            let proof = try #require(cheat.trajectory.proof(segment: challenge.segment))
            _ = try await c.acceptProof(leaseID: second.leaseID, peer: peer.record, body: proof.encoded())
        }
        await c.waitForVerifications()
        await c.advanceAndTick(tc, seconds: 2)
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        let suspended = (try store.peer(id: peer.record.id))?.suspendedAt != nil
        let outcomes = try [first, second].map { try store.acceptedUpdate(leaseID: $0.leaseID)?.status ?? "-" }
        return (try store.ledgerTotals()[peer.record.id] ?? 0, suspended, try store.verifications(peerID: nil, limit: 10),
                outcomes)
    }

    @Test func aPeerTrainingTheWrongShardIsCaughtSuspendedAndLosesItsHeldCredit() async throws {
        let defended = try await wrongShardAttack(verify: true)
        #expect(defended.suspended)
        #expect(defended.ledger == 0, "held credit of the honest first update is forfeited with the cheat")
        #expect(defended.outcomes == [UpdateOutcome.forfeited, UpdateOutcome.forfeited], "\(defended.outcomes)")
        let results = defended.evidence.map { "\($0.verifier):\($0.result)" }.sorted()
        #expect(results == ["first:replay_mismatch", "second:replay_mismatch"], "\(results)")
        let report = try JSONDecoder().decode(VerificationReport.self, from: Data(defended.evidence[0].report.utf8))
        #expect((report.paramDistance ?? 0) > 0.1, "a wrong-data segment is far from the committed state: \(report)")
        // Control: without verification the same peer is credited for both updates.
        let control = try await wrongShardAttack(verify: false)
        #expect(!control.suspended && control.ledger > 0 && control.outcomes == ["credited", "credited"])
    }

    @Test func aSuspendedPeerIsRefusedAndItsOpenLeaseEnds() async throws {
        let tc = try Self.campaign(VerificationConfig())
        defer { tc.remove() }
        let c = try tc.open()
        let peer = try await Peer.join(c, tc)
        let (lease, base) = try await peer.lease()
        // The commitment claims twice the lease's samples: refused at upload, the credential suspended.
        let inflated = try await Self.work(c, lease, base, claimSamples: lease.samples * 2)
        await #expect { try await c.upload(leaseID: lease.leaseID, peer: peer.record, body: inflated.envelope, trainLoss: nil) }
            throws: { code($0) == .commitmentMismatch }
        #expect(throws: APIError.self) { try c.authenticate(authorization: "Bearer \(peer.credential)") }
        do {
            _ = try c.authenticate(authorization: "Bearer \(peer.credential)")
        } catch let e as APIError {
            #expect(e.code == .suspended && e.message.contains("claims \(lease.samples * 2) samples"))
        }
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        #expect(try store.verifications(peerID: peer.record.id, limit: 5).map(\.result) == ["commitment_mismatch"])
        #expect(try store.acceptedUpdate(leaseID: lease.leaseID) == nil)
        #expect(await c.roundState.openLeases.isEmpty)
    }

    @Test func anUpdateWithoutACommitmentIsRefusedWithoutPenalty() async throws {
        let tc = try Self.campaign(VerificationConfig())
        defer { tc.remove() }
        let c = try tc.open()
        let peer = try await Peer.join(c, tc)
        let (lease, base) = try await peer.lease()
        let plain = try await Self.work(c, lease, base, commit: false)
        await #expect { try await c.upload(leaseID: lease.leaseID, peer: peer.record, body: plain.envelope, trainLoss: nil) }
            throws: { code($0) == .missingCommitment }
        _ = try c.authenticate(authorization: "Bearer \(peer.credential)")  // not suspended
    }

    @Test func anUnansweredChallengeForfeitsThatUpdateOnly() async throws {
        let tc = try Self.campaign(VerificationConfig(challengeSeconds: 30))
        defer { tc.remove() }
        let c = try tc.open()
        let peer = try await Peer.join(c, tc)
        let (lease, base) = try await peer.lease()
        let w = try await Self.work(c, lease, base)
        #expect(try await c.upload(leaseID: lease.leaseID, peer: peer.record, body: w.envelope, trainLoss: nil).challenge != nil)
        await c.waitForEvaluations()
        await c.advanceAndTick(tc, seconds: 31)
        let outcome = try await c.outcome(leaseID: lease.leaseID, peer: peer.record)
        #expect(outcome.status == UpdateOutcome.forfeited && outcome.reason == "unverified")
        #expect(outcome.verification == VerificationState.unanswered)
        await #expect {
            try await c.acceptProof(leaseID: lease.leaseID, peer: peer.record, body: w.trajectory.proof(segment: 0)!.encoded())
        } throws: { code($0) == .noChallenge }
        _ = try c.authenticate(authorization: "Bearer \(peer.credential)")  // a missed challenge is not a penalty
    }

    @Test func unchallengedCreditIsHeldForTheWindowThenReleased() async throws {
        let tc = try Self.campaign(VerificationConfig(newPeerUpdates: 0, decay: 0, floorRate: 0, windowRounds: 2))
        defer { tc.remove() }
        let c = try tc.open()
        let peer = try await Peer.join(c, tc)
        var leases: [Lease] = []
        for _ in 0..<3 {
            let (lease, base) = try await peer.lease()
            let w = try await Self.work(c, lease, base)
            #expect(try await c.upload(leaseID: lease.leaseID, peer: peer.record, body: w.envelope, trainLoss: nil).challenge == nil)
            leases.append(lease)
        }
        await c.waitForEvaluations()
        // Rounds 1–3 closed: round 1's credit is released (1 + 2 ≤ 3), rounds 2 and 3 are still held.
        let statuses = try await leases.asyncMap { try await c.outcome(leaseID: $0.leaseID, peer: peer.record).status }
        #expect(statuses == [UpdateOutcome.credited, UpdateOutcome.held, UpdateOutcome.held], "\(statuses)")
    }

    @Test func aGarbageProofIsAFailedVerification() async throws {
        let tc = try Self.campaign(VerificationConfig())
        defer { tc.remove() }
        let c = try tc.open()
        let peer = try await Peer.join(c, tc)
        let (lease, base) = try await peer.lease()
        let w = try await Self.work(c, lease, base)
        _ = try await c.upload(leaseID: lease.leaseID, peer: peer.record, body: w.envelope, trainLoss: nil)
        _ = try await c.acceptProof(leaseID: lease.leaseID, peer: peer.record, body: Data("not a proof".utf8))
        await c.waitForVerifications()
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        #expect(try store.peer(id: peer.record.id)?.suspendedAt != nil)
        #expect(try store.verifications(peerID: nil, limit: 5).map(\.result) == ["proof_invalid", "proof_invalid"])
    }
}

extension Array {
    func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await f(e)) }
        return out
    }
}
