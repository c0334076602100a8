import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation

extension Coordinator {
    /// Closes `round`: decodes the updates folded into it (each against its own lease round's base model), runs the
    /// round's defence (`RoundDefence`: screening, copies, probe, clipping, the robust aggregator and the outer step,
    /// with a fallback that never leaves the round stuck), writes the checkpoint atomically, and commits checkpoint,
    /// the per-update decisions with the ledger entries of the credited ones, optimizer state, lease expiry and the
    /// next round in one transaction. The new model's evaluation does not delay that: after the commit it is handed
    /// to `evaluator`, which records it from its own thread. Safe to retry: nothing in memory changes until the commit.
    ///
    /// Whatever the updates hold, this closes the round: an update that does not decode is excluded
    /// (`corrupt_update`), and when no update survives the round keeps the model (no outer step).
    func aggregate(round: UInt64) throws {
        guard machine.phase == .aggregating, machine.round == round else { return }
        let started = Date()
        let folded = try store.foldedUpdates(round: round)
        var candidates: [RoundDefence.Candidate] = []
        var candidateIndex: [Int] = []
        var decisions: [UpdateDecision] = []
        for (i, u) in folded.enumerated() {
            let staleness = Int(clamping: round - min(round, u.leaseRound))
            do {
                let expectation = EnvelopeExpectation(
                    schemaHash: schemaHash, round: u.leaseRound, baseModel: try baseDigest(round: u.leaseRound),
                    elementCount: elementCount)
                let delta = try UpdateEnvelope.decode(u.envelope, expecting: expectation).values
                candidates.append(.init(delta: delta, weight: WeightedUpdate(delta: [], samples: u.samples,
                                                                              staleness: staleness).weight))
                candidateIndex.append(i)
            } catch {
                logger.warning(
                    "stored update does not decode; excluded", metadata: ["lease": "\(u.leaseID)", "error": "\(error)"])
                decisions.append(
                    UpdateDecision(
                        leaseID: u.leaseID, credited: false, reason: ExclusionReason.corrupt.rawValue, norm: nil,
                        clipScale: nil, credit: 0))
            }
        }
        var next = strategy
        let probe = self.probe
        let result = defence.run(
            params: params, candidates: candidates, strategy: &next, history: normHistory, recent: recentSketches,
            probe: config.defence.probe ? { probe.loss($0) } : nil, knownBaseProbeLoss: paramsProbeLoss)
        var creditedSamples = 0
        var creditedSketches: [UpdateSketch] = []
        for (k, verdict) in result.verdicts.enumerated() {
            let u = folded[candidateIndex[k]]
            let credited = verdict.isAggregated
            let sketch = credited ? UpdateSketch(candidates[k].delta) : nil
            if let sketch { creditedSketches.append(sketch) }
            if credited { creditedSamples += u.samples }
            decisions.append(
                UpdateDecision(
                    leaseID: u.leaseID, credited: credited, reason: verdict.reason?.rawValue,
                    norm: verdict.norm.isFinite ? verdict.norm : nil, clipScale: credited ? verdict.clipScale : nil,
                    credit: credited ? Double(u.samples) * flopsPerSample / 1e9 : 0,
                    sketch: sketch.map { FloatBytes.data($0.values) }))
        }
        let newParams = result.params
        let broadcast: UpdateSketch? = result.stepped ? UpdateSketch(zip(params, newParams).map { $0 - $1 }) : nil
        let checkpoint = Checkpoint(
            kind: modelKind, schemaHash: schemaHash, configJSON: modelConfigJSON,
            metadata: ["round": "\(round)", "workload": config.workload, "campaign": config.name], params: newParams)
        let bytes = try checkpoint.encoded()
        let version = ContentDigest.hex(bytes)
        try AtomicFile.write(bytes, to: paths.checkpoint(round: round))
        let aggregated = Date()
        let samples = board.samplesTrained + creditedSamples
        let finished = (goal.maxRounds.map { round >= UInt64($0) } ?? false) || samples >= goal.samples
        let nextSeed = SeedMixer.roundSeed(campaign: config.seed, round: round + 1)
        let now = clock.now()
        try store.closeRound(
            round,
            checkpoint: CheckpointRecord(
                version: version, round: round, path: paths.checkpointRelative(round: round), bytes: bytes.count,
                createdAt: now),
            outerState: FloatBytes.data(next.exportState()), nextSeed: nextSeed, openNext: !finished,
            expireOpenLeasesBefore: finished ? round + 1 : machine.leasesKeptFromRoundAfterClose,
            decisions: decisions, broadcastSketch: broadcast.map { FloatBytes.data($0.values) }, at: now)

        strategy = next
        params = newParams
        paramsProbeLoss = result.probeLoss
        baseVersion = version
        baseBytes = bytes
        baseDigest = ContentDigest.bytes(bytes)
        roundSeed = nextSeed
        for v in result.verdicts where v.isAggregated { normHistory.append(v.norm) }
        recentSketches.append(contentsOf: creditedSketches + (broadcast.map { [$0] } ?? []))
        if recentSketches.count > sketchCapacity { recentSketches.removeFirst(recentSketches.count - sketchCapacity) }
        machine.roundClosed(finished: finished, now: now)
        work.signal()
        // Credit of updates not yet verified is held (`settleHeldCredit` releases it to the ledger and the board).
        let held = Set(folded.filter { $0.verification != nil && $0.verification != VerificationState.verified }.map(\.leaseID))
        let creditedGflop = decisions.filter { !held.contains($0.leaseID) }.reduce(0) { $0 + $1.credit }
        board.update { s in
            s.round = machine.round
            s.finished = machine.phase == .finished
            s.modelVersion = version
            s.samplesTrained += creditedSamples
            s.creditTotal += creditedGflop
        }
        evaluator.submit(.init(round: round, version: version, source: .memory(checkpoint)))
        lastSettle = now
        try settleHeldCredit(closedRound: round, finished: finished)
        metrics.aggregationSeconds.record(.seconds(aggregated.timeIntervalSince(started)))
        let excluded = decisions.filter { !$0.credited }
        var reasons: [String: Int] = [:]
        for d in excluded { reasons[d.reason ?? "?", default: 0] += 1 }
        logger.info(
            "round closed",
            metadata: [
                "round": "\(round)", "updates": "\(folded.count)", "credited": "\(decisions.count - excluded.count)",
                "excluded": "\(reasons.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
                "stepped": "\(result.stepped)",
                "agreement": "\(Self.range(result.verdicts.filter(\.isAggregated).compactMap(\.agreement)))",
                "reference_norm": "\(result.referenceNorm.map { String(format: "%.4g", $0) } ?? "-")",
                "probe_loss": "\(result.baseProbeLoss.map { String(format: "%.4f", $0) } ?? "-")→\(result.probeLoss.map { String(format: "%.4f", $0) } ?? "-")",
                "max_staleness": "\(folded.map { round - min(round, $0.leaseRound) }.max() ?? 0)",
                "model": "\(version.prefix(12))", "aggregator": "\(strategy.aggregator)",
                "aggregate_ms": "\(Int(aggregated.timeIntervalSince(started) * 1000))",
                "commit_ms": "\(Int(Date().timeIntervalSince(aggregated) * 1000))", "finished": "\(finished)",
            ])
        if !result.stepped {
            logger.warning(
                "round closed without a model step: no update survived the defence",
                metadata: ["round": "\(round)", "excluded": "\(excluded.count)"])
        }
    }
}

extension Coordinator {
    /// `min…max` of `values` with 3 decimals, `-` when empty (log lines).
    static func range(_ values: [Double]) -> String {
        guard let lo = values.min(), let hi = values.max() else { return "-" }
        return String(format: "%.3f…%.3f", lo, hi)
    }
}
