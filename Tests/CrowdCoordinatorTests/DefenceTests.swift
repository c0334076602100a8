import CrowdAggregation
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import CrowdTraining
import CrowdVerification
import Foundation
import Testing

@testable import CrowdCodec
@testable import CrowdCoordinator

/// The attacks of issue 13 against a real coordinator with its default defence: each test runs the attack and
/// checks the campaign keeps going and the attacker earns nothing, while honest peers (who really train their
/// lease) are credited.
@Suite struct DefenceTests {
    /// A defended campaign: the standard defence, the default aggregator, `peers` leases per round, 10 local steps.
    static func campaign(peers: Int, codec: String = "fp32", _ more: (inout CampaignConfig) -> Void = { _ in })
        throws -> TestCampaign
    {
        try TestCampaign.make {
            $0.peersPerRound = peers
            $0.minUpdates = 1
            $0.localSteps = 10
            $0.codec = codec
            $0.aggregator = CampaignConfig.defaultAggregator
            $0.defence = .standard
            more(&$0)
        }
    }

    /// Peers of one campaign, with their credentials resolved.
    struct Crowd {
        let c: Coordinator
        let peers: [PeerRecord]

        static func join(_ c: Coordinator, _ tc: TestCampaign, _ n: Int) async throws -> Crowd {
            var peers: [PeerRecord] = []
            for (i, invite) in try tc.invite(n).enumerated() {
                let joined = try await c.join(JoinRequest(invite: invite, name: "peer-\(i)"))
                peers.append(try await c.authenticate(authorization: "Bearer \(joined.credential)"))
            }
            return Crowd(c: c, peers: peers)
        }

        func lease(_ i: Int) async throws -> (Lease, Data) {
            let lease = try #require(try await c.lease(for: peers[i], request: LeaseRequest(threads: 1)).lease)
            return (lease, try await c.modelBytes(version: lease.modelVersion))
        }

        @discardableResult
        func upload(_ i: Int, _ lease: Lease, _ body: Data) async throws -> Receipt {
            try await c.upload(leaseID: lease.leaseID, peer: peers[i], body: body, trainLoss: nil)
        }

        func outcome(_ i: Int, _ lease: Lease) async throws -> UpdateOutcome {
            try await c.outcome(leaseID: lease.leaseID, peer: peers[i])
        }
    }

