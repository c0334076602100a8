import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import CrowdVerification
import Foundation

/// `crowdtrain bench verify`: honest peers (at 1 and 2 threads) and one cheater of each kind train fmnist-mlp
/// leases on real Fashion-MNIST shards, commit to their trajectories, and go through the coordinator's checks —
/// `CommitmentCheck` at upload, the challenge rate of `VerificationConfig`, `TrajectoryProof` on the wire and
/// `SegmentVerifier` (with the second, portable-kernel verifier before any penalty) — in one process. Every
/// honest update is also verified in the shadow (whatever the challenge draw) to count false rejects over all of
/// them; only the challenges the policy draws count as verification compute. The control runs each round's
/// updates through `RoundDefence` (the defence without verification) and counts the cheaters' updates it credits.
public enum VerifyBenchmark {
    public enum Cheater: String, CaseIterable, Sendable, Codable {
        /// Trains half the steps and doubles the update; fabricates the second half of the trajectory.
        case halfSteps = "half_steps"
        /// Uploads Gaussian noise with an honest update's norm and a straight-line trajectory.
        case noise
        /// Re-uploads its own earlier update and trajectory (values nudged so they are not a byte copy).
        case replay
        /// Uploads another peer's update of the round with that peer's trajectory.
        case copy
        /// Trains honestly, but on a shard it was not leased.
        case wrongShard = "wrong_shard"
        /// Trains honestly and claims twice the samples in its commitment.
        case inflate
    }

    public struct Options: Sendable {
        /// 16 honest peers (alternating 1 and 2 threads) beside one cheater of each kind: 27% of the crowd cheats.
        public var honestThreads = Array(repeating: [1, 2], count: 8).flatMap { $0 }
        public var honestUpdates = 1000
        public var runs = 50
        public var maxCheaterUpdates = 50
        public var steps = 20
        public var batch = 32
        public var shardImages = 2000
        public var policy = VerificationConfig(segmentSteps: 2)
        public var codec = CodecSpec.int8(block: CodecSpec.defaultInt8Block)
        public var model = MLPConfig()
        public var seed: UInt64 = 1
        public var cheaters = Cheater.allCases
        public init() {}
    }

    public struct Spread: Codable, Sendable {
        public var mean: Double
        public var median: Double
        public var max: Double
    }

    public struct CheaterReport: Codable, Sendable {
        public var runs: Int
        /// Fraction of runs caught within `maxCheaterUpdates` updates.
        public var caught: Double
        public var updatesUntilCaught: Spread?
        /// What caught them: upload claims, or the verifier's result codes.
        public var caughtBy: [String: Int]
        /// Control (no verification): fraction of this cheater's updates `RoundDefence` credits.
        public var controlCredited: Double
        /// With verification: fraction of its updates whose credit reached the ledger (held credit not yet past its
        /// audit window when the cheater was caught is forfeited).
        public var creditedAfterVerification: Double

        enum CodingKeys: String, CodingKey {
            case runs, caught
            case updatesUntilCaught = "updates_until_caught", caughtBy = "caught_by"
            case controlCredited = "control_credited", creditedAfterVerification = "credited_with_verification"
        }
    }

