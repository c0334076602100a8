import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import CrowdTraining
import CrowdVerification
import Foundation
import Testing

/// The verifier's checks on a tiny MLP: the honest trajectory passes (bit for bit at one thread count), and each
/// way of lying about it fails with its own code.
@Suite struct SegmentVerifierTests {
    static let steps = 6, k = 2

    static func images(count: Int, seed: UInt64) -> ImageDataset { SyntheticImages.halves(count: count, seed: seed) }

    static func setup(kind: String = "sgd") throws -> (Lease, Checkpoint, [ShardPayload]) {
        let model = MLP(config: MLPConfig(inputs: 16, hidden: [8], classes: 2), seed: 3)
        let checkpoint = try Checkpoint(model: model)
        var lease = Lease(
            leaseID: "l", round: 1, modelVersion: String(repeating: "0", count: 64), schemaHash: checkpoint.schemaHash,
            workload: "fmnist-mlp", modelKind: MLP.kind, shardIDs: ["s"], steps: steps, batch: 8, block: nil,
            inner: InnerOptimizerConfig(
                kind: kind, lr: kind == "sgd" ? 0.1 : 0.01, momentum: 0.9, weightDecay: 0.01, keepState: false),
            codec: "int8", codecLevel: 1, seed: 42, deadline: 0, samples: steps * 8)
        lease.verification = LeaseVerification(segmentSteps: k)
        return (lease, checkpoint, [.images(images(count: 64, seed: 5))])
    }

    /// Trains the lease on `shards`, recording the trajectory; returns it with the int8 envelope's decoded values.
    static func train(_ lease: Lease, _ base: Checkpoint, _ shards: [ShardPayload], scale: Float = 1) throws
        -> (Trajectory, [Float])
    {
        let program = try LeaseProgram(lease: lease, checkpoint: base, shards: shards)
        var t = Trajectory(steps: lease.steps, segmentSteps: k)
        t.record(leaf: 0, params: program.model.params, optimizer: program.optimizer.state)
        for done in 1...lease.steps {
            _ = program.step()
            if let leaf = t.leaf(afterStep: done) { t.record(leaf: leaf, params: program.model.params, optimizer: program.optimizer.state) }
        }
        let delta = zip(base.params, program.model.params.toArray()).map { scale * ($0 - $1) }
        var feedback = ErrorFeedback(count: delta.count)
        var header = EnvelopeHeader(
            schemaHash: base.schemaHash, round: 1, baseModel: [UInt8](repeating: 0, count: 32), codec: .int8(block: 256),
            elementCount: delta.count)
        header.commitment = t.commitment(samples: lease.samples)
        let body = try feedback.encode(delta, header: header)
        let decoded = try UpdateEnvelope.decode(
            body, expecting: EnvelopeExpectation(schemaHash: base.schemaHash, round: 1, baseModel: header.baseModel,
                                                 elementCount: delta.count))
        #expect(decoded.header.commitment == header.commitment)
        return (t, decoded.values)
    }

    let verifier = SegmentVerifier(tolerance: 0.01, updateTolerance: 0.25)

    func verify(_ lease: Lease, _ base: Checkpoint, _ shards: [ShardPayload], _ t: Trajectory, _ values: [Float],
                segment: Int, proof: TrajectoryProof? = nil, commitment: WorkCommitment? = nil) throws -> VerificationReport {
        let c = try #require(commitment ?? t.commitment(samples: lease.samples))
        let p = try #require(proof ?? t.proof(segment: segment))
        let wire = try TrajectoryProof.decode(p.encoded(), parameters: base.params.count)
        return verifier.verify(.init(
            lease: lease, base: base, shards: shards, commitment: c, proof: wire, uploaded: values,
            allowedInnerStates: [], segment: segment))
    }

    @Test(arguments: ["sgd", "adamw"]) func anHonestTrajectoryPassesEverySegmentBitForBit(kind: String) throws {
        let (lease, base, shards) = try Self.setup(kind: kind)
        let (t, values) = try Self.train(lease, base, shards)
        for segment in 0..<(t.leafCount - 1) {
            let r = try verify(lease, base, shards, t, values, segment: segment)
            #expect(r.passed && r.bitwise, "\(r)")
            #expect(r.steps == Self.k && (r.updateDistance ?? 1) < 0.05)
            // The portable kernel (the second verifier) agrees within the tolerance.
            let p = try TrajectoryProof.decode(t.proof(segment: segment)!.encoded(), parameters: base.params.count)
            let second = verifier.verify(.init(
                lease: lease, base: base, shards: shards, commitment: t.commitment(samples: lease.samples)!, proof: p,
                uploaded: values, allowedInnerStates: [], segment: segment, portable: true))
            #expect(second.passed, "\(second)")
        }
    }

    @Test func trainingOtherDataFailsTheReplay() throws {
        let (lease, base, shards) = try Self.setup()
        let other: [ShardPayload] = [.images(Self.images(count: 64, seed: 99))]
        let (t, values) = try Self.train(lease, base, other)
        let r = try verify(lease, base, shards, t, values, segment: 1)
        #expect(r.result == "replay_mismatch" && (r.paramDistance ?? 0) > 0.1, "\(r)")
    }