    /// What an honest peer uploads: the lease's steps of SGD on its shard from the base model.
    static func honestDelta(_ c: Coordinator, _ lease: Lease, _ base: Data) async throws -> [Float] {
        let checkpoint = try Checkpoint.decode(base)
        let model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: lease.seed)
        try checkpoint.load(into: model)
        let shard = try await c.storedShard(lease.shardIDs[0])
        guard case .images(let data) = try ShardFile.decode(shard, name: "shard", expectedID: lease.shardIDs[0]) else {
            throw CoordinatorError("expected an image shard")
        }
        let optimizer = try InnerOptimizerConfig(kind: "sgd", lr: lease.inner.lr, momentum: lease.inner.momentum)
            .make(for: model.layout)
        _ = LocalTrainer.run(
            model: model, optimizer: optimizer, steps: lease.steps, lr: { _ in lease.inner.lr }, gradClip: 0,
            nextBatch: BatchSampler.images(data, batch: lease.batch, seed: lease.seed))
        return zip(checkpoint.params, model.params.toArray()).map { $0 - $1 }
    }

    static func gaussian(_ n: Int, norm: Double, seed: UInt64) -> [Float] {
        var rng = SeededRNG(seed: seed)
        var v = (0..<n).map { _ in rng.nextNormal() }
        AggregationMath.scale(&v, by: Float(norm / AggregationMath.l2Norm(v)))
        return v
    }

    func code(_ error: any Error) -> APIErrorCode? { (error as? APIError)?.code }

    /// `POST /v1/outcomes`: one request answers a peer's open receipts exactly as one `GET` each would, and says
    /// nothing of another peer's lease, an unknown id or a repeat.
    @Test func oneOutcomesRequestAnswersAsTheSingleReadsWouldAndOnlyForTheAsker() async throws {
        let tc = try Self.campaign(peers: 2)
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 2)
        let c = crowd.c
        var leases: [Lease] = []
        for i in 0..<2 {
            let (lease, base) = try await crowd.lease(i)
            let delta = try await Self.honestDelta(c, lease, base)
            try await crowd.upload(i, lease, try envelope(delta, lease: lease, base: base, exact: true))
            leases.append(lease)
        }
        let pending = try await c.outcomes(leaseIDs: [leases[0].leaseID], peer: crowd.peers[0])
        let single = try await crowd.outcome(0, leases[0])
        #expect(pending.outcomes == [single])
        await c.waitForEvaluations()
        let ids = [leases[0].leaseID, leases[1].leaseID, leases[0].leaseID, "no-such-lease"]
        let mine = try await c.outcomes(leaseIDs: ids, peer: crowd.peers[0])
        let first = try await crowd.outcome(0, leases[0])
        #expect(mine.outcomes == [first] && first.status != UpdateOutcome.pending)
        let theirs = try await c.outcomes(leaseIDs: ids, peer: crowd.peers[1])
        let second = try await crowd.outcome(1, leases[1])
        #expect(theirs.outcomes == [second])
    }

    @Test func freeRidersAndCopiesEarnNothingWhileHonestPeersAreCredited() async throws {
        let tc = try Self.campaign(peers: 8)
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 8)
        let c = crowd.c
        let theta0 = await c.currentParameters
        let n = theta0.count
        var leases: [(Lease, Data)] = []
        for i in 0..<8 { leases.append(try await crowd.lease(i)) }
        var honest: [[Float]] = []
        for i in 0..<3 { honest.append(try await Self.honestDelta(c, leases[i].0, leases[i].1)) }
        let honestNorm = AggregationMath.l2Norm(honest[0])
        let bodies: [[Float]] = honest + [
            [Float](repeating: 0, count: n),  // 3: zero, no work
            Self.gaussian(n, norm: 1e-7 * Double(n).squareRoot(), seed: 4),  // 4: 1e-7 noise
            Self.gaussian(n, norm: honestNorm, seed: 5),  // 5: noise as large as an honest update
            honest[0].map { $0 * 0.5 },  // 6: a rescaled copy of peer 0's update
        ]
        for (i, values) in bodies.enumerated() {
            let (lease, base) = leases[i]
            let receipt = try await crowd.upload(i, lease, try envelope(values, lease: lease, base: base, exact: true))
            #expect(receipt.status == "pending" && receipt.credit == 0)
            if i == 0 {
                // A byte copy of peer 0's values under peer 7's own lease is refused outright.
                let (other, otherBase) = leases[7]
                await #expect { try await crowd.upload(7, other, try envelope(values, lease: other, base: otherBase, exact: true)) }
                    throws: { code($0) == .duplicateUpdate }
            }
        }
        await c.advanceAndTick(tc, seconds: 101)  // the deadline closes the round with its 7 stored updates
        #expect(await c.roundState.round == 2)
        var reasons: [String?] = []
        for i in 0..<7 { reasons.append(try await crowd.outcome(i, leases[i].0).reason) }
        #expect(reasons == [nil, nil, nil, "tiny_update", "tiny_update", "no_progress", "copied_update"])
        for i in 0..<3 {
            let o = try await crowd.outcome(i, leases[i].0)
            #expect(o.status == "credited" && o.credit > 0 && o.samples == leases[i].0.samples)
        }
        for i in 3..<7 {
            let o = try await crowd.outcome(i, leases[i].0)
            #expect(o.status == "no_credit" && o.credit == 0 && o.explanation != nil)
        }
        #expect(try tc.count("ledger") == 3)
        let theta1 = await c.currentParameters
        #expect(theta1 != theta0 && AggregationMath.allFinite(theta1))

        // Round 2: an old update re-labelled with the current round and base model is refused; rescaled, or a
        // copy of the broadcast model change, it earns nothing.
        let (l0, b0) = try await crowd.lease(0)
        await #expect { try await crowd.upload(0, l0, try envelope(honest[1], lease: l0, base: b0, exact: true)) }
            throws: { code($0) == .duplicateUpdate }
        let (l1, b1) = try await crowd.lease(1)
        try await crowd.upload(1, l1, try envelope(honest[1].map { $0 * 1.01 }, lease: l1, base: b1, exact: true))
        let (l2, b2) = try await crowd.lease(2)
        try await crowd.upload(2, l2, try envelope(zip(theta0, theta1).map { $0 - $1 }, lease: l2, base: b2, exact: true))
        let (l3, b3) = try await crowd.lease(3)
        try await crowd.upload(3, l3, try envelope(try await Self.honestDelta(c, l3, b3), lease: l3, base: b3, exact: true))
        await c.advanceAndTick(tc, seconds: 101)
        #expect(await c.roundState.round == 3)
        #expect(try await crowd.outcome(1, l1).reason == "copied_update")
        #expect(try await crowd.outcome(2, l2).reason == "copied_update")
        #expect(try await crowd.outcome(3, l3).status == "credited")
        let report = try CampaignAudit.run(directory: tc.directory, acknowledged: [])
        #expect(report.ok, "\(report.violations)")
    }

    @Test func aNearMaxFloatInt8UpdateCannotHaltTheCampaign() async throws {
        let tc = try Self.campaign(peers: 3, codec: "int8")
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 3)
        let c = crowd.c
        let n = await c.currentParameters.count
        for round in 1...2 {
            var leases: [(Lease, Data)] = []
            for i in 0..<3 { leases.append(try await crowd.lease(i)) }
            for i in 0..<2 {
                let (l, b) = leases[i]
                try await crowd.upload(
                    i, l, try envelope(try await Self.honestDelta(c, l, b), lease: l, base: b, codec: .int8(block: 256)))
            }
            // Finite, but near 3e38: the attack that used to make the outer step overflow and the round stick.
            let huge = (0..<n).map { Float(3e38) * ($0 % (round + 1) == 0 ? 1 : -1) }
            let (la, ba) = leases[2]
            try await crowd.upload(2, la, try envelope(huge, lease: la, base: ba, codec: .int8(block: 256)))
            try await c.tick()
            #expect(await c.roundState.round == UInt64(round + 1), "round \(round) closed")
            #expect(AggregationMath.allFinite(await c.currentParameters))
            #expect(try await crowd.outcome(2, la).status == "no_credit")
            #expect(try await crowd.outcome(0, leases[0].0).status == "credited")
        }
    }

    @Test func anAttackerAloneInItsRoundLeavesTheModelAsItWas() async throws {
        // One update per round: no other update to compare with, no history. The fallback decides.
        let tc = try Self.campaign(peers: 1, codec: "int8")
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 1)
        let c = crowd.c
        let theta0 = await c.currentParameters
        let (lease, base) = try await crowd.lease(0)
        let huge = (0..<theta0.count).map { Float(3e38) * ($0 % 3 == 0 ? 1 : -1) }
        try await crowd.upload(0, lease, try envelope(huge, lease: lease, base: base, codec: .int8(block: 256)))
        try await c.tick()
        #expect(await c.roundState.round == 2)
        #expect(await c.currentParameters == theta0)
        #expect(try await crowd.outcome(0, lease).reason == "unusable_aggregate")
        #expect(try tc.count("ledger") == 0)
        // The next round works as usual.
        let (l2, b2) = try await crowd.lease(0)
        #expect(l2.round == 2)
        try await crowd.upload(0, l2, try envelope(try await Self.honestDelta(c, l2, b2), lease: l2, base: b2, codec: .int8(block: 256)))
        try await c.tick()
        #expect(try await crowd.outcome(0, l2).status == "credited")
    }

    @Test func aRoundFoundStuckAtStartUpIsRepaired() async throws {
        // An older coordinator stored a poisoned update that reached the quorum and died before aggregating.
        let tc = try Self.campaign(peers: 3)
        defer { tc.remove() }
        var leases: [(Lease, Data)] = []
        var crowdPeers: [PeerRecord] = []
        do {
            let crowd = try await Crowd.join(try tc.open(), tc, 3)
            crowdPeers = crowd.peers
            for i in 0..<3 { leases.append(try await crowd.lease(i)) }
            let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
            let n = try Checkpoint.decode(leases[0].1).params.count
            let poisoned = (0..<n).map { Float(3e38) * ($0 % 2 == 0 ? 1 : -1) }
            let honest0 = try await Self.honestDelta(crowd.c, leases[0].0, leases[0].1)
            let honest1 = try await Self.honestDelta(crowd.c, leases[1].0, leases[1].1)
            for (i, values) in [honest0, honest1, poisoned].enumerated() {
                let (l, b) = leases[i]
                let body = try envelope(values, lease: l, base: b, exact: true)
                let receipt = Receipt(
                    receiptID: UUID().uuidString, leaseID: l.leaseID, round: 1, samples: l.samples, credit: 0,
                    acceptedAt: tc.clock.now(), sha256: ContentDigest.hex(body), status: "pending")
                try store.accept(
                    AcceptedUpdateRecord(
                        receipt: receipt, peerID: crowdPeers[i].id, bytes: body.count, sha256: receipt.sha256!,
                        trainLoss: nil, envelope: body, foldedRound: 1), bytesIn: body.count)
            }
        }
        let restarted = try tc.open()
        try await restarted.tick()
        #expect(await restarted.roundState.round == 2)
        #expect(AggregationMath.allFinite(await restarted.currentParameters))
        #expect(try await restarted.outcome(leaseID: leases[0].0.leaseID, peer: crowdPeers[0]).status == "credited")
        let bad = try await restarted.outcome(leaseID: leases[2].0.leaseID, peer: crowdPeers[2])
        #expect(bad.status == "no_credit")
        let lease = try await restarted.lease(for: crowdPeers[0], request: LeaseRequest(threads: 1)).lease
        #expect(lease?.round == 2)
    }

    /// Every robust aggregator in the async buffer: one peer's update, sign-flipped and scaled ×1000, neither earns
    /// credit nor moves the model further than the honest updates do, and the buffer closes as usual.
    @Test(arguments: AggregatorKind.all.filter { $0 != .mean })
    func robustAggregationHoldsInTheAsyncBuffer(_ aggregator: AggregatorKind) async throws {
        let tc = try Self.campaign(peers: 4) {
            $0.aggregation = AggregationConfig(mode: .async, bufferSize: 4, maxStaleness: 2)
            $0.aggregator = aggregator
        }
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 4)
        let c = crowd.c
        let theta0 = await c.currentParameters
        var leases: [(Lease, Data)] = []
        for i in 0..<4 { leases.append(try await crowd.lease(i)) }
        var honest: [[Float]] = []
        for i in 0..<3 { honest.append(try await Self.honestDelta(c, leases[i].0, leases[i].1)) }
        let flipped = honest[0].map { $0 * -1000 }
        for (i, values) in (honest + [flipped]).enumerated() {
            let (l, b) = leases[i]
            try await crowd.upload(i, l, try envelope(values, lease: l, base: b, exact: true))
        }
        try await c.tick()
        #expect(await c.roundState.round == 2, "\(aggregator): the buffer closed")
        let theta1 = await c.currentParameters
        #expect(AggregationMath.allFinite(theta1))
        #expect(try await crowd.outcome(3, leases[3].0).status == "no_credit", "\(aggregator)")
        for i in 0..<3 { #expect(try await crowd.outcome(i, leases[i].0).status == "credited", "\(aggregator) peer \(i)") }
        // The outer optimizer's first step is lr·(1 + μ)·g (1.8·g by default); g is no longer than the longest
        // honest update.
        let step = AggregationMath.l2Norm(zip(theta0, theta1).map { $0 - $1 })
        let longest = honest.map { AggregationMath.l2Norm($0) }.max()!
        let outer = CampaignConfig.defaultOuter(.fmnistMLP)
        let gain = Double(outer.lr * (1 + outer.momentum))
        #expect(step <= (gain + 0.01) * longest + 1e-6, "\(aggregator): step \(step) vs honest \(longest)")
        #expect(step > 0.1 * longest, "\(aggregator): the honest updates moved the model")
    }

    @Test func theLeaseCodecIsEnforcedAndNonFiniteValuesCannotBeSmuggled() async throws {
        let cases: [(campaign: String, sent: CodecSpec)] = [
            ("int8", .fp32), ("int8", .int8(block: 128)), ("int8", .fp16), ("topk:0.01", .topk(fraction: 0.5)),
            ("fp16", .bf16),
        ]
        for (campaign, sent) in cases {
            let tc = try Self.campaign(peers: 2, codec: campaign)
            defer { tc.remove() }
            let crowd = try await Crowd.join(try tc.open(), tc, 1)
            let (lease, base) = try await crowd.lease(0)
            let values = Self.gaussian(try Checkpoint.decode(base).params.count, norm: 1, seed: 1)
            await #expect("\(sent) on a \(campaign) campaign") {
                try await crowd.upload(0, lease, try envelope(values, lease: lease, base: base, codec: sent, exact: true))
            } throws: { code($0) == .wrongCodec }
        }
        // NaN and Inf through fp16, bf16 and int8 block scales: refused before they join a round.
        for campaign in ["fp16", "bf16", "int8"] {
            let tc = try Self.campaign(peers: 2, codec: campaign)
            defer { tc.remove() }
            let crowd = try await Crowd.join(try tc.open(), tc, 1)
            let (lease, base) = try await crowd.lease(0)
            let n = try Checkpoint.decode(base).params.count
            let spec = try CodecSpec(parsing: campaign)
            var raw = [UInt8](repeating: 0, count: spec.rawPayloadSize(elements: n))
            // fp16 0x7E00 = NaN, bf16 0x7F80 = +Inf, int8's first bf16 scale 0x7FC0 = NaN.
            let special: [UInt8] = campaign == "fp16" ? [0x00, 0x7E] : campaign == "bf16" ? [0x80, 0x7F] : [0xC0, 0x7F]
            raw[0] = special[0]
            raw[1] = special[1]
            let header = EnvelopeHeader(
                schemaHash: lease.schemaHash, round: lease.round, baseModel: ContentDigest.bytes(base), codec: spec,
                elementCount: n)
            let body = UpdateEnvelope.assemble(header, rawSize: raw.count, payload: Zstd.frame(raw))
            await #expect("\(campaign) NaN/Inf") { try await crowd.upload(0, lease, body) } throws: {
                code($0) == .nonFiniteValues || code($0) == .corruptUpdate
            }
            #expect(try tc.count("updates") == 0)
        }
    }
}