    public struct Report: Codable, Sendable {
        public var cpu: String
        public var kernel: String
        public var steps: Int
        public var segmentSteps: Int
        public var honestUpdates: Int
        public var honestVerified: Int
        public var falseRejects: Int
        public var honestBitwise: Int
        public var honestMaxParamDistance: Double
        public var honestMaxUpdateDistance: Double
        public var policyChallenged: Int
        public var cheaters: [String: CheaterReport]
        /// Verification compute (re-execution seconds of the challenges the policy drew, second verifications
        /// included) over the crowd's training compute, cheaters included.
        public var verifyComputeFraction: Double
        /// The same over honest peers only: the steady cost in a crowd where cheaters are rare.
        public var honestVerifyComputeFraction: Double
        public var verifyStepsFraction: Double
        public var proofBytesMean: Double
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case cpu, kernel, steps, cheaters, seconds
            case segmentSteps = "segment_steps", honestUpdates = "honest_updates", honestVerified = "honest_verified"
            case falseRejects = "false_rejects", honestBitwise = "honest_bitwise"
            case honestMaxParamDistance = "honest_max_param_distance"
            case honestMaxUpdateDistance = "honest_max_update_distance"
            case policyChallenged = "policy_challenged", verifyComputeFraction = "verify_compute_fraction"
            case honestVerifyComputeFraction = "honest_verify_compute_fraction"
            case verifyStepsFraction = "verify_steps_fraction", proofBytesMean = "proof_bytes_mean"
        }
    }

    /// One upload as the coordinator receives it, and what answers its challenge.
    struct Upload {
        var envelope: Data
        var trajectory: Trajectory
        var lease: Lease
        var trainSeconds: Double
    }

    final class CheaterRun {
        let kind: Cheater
        var clean = 0
        var updates = 0
        var caughtBy: String?
        /// Rounds of its updates that passed (credit held until the window passes or a catch forfeits it).
        var passedRounds: [UInt64] = []
        var caughtRound: UInt64?
        var controlCredited = 0
        var feedback: ErrorFeedback
        var remembered: Upload?
        init(kind: Cheater, count: Int) {
            self.kind = kind
            feedback = ErrorFeedback(count: count)
        }
    }

    public static func run(
        options o: Options, train: ImageDataset, progress: (String) -> Void = { _ in }
    ) throws -> Report {
        let started = Date()
        let k = o.policy.segmentSteps(localSteps: o.steps)
        let shards = stride(from: 0, to: train.count - o.shardImages + 1, by: o.shardImages).map {
            ShardPayload.images(SimulatedCrowd.subset(train, $0..<($0 + o.shardImages)))
        }
        guard shards.count >= 2 else { throw LeaseInputError("bench verify needs at least two shards of training data") }
        let model = MLP(config: o.model, seed: o.seed)
        var params = model.params.toArray()
        let n = params.count
        let configJSON = try model.configJSON()
        let schema = model.layout.schemaHash
        let inner = InnerOptimizerConfig(kind: "sgd", lr: 0.05, momentum: 0.9, keepState: false)
        // Every lease of the bench starts from a fresh optimizer of this kind: the one start state it allows.
        let freshDigest = StateDigest.optimizer(try inner.make(for: model.layout).state)
        let verifier = SegmentVerifier(tolerance: o.policy.tolerance, updateTolerance: o.policy.updateTolerance)
        let defence = RoundDefence(config: .standard)
        var history = NormHistory(capacity: DefenceConfig.standard.historyLength)
        var rng = SeededRNG(seed: o.seed ^ 0xA0D1)
        var honestFeedback = o.honestThreads.map { _ in ErrorFeedback(count: n) }
        var honestClean = o.honestThreads.map { _ in 0 }

        var honestUpdates = 0, honestVerified = 0, falseRejects = 0, honestBitwise = 0, challenged = 0
        var maxParam = 0.0, maxUpdate = 0.0, verifySeconds = 0.0, trainSeconds = 0.0
        var verifySteps = 0, trainSteps = 0, proofBytes = 0, proofs = 0
        var honestVerifySeconds = 0.0, honestTrainSeconds = 0.0
        var active: [Cheater: CheaterRun] = [:]
        var finished: [Cheater: [CheaterRun]] = [:]
        for c in o.cheaters { active[c] = CheaterRun(kind: c, count: n) }
        var round: UInt64 = 0
        var lastNorm = 1.0
        let threadsBefore = ComputeThreads.current
        defer { ComputeThreads.set(threadsBefore) }

        func lease(_ id: String, slot: Int, shard: Int) -> Lease {
            var seeds = SeededRNG(seed: o.seed).derived(round &* 1000 &+ UInt64(slot))
            return Lease(
                leaseID: id, round: round, modelVersion: String(repeating: "0", count: 64), schemaHash: schema,
                workload: "fmnist-mlp", modelKind: MLP.kind, shardIDs: ["shard-\(shard)"], steps: o.steps,
                batch: o.batch, block: nil, inner: inner, codec: o.codec.description, codecLevel: 1,
                seed: seeds.next(), deadline: 0,
                samples: o.steps * o.batch)
        }
        func withVerification(_ l: Lease) -> Lease {
            var l = l
            l.verification = LeaseVerification(segmentSteps: k)
            return l
        }
        /// Trains `steps` of the lease on `shard` (honest: the leased one), recording the trajectory.
        func trainHonestly(_ l: Lease, base: Checkpoint, shard: ShardPayload, steps: Int) throws
            -> (trajectory: Trajectory, program: LeaseProgram, seconds: Double)
        {
            let x = try LeaseProgram.execute(lease: l, checkpoint: base, shards: [shard], steps: steps, segmentSteps: k)
            return (x.trajectory!, x.program, x.seconds)
        }
        func envelope(_ delta: [Float], _ t: Trajectory, samples: Int, feedback: inout ErrorFeedback) throws -> Data {
            var header = EnvelopeHeader(
                schemaHash: schema, round: round, baseModel: [UInt8](repeating: 0, count: 32), codec: o.codec,
                elementCount: n)
            header.commitment = t.commitment(samples: samples)
            return try feedback.encode(delta, header: header)
        }
        /// The coordinator's side: claims, challenge draw, proof over the wire, first and second verification.
        /// Returns (passed, what caught it, was challenged by the policy, first report).
        func check(_ u: Upload, base: Checkpoint, clean: Int, shadow: Bool)
            -> (passed: Bool, caughtBy: String?, challenged: Bool, report: VerificationReport?, values: [Float])
        {
            let expectation = EnvelopeExpectation(
                schemaHash: schema, round: round, baseModel: [UInt8](repeating: 0, count: 32), elementCount: n,
                codec: o.codec)
            guard let (header, values) = try? UpdateEnvelope.decode(u.envelope, expecting: expectation),
                  let c = header.commitment
            else { return (false, "corrupt_or_missing_commitment", false, nil, []) }
            if !CommitmentCheck.lies(c, steps: o.steps, samples: u.lease.samples, segmentSteps: k, allowedStarts: [freshDigest])
                .isEmpty
            {
                return (false, "commitment_mismatch", false, nil, values)
            }
            let isChallenged = rng.nextUniform() < Float(o.policy.challengeRate(clean: clean))
            guard isChallenged || shadow else { return (true, nil, false, nil, values) }
            let segment = rng.nextInt(below: Int(c.leaves) - 1)
            guard let proof = u.trajectory.proof(segment: segment) else {
                return (false, "unanswered", isChallenged, nil, values)
            }
            let body = proof.encoded()
            proofBytes += body.count
            proofs += 1
            guard let decoded = try? TrajectoryProof.decode(body, parameters: n) else {
                return (false, "proof_invalid", isChallenged, nil, values)
            }
            let shardIndex = Int(u.lease.shardIDs[0].dropFirst("shard-".count)) ?? 0
            var inputs = SegmentVerifier.Inputs(
                lease: u.lease, base: base, shards: [shards[shardIndex]], commitment: c, proof: decoded,
                uploaded: values, allowedInnerStates: [], segment: segment)
            ComputeThreads.set(1)
            let first = verifier.verify(inputs)
            if isChallenged {
                verifySeconds += first.seconds
                verifySteps += first.steps
            }
            if first.passed { return (true, nil, isChallenged, first, values) }
            inputs.portable = true
            let second = verifier.verify(inputs)
            if isChallenged {
                verifySeconds += second.seconds
                verifySteps += second.steps
            }
            return (second.passed, second.passed ? nil : second.result, isChallenged, first, values)
        }

        while honestUpdates < o.honestUpdates || finished.values.map(\.count).min() ?? o.runs < o.runs {
            round += 1
            let base = Checkpoint(kind: MLP.kind, schemaHash: schema, configJSON: configJSON, params: params)
            var honestDeltas: [[Float]] = []
            var candidates: [RoundDefence.Candidate] = []
            var honestUploads: [Upload] = []
            for (h, threads) in o.honestThreads.enumerated() {
                let shard = (Int(round) * o.honestThreads.count + h) % shards.count
                let l = withVerification(lease("h\(h)-r\(round)", slot: h, shard: shard))
                ComputeThreads.set(threads)
                let (t, program, seconds) = try trainHonestly(l, base: base, shard: shards[shard], steps: o.steps)
                let end = program.model.params.toArray()
                let delta = zip(params, end).map { $0 - $1 }
                let u = Upload(
                    envelope: try envelope(delta, t, samples: l.samples, feedback: &honestFeedback[h]), trajectory: t,
                    lease: l, trainSeconds: seconds)
                trainSeconds += seconds
                honestTrainSeconds += seconds
                trainSteps += o.steps
                let verifiedBefore = verifySeconds
                let r = check(u, base: base, clean: honestClean[h], shadow: true)
                honestVerifySeconds += verifySeconds - verifiedBefore
                honestUpdates += 1
                honestVerified += r.report == nil ? 0 : 1
                if r.challenged { challenged += 1 }
                if let rep = r.report {
                    if rep.bitwise { honestBitwise += 1 }
                    maxParam = max(maxParam, rep.paramDistance ?? 0)
                    maxUpdate = max(maxUpdate, rep.updateDistance ?? 0)
                }
                if !r.passed {
                    falseRejects += 1
                    progress("FALSE REJECT: honest peer \(h) round \(round): \(r.caughtBy ?? "?") \(r.report?.detail ?? "")")
                    honestClean[h] = 0
                } else if r.challenged {
                    honestClean[h] = r.report?.passed == true ? honestClean[h] + 1 : 0
                }
                honestDeltas.append(r.values)
                candidates.append(.init(delta: r.values, weight: Double(l.samples)))
                honestUploads.append(u)
                lastNorm = AggregationMath.l2Norm(r.values)
            }
            var cheaterIndex: [(CheaterRun, Int)] = []
            for kind in o.cheaters {
                guard (finished[kind]?.count ?? 0) < o.runs, let run = active[kind] else { continue }
                let slot = 100 + (Cheater.allCases.firstIndex(of: kind) ?? 0)
                let leased = (Int(round) * 7 + slot) % shards.count
                let l = withVerification(lease("\(kind.rawValue)-r\(round)", slot: slot, shard: leased))
                var upload: Upload
                var counts = true  // replay's first (honest) update is not a cheat
                switch kind {
                case .halfSteps:
                    let half = o.steps / 2
                    var (t, program, seconds) = try trainHonestly(l, base: base, shard: shards[leased], steps: half)
                    let mid = program.model.params.toArray(), opt = program.optimizer.state
                    let scale = Float(o.steps) / Float(half)
                    for leaf in 0..<t.leafCount where t.step(ofLeaf: leaf) > half {
                        let f = Float(t.step(ofLeaf: leaf)) / Float(half)
                        t.record(leaf: leaf, state: TrajectoryState(
                            params: zip(params, mid).map { $0 - f * ($0 - $1) }, optimizer: opt))
                    }
                    let delta = zip(params, mid).map { scale * ($0 - $1) }
                    upload = Upload(
                        envelope: try envelope(delta, t, samples: l.samples, feedback: &run.feedback), trajectory: t,
                        lease: l, trainSeconds: seconds)
                case .noise:
                    let program = try LeaseProgram(lease: l, checkpoint: base, shards: [shards[leased]])
                    var g = rng.derived(round)
                    var delta = (0..<n).map { _ in g.nextNormal() }
                    let s = Float(lastNorm / max(1e-12, AggregationMath.l2Norm(delta)))
                    delta = delta.map { $0 * s }
                    var t = Trajectory(steps: o.steps, segmentSteps: k)
                    for leaf in 0..<t.leafCount {
                        let f = Float(t.step(ofLeaf: leaf)) / Float(o.steps)
                        t.record(leaf: leaf, state: TrajectoryState(
                            params: zip(params, delta).map { $0 - f * $1 }, optimizer: program.optimizer.state))
                    }
                    upload = Upload(
                        envelope: try envelope(delta, t, samples: l.samples, feedback: &run.feedback), trajectory: t,
                        lease: l, trainSeconds: 0)
                case .replay:
                    if let old = run.remembered {
                        // The old Δ, nudged, and the old trajectory under the new lease.
                        let expectation = EnvelopeExpectation(
                            schemaHash: schema, round: old.lease.round, baseModel: [UInt8](repeating: 0, count: 32),
                            elementCount: n, codec: o.codec)
                        var delta = try UpdateEnvelope.decode(old.envelope, expecting: expectation).values
                        delta[Int(round) % n] += 1e-6
                        upload = Upload(
                            envelope: try envelope(delta, old.trajectory, samples: l.samples, feedback: &run.feedback),
                            trajectory: old.trajectory, lease: l, trainSeconds: 0)
                    } else {
                        let (t, program, seconds) = try trainHonestly(l, base: base, shard: shards[leased], steps: o.steps)
                        let delta = zip(params, program.model.params.toArray()).map { $0 - $1 }
                        upload = Upload(
                            envelope: try envelope(delta, t, samples: l.samples, feedback: &run.feedback),
                            trajectory: t, lease: l, trainSeconds: seconds)
                        run.remembered = upload
                        counts = false
                    }
                case .copy:
                    let victim = honestUploads[0]
                    upload = Upload(envelope: victim.envelope, trajectory: victim.trajectory, lease: l, trainSeconds: 0)
                case .wrongShard:
                    let other = (leased + 1) % shards.count
                    let (t, program, seconds) = try trainHonestly(l, base: base, shard: shards[other], steps: o.steps)
                    let delta = zip(params, program.model.params.toArray()).map { $0 - $1 }
                    upload = Upload(
                        envelope: try envelope(delta, t, samples: l.samples, feedback: &run.feedback), trajectory: t,
                        lease: l, trainSeconds: seconds)
                case .inflate:
                    let (t, program, seconds) = try trainHonestly(l, base: base, shard: shards[leased], steps: o.steps)
                    let delta = zip(params, program.model.params.toArray()).map { $0 - $1 }
                    upload = Upload(
                        envelope: try envelope(delta, t, samples: 2 * l.samples, feedback: &run.feedback),
                        trajectory: t, lease: l, trainSeconds: seconds)
                }
                trainSeconds += upload.trainSeconds
                let r = check(upload, base: base, clean: run.clean, shadow: false)
                if r.challenged { challenged += 1 }
                if !r.values.isEmpty {
                    if counts { cheaterIndex.append((run, candidates.count)) }
                    candidates.append(.init(delta: r.values, weight: Double(l.samples)))
                }
                guard counts else {
                    if r.passed && r.challenged { run.clean += 1 }
                    continue
                }
                run.updates += 1
                if r.passed {
                    run.passedRounds.append(round)
                    if r.challenged { run.clean += 1 }
                } else {
                    run.caughtBy = r.caughtBy ?? r.report?.result ?? "?"
                    run.caughtRound = round
                }
                if run.caughtBy != nil || run.updates >= o.maxCheaterUpdates {
                    finished[kind, default: []].append(run)
                    active[kind] = CheaterRun(kind: kind, count: n)
                    let done = finished[kind]!.count
                    if done % 10 == 0 || done == o.runs {
                        progress("\(kind.rawValue): \(done)/\(o.runs) runs, last caught after \(run.updates) updates by \(run.caughtBy ?? "nothing")")
                    }
                }
            }
            // Control: the round's defence alone (no verification) on the same updates.
            var strategy = OuterOptimizerStrategy(config: .fedAvg, aggregator: .mean, parameterCount: n)
            let result = defence.run(params: params, candidates: candidates, strategy: &strategy, history: history)
            for (run, i) in cheaterIndex where result.verdicts[i].isAggregated { run.controlCredited += 1 }
            for v in result.verdicts.prefix(o.honestThreads.count) where v.isAggregated { history.append(v.norm) }
            // The next model: the honest mean (outer learning rate 1).
            var next = params
            for d in honestDeltas { for i in 0..<n { next[i] -= d[i] / Float(honestDeltas.count) } }
            params = next
            if round % 50 == 0 {
                progress("round \(round): \(honestUpdates) honest updates, \(falseRejects) false rejects, "
                    + "\(challenged) challenged")
            }
        }
        var cheaters: [String: CheaterReport] = [:]
        for kind in o.cheaters {
            let runs = finished[kind] ?? []
            let caught = runs.filter { $0.caughtBy != nil }
            let until = caught.map { Double($0.updates) }.sorted()
            var by: [String: Int] = [:]
            for r in caught { by[r.caughtBy!, default: 0] += 1 }
            let updates = runs.reduce(0) { $0 + $1.updates }
            // Held credit reaches the ledger once `windowRounds` rounds passed; a catch forfeits what is still held.
            let window = UInt64(o.policy.windowRounds)
            let credited = runs.reduce(0) { sum, r in
                sum + r.passedRounds.filter { pr in r.caughtRound.map { pr + window < $0 } ?? true }.count
            }
            cheaters[kind.rawValue] = CheaterReport(
                runs: runs.count, caught: runs.isEmpty ? 0 : Double(caught.count) / Double(runs.count),
                updatesUntilCaught: until.isEmpty ? nil : Spread(
                    mean: until.reduce(0, +) / Double(until.count), median: until[until.count / 2], max: until.last!),
                caughtBy: by,
                controlCredited: updates == 0 ? 0 : Double(runs.reduce(0) { $0 + $1.controlCredited }) / Double(updates),
                creditedAfterVerification: updates == 0 ? 0 : Double(credited) / Double(updates))
        }
        return Report(
            cpu: CPUFeatures.current.modelName, kernel: BLASBackend.shared.summary, steps: o.steps, segmentSteps: k,
            honestUpdates: honestUpdates, honestVerified: honestVerified, falseRejects: falseRejects,
            honestBitwise: honestBitwise, honestMaxParamDistance: maxParam, honestMaxUpdateDistance: maxUpdate,
            policyChallenged: challenged, cheaters: cheaters,
            verifyComputeFraction: trainSeconds > 0 ? verifySeconds / trainSeconds : 0,
            honestVerifyComputeFraction: honestTrainSeconds > 0 ? honestVerifySeconds / honestTrainSeconds : 0,
            verifyStepsFraction: trainSteps > 0 ? Double(verifySteps) / Double(trainSteps) : 0,
            proofBytesMean: proofs > 0 ? Double(proofBytes) / Double(proofs) : 0,
            seconds: Date().timeIntervalSince(started))
    }
}
