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
                candidates.append(.init(delta: delta, samples: u.samples, staleness: staleness))
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
        // The grid step (`distribution.gridStep`): the model moves to the nearest point of an 8-bit grid, exactly
        // what a returning peer rebuilds from the round's `grid8` delta. The defence judges the landed model, so
        // its probe loss is the next round's base loss.
        let base = params
        var grid: GridStep?
        let gridStep = config.distribution.gridStep
        let result = defence.run(
            params: params, candidates: candidates, strategy: &next, history: normHistory, recent: recentSketches,
            probe: config.defence.probe ? { probe.loss($0) } : nil, knownBaseProbeLoss: paramsProbeLoss,
            land: { target in
                guard gridStep else { return target }
                let step = GridStep.nearest(from: base, to: target)
                grid = step
                return step.apply(to: base)
            })
        if !result.stepped { grid = nil }
        var creditedSamples = 0
        var creditedSketches: [UpdateSketch] = []
        for (k, verdict) in result.verdicts.enumerated() {
            let u = folded[candidateIndex[k]]
            let credited = verdict.isAggregated
            let sketch = credited ? (result.sketches[k] ?? UpdateSketch(candidates[k].delta)) : nil
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
        let delta = roundDelta(grid: grid, newParams: newParams, bytes: bytes)
        let aggregated = Date()
        let samples = board.samplesTrained + creditedSamples
        let finished = (goal.maxRounds.map { round >= UInt64($0) } ?? false) || samples >= goal.samples
        let nextSeed = SeedMixer.roundSeed(campaign: config.seed, round: round + 1)
        let now = clock.now()
        let record = CheckpointRecord(
            version: version, round: round, path: paths.checkpointRelative(round: round), bytes: bytes.count,
            createdAt: now)
        try store.closeRound(
            round,
            checkpoint: record,
            outerState: FloatBytes.data(next.exportState()), nextSeed: nextSeed, openNext: !finished,
            expireOpenLeasesBefore: finished ? round + 1 : machine.leasesKeptFromRoundAfterClose,
            decisions: decisions, broadcastSketch: broadcast.map { FloatBytes.data($0.values) }, at: now)

        strategy = next
        paramsProbeLoss = result.probeLoss
        params = newParams
        baseVersion = version
        baseBytes = bytes
        baseDigest = ContentDigest.bytes(bytes)
        roundSeed = nextSeed
        distribute(record: record, bytes: bytes, delta: delta)
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
    /// The delta from the current model (`params`, `baseDigest`) to the new one: the grid step's, else the XOR of
    /// the two (a round without a step, or `gridStep` off). Nil (peers then fetch chunks) if it cannot be encoded.
    func roundDelta(grid: GridStep?, newParams: [Float], bytes: Data) -> ModelDelta? {
        let prefix = bytes.prefix(bytes.count - 8 - 4 * newParams.count)
        let target = ContentDigest.bytes(bytes)
        do {
            if let grid {
                return try ModelDelta.grid(grid, baseVersion: baseDigest, targetVersion: target, targetPrefix: prefix)
            }
            return try ModelDelta.xor(
                base: params, target: newParams, baseVersion: baseDigest, targetVersion: target, targetPrefix: prefix)
        } catch {
            logger.error("cannot encode the round delta; peers will fetch chunks", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// After a round's commit: publishes the new model's manifest and delta, then removes checkpoint files beyond
    /// `distribution.keepVersions` that nothing waits for (never failing the round: it is committed).
    func distribute(record: CheckpointRecord, bytes: Data, delta: ModelDelta?) {
        do {
            try distribution.publish(record: record, bytes: bytes, delta: delta)
            try pruneCheckpoints()
        } catch {
            logger.error(
                "cannot publish the model's manifest or prune old checkpoints; peers fetch what is published",
                metadata: ["round": "\(record.round)", "error": "\(error)"])
        }
    }

    /// Removes the checkpoint files of versions the distribution no longer keeps, older than every round a pending
    /// verification, evaluation or acceptable stale update still needs. The database marks them removed first, so a
    /// crash in between leaves an unlisted file, never a listed missing one.
    func pruneCheckpoints() throws {
        let kept = Set(distribution.keptVersions)
        let staleness = machine.settings.isAsync ? machine.settings.maxStaleness : 0
        let stale = machine.round - min(machine.round, UInt64(staleness + 1))
        let floor = min(try store.oldestRoundStillNeeded() ?? .max, stale)
        let removable = try store.checkpoints().filter {
            !kept.contains($0.version) && $0.round < floor && $0.version != baseVersion
        }
        guard !removable.isEmpty else { return }
        try store.markCheckpointsRemoved(removable.map(\.version), at: clock.now())
        for r in removable { AtomicFile.remove(paths.join(r.path)) }
        logger.info(
            "old checkpoints removed", metadata: ["count": "\(removable.count)", "keep": "\(distribution.keep)"])
    }

    /// `min…max` of `values` with 3 decimals, `-` when empty (log lines).
    static func range(_ values: [Double]) -> String {
        guard let lo = values.min(), let hi = values.max() else { return "-" }
        return String(format: "%.3f…%.3f", lo, hi)
    }
}