@Suite struct CampaignExampleTests {
    @Test func theShippedCampaignExampleDecodesToTheDefaults() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Config/campaign.example.json").path
        let data = try #require(FileManager.default.contents(atPath: path))
        let config = try JSONDecoder().decode(CampaignConfig.self, from: data)
        try config.validate()
        let defaults = CampaignConfig(workload: .fmnistMLP)
        #expect(config.aggregator == defaults.aggregator && config.defence == defaults.defence)
        #expect(config.probeSamples == defaults.probeSamples)
        #expect(config.inner == defaults.inner && config.outer == defaults.outer)
        #expect(config.transport == defaults.transport)
        #expect(config.verification == defaults.verification)
        #expect(config.distribution == defaults.distribution)
    }

    @Test func badDefenceAndAggregatorKeysAreRefusedWithTheKeyNamed() throws {
        let bad = #"{"workload": "fmnist-mlp", "aggregator": "krum"}"#
        #expect { try JSONDecoder().decode(CampaignConfig.self, from: Data(bad.utf8)) } throws: {
            "\($0)".contains("aggregator") && "\($0)".contains("trimmed-mean")
        }
        var c = CampaignConfig(workload: .fmnistMLP)
        c.defence.clipMultiplier = 0.5
        #expect { try c.validate() } throws: { "\($0)".contains("defence.clipMultiplier") }
        var v = CampaignConfig(workload: .fmnistMLP)
        v.verification.segmentSteps = 0
        #expect { try v.validate() } throws: { "\($0)".contains("verification.segmentSteps") }
    }
}