    @Test func anUploadThatIsNotTheTrajectorysDeltaFails() throws {
        let (lease, base, shards) = try Self.setup()
        let (t, values) = try Self.train(lease, base, shards, scale: 2)  // trained honestly, doubled the upload
        let r = try verify(lease, base, shards, t, values, segment: 0)
        #expect(r.result == "update_mismatch", "\(r)")
    }

    @Test func aRevealedStateThatIsNotTheCommittedOneFails() throws {
        let (lease, base, shards) = try Self.setup()
        let (t, values) = try Self.train(lease, base, shards)
        var p = try #require(t.proof(segment: 1))
        p.end.params[0] += 0.5
        #expect(try verify(lease, base, shards, t, values, segment: 1, proof: p).result == "proof_invalid")
        // The right proof for another segment than the one challenged.
        #expect(try verify(lease, base, shards, t, values, segment: 2, proof: t.proof(segment: 1)).result == "proof_invalid")
    }

    @Test func segmentZeroMustStartFromTheLeasesModelAndAnAllowedOptimizer() throws {
        let (lease, base, shards) = try Self.setup()
        // A trajectory from another starting model (an old base: a replay).
        let old = Checkpoint(
            kind: base.kind, schemaHash: base.schemaHash, configJSON: base.configJSON,
            params: base.params.map { $0 + 0.01 })
        let (t, _) = try Self.train(lease, old, shards)
        let delta = zip(base.params, t.states[t.leafCount - 1]!.params).map { $0 - $1 }
        #expect(try verify(lease, base, shards, t, delta, segment: 0).result == "wrong_start")
    }

    @Test func hostileProofBodiesAreRefusedBeforeAllocating() throws {
        let (lease, base, shards) = try Self.setup()
        let (t, _) = try Self.train(lease, base, shards)
        let good = try #require(t.proof(segment: 0)).encoded()
        let n = base.params.count
        #expect(throws: LeaseInputError.self) { try TrajectoryProof.decode(good.prefix(good.count - 1), parameters: n) }
        #expect(throws: LeaseInputError.self) { try TrajectoryProof.decode(good + Data([0]), parameters: n) }
        #expect(throws: LeaseInputError.self) { try TrajectoryProof.decode(good, parameters: n + 1) }
        #expect(throws: LeaseInputError.self) { try TrajectoryProof.decode(Data("CTPF".utf8), parameters: n) }
        var huge = good
        huge.replaceSubrange(16..<24, with: withUnsafeBytes(of: UInt64.max.littleEndian) { Data($0) })
        #expect(throws: LeaseInputError.self) { try TrajectoryProof.decode(huge, parameters: n) }
        for cut in stride(from: 0, to: good.count, by: max(1, good.count / 97)) {
            #expect(throws: LeaseInputError.self) { try TrajectoryProof.decode(good.prefix(cut), parameters: n) }
        }
        #expect(try TrajectoryProof.decode(good, parameters: n).segment == 0)
    }

    @Test func commitmentClaimsAreCheckedAgainstTheLease() throws {
        let (lease, base, shards) = try Self.setup()
        let (t, _) = try Self.train(lease, base, shards)
        let c = try #require(t.commitment(samples: lease.samples))
        let fresh = try LeaseProgram(lease: lease, checkpoint: base, shards: shards).freshOptimizerDigest
        #expect(CommitmentCheck.lies(c, steps: 6, samples: 48, segmentSteps: 2, allowedStarts: [fresh]).isEmpty)
        #expect(CommitmentCheck.lies(c, steps: 6, samples: 24, segmentSteps: 2, allowedStarts: [fresh]).count == 1)
        #expect(CommitmentCheck.lies(c, steps: 8, samples: 48, segmentSteps: 4, allowedStarts: []).count == 3)
    }

    @Test func theChallengeRateFallsWithACleanRecordToItsFloor() {
        let v = VerificationConfig(newPeerUpdates: 5, decay: 0.8, floorRate: 0.2)
        #expect((0..<5).allSatisfy { v.challengeRate(clean: $0) == 1 })
        #expect(abs(v.challengeRate(clean: 5) - 0.8) < 1e-12)
        #expect(v.challengeRate(clean: 100) == 0.2)
        #expect(v.problems(localSteps: 10).isEmpty)
        #expect(VerificationConfig(segmentSteps: 11).problems(localSteps: 10).count == 1)
        #expect(VerificationConfig().segmentSteps(localSteps: 50) == 5)
    }

    @Test func progressDigestsRestoreIntoTheSameCommitment() throws {
        let (lease, base, shards) = try Self.setup()
        let (t, _) = try Self.train(lease, base, shards)
        var partial = Trajectory(steps: Self.steps, segmentSteps: Self.k)
        let restored = partial.restoreDigests(t.digestBytes)
        #expect(restored)
        #expect(partial.commitment(samples: lease.samples) == t.commitment(samples: lease.samples))
        let refused = !partial.restoreDigests([1, 2, 3])
        #expect(refused)
    }
}
