import CrowdEngine
import CrowdProtocol
import Foundation

extension Coordinator {
    /// Accepted leases of a peer that its measured throughput is computed from.
    static let throughputHistory = 5
    /// Most peers whose held shards are remembered (beyond, the memory starts over).
    static let heldByPeerLimit = 10_000
    /// Most shard ids remembered over all peers (a crowd of sybils each listing 512 shards stays at a few MB).
    static let heldEntriesLimit = 1 << 18

    /// Records `held` as what `peerID` holds now, keeping the per-shard holder counts in step.
    func rememberHoldings(of peerID: String, _ held: Set<String>) {
        guard heldByPeer[peerID] != held else { return }
        let entries = heldEntries - (heldByPeer[peerID]?.count ?? 0) + held.count
        if (heldByPeer[peerID] == nil && heldByPeer.count >= Self.heldByPeerLimit) || entries > Self.heldEntriesLimit {
            heldByPeer.removeAll()
            holdersOfShard.removeAll()
            heldEntries = 0
        }
        heldEntries += held.count - (heldByPeer[peerID]?.count ?? 0)
        for shard in heldByPeer[peerID] ?? [] {
            let n = (holdersOfShard[shard] ?? 1) - 1
            holdersOfShard[shard] = n > 0 ? n : nil
        }
        for shard in held { holdersOfShard[shard, default: 0] += 1 }
        heldByPeer[peerID] = held.isEmpty ? nil : held
    }

    /// Hands `peer` work for the current round, its existing open lease, or a wait.
    ///
    /// The deadline follows `LeaseDeadlinePolicy`: the peer's measured throughput (or its hint) × the safety factor.
    /// Among the free slots of the round, the peer gets the one whose shards overlap most with `request.heldShards`
    /// (validated first: `heldShardSet`); among those it holds equally, the one whose shards fewest other peers
    /// said they hold, so it does not take the only slot another peer could train without a download. Without a
    /// list, the lowest slot as before (`RoundStateMachine`).
    public func lease(for peer: PeerRecord, request: LeaseRequest) throws -> LeaseResponse {
        let held = try heldShardSet(request.heldShards)
        try tick()
        let now = clock.now()
        rememberHoldings(of: peer.id, held)
        let overlap: ((Int) -> Int)? =
            held.isEmpty
            ? nil
            : { slot in
                let shards = self.shardIDs(slot: slot)
                let mine = shards.filter(held.contains).count
                let others = shards.reduce(0) { $0 + (self.holdersOfShard[$1] ?? 0) - (held.contains($1) ? 1 : 0) }
                return mine * Self.heldByPeerLimit * 64 - others
            }
        switch machine.requestLease(peerID: peer.id, now: now, overlap: overlap) {
        case .wait(let after, let reason):
            return LeaseResponse(retryAfter: after, reason: reason)
        case .existing(let id):
            guard let record = try store.lease(id: id) else {
                throw APIError(.internalError, "lease \(id) vanished from the database")
            }
            return LeaseResponse(lease: try wireLease(record))
        case .issue(let slot, _):
            let (duration, basis) = LeaseDeadlinePolicy(config).duration(
                samples: config.samplesPerLease,
                measured: try store.recentThroughput(peerID: peer.id, last: Self.throughputHistory),
                hint: request.samplesPerSecond)
            let deadline = now + duration
            let shards = shardIDs(slot: slot)
            let record = LeaseRecord(
                id: UUID().uuidString.lowercased(), round: machine.round, peerID: peer.id, slot: slot, shardIDs: shards,
                seed: SeedMixer.mix(roundSeed, UInt64(slot) &+ 0x5EED), samples: config.samplesPerLease, issuedAt: now,
                deadline: deadline, status: .open,
                innerState: config.verification.enabled && config.inner.keepState ? peer.innerState : nil)
            let reissued = machine.freeSlots[slot] != nil
            try store.insertLease(record)
            machine.leaseIssued(id: record.id, peerID: peer.id, slot: slot, deadline: deadline)
            logger.info(
                "lease issued",
                metadata: [
                    "round": "\(record.round)", "slot": "\(slot)", "peer": "\(peer.id)", "lease": "\(record.id)",
                    "seconds": "\(Int(duration.rounded()))", "deadline_basis": "\(basis.rawValue)",
                    "reissued": "\(reissued)",
                ])
            return LeaseResponse(lease: try wireLease(record))
        }
    }

    /// The training shards of `slot` in the current round: `SeedMixer.shards`, from a permutation computed once per
    /// round.
    func shardIDs(slot: Int) -> [String] {
        guard !trainShards.isEmpty else { return [] }
        let order: [Int]
        if let known = roundPermutation, known.seed == roundSeed {
            order = known.order
        } else {
            order = SeedMixer.permutation(trainShards.count, seed: roundSeed)
            roundPermutation = (roundSeed, order)
        }
        let n = trainShards.count, per = config.shardsPerLease
        return (0..<min(per, n)).map { trainShards[order[(slot * per + $0) % n]].id }
    }

    /// The training shards a lease request says the peer holds (untrusted): at most `LeaseRequest.maxHeldShards`
    /// lowercase SHA-256 hex ids, else `400 bad_request`; ids of no training shard of this campaign are ignored.
    func heldShardSet(_ list: [String]?) throws -> Set<String> {
        guard let list, !list.isEmpty else { return [] }
        guard list.count <= LeaseRequest.maxHeldShards else {
            throw APIError(
                .badRequest,
                "heldShards lists \(list.count) shards; at most \(LeaseRequest.maxHeldShards) are accepted: send the "
                    + "most recently used ones")
        }
        var held = Set<String>()
        for (i, id) in list.enumerated() {
            guard Self.isHex64(id) else {
                throw APIError(
                    .badRequest,
                    "heldShards[\(i)] is not a shard id (64 lowercase hex digits); send only ids your leases named")
            }
            // The campaign's own id string (shared storage), not the request's copy: the set may be remembered.
            if let entry = trainShardsByID[id] { held.insert(entry.id) }
        }
        return held
    }

    /// SHA-256 hex of the base model of `round` (the current model, or an older round's from the database). Once the
    /// campaign finished, the current model is the last round's result, not its base: the database answers.
    func baseVersion(round: UInt64) throws -> String {
        if round == machine.round && machine.phase != .finished { return baseVersion }
        guard let r = try store.round(round) else { throw APIError(.internalError, "round \(round) is not recorded") }
        return r.baseVersion
    }

    /// Raw SHA-256 of the base model of `round` (what an update envelope for a lease of that round names).
    func baseDigest(round: UInt64) throws -> [UInt8] {
        if round == machine.round && machine.phase != .finished { return baseDigest }
        if let known = olderBaseDigests[round] { return known }
        let version = try baseVersion(round: round)
        guard let digest = Hex.bytes(version), digest.count == 32 else {
            throw APIError(.internalError, "round \(round)'s base version \(version.prefix(16)) is not a SHA-256")
        }
        if olderBaseDigests.count > 64 { olderBaseDigests.removeAll() }
        olderBaseDigests[round] = digest
        return digest
    }

    func wireLease(_ r: LeaseRecord) throws -> Lease {
        let progress = config.inner.schedule.kind == .const
            ? nil : scheduleProgress(round: r.round, leaseSamples: r.samples)
        var lease = Lease(
            leaseID: r.id, round: r.round, modelVersion: try baseVersion(round: r.round), schemaHash: schemaHash,
            workload: config.workload,
            modelKind: modelKind, shardIDs: r.shardIDs, steps: config.localSteps, batch: config.batch,
            block: config.block,
            inner: config.inner, progress: progress?.0, progressPerStep: progress?.1,
            codec: codec.description, codecLevel: config.codecLevel, seed: r.seed, deadline: r.deadline,
            samples: r.samples)
        let sizes = r.shardIDs.compactMap { trainShardsByID[$0]?.bytes }
        if sizes.count == r.shardIDs.count { lease.shardBytes = sizes }
        if config.verification.enabled {
            lease.verification = LeaseVerification(
                segmentSteps: config.verification.segmentSteps(localSteps: config.localSteps), innerState: r.innerState)
        }
        return lease
    }

    /// Where a lease of `round` starts on the campaign's learning-rate schedule, and how far each of its steps moves
    /// it: the *planned* progress, the training units of all earlier rounds (each closing with `closingCount`
    /// updates of `localSteps` steps) over `goalSamples`; within a round the `closingCount` leases advance side by
    /// side. Deterministic (no store query) and the same rule as `bench quality`'s crowds.
    func scheduleProgress(round: UInt64, leaseSamples: Int) -> (progress: Double, perStep: Double) {
        let goal = Double(max(1, self.goal.samples))
        let unitsPerStep = Double(leaseSamples) / Double(max(1, config.localSteps))
        let perStep = Double(machine.settings.closingCount) * unitsPerStep / goal
        return (Double(round > 0 ? round - 1 : 0) * Double(config.localSteps) * perStep, perStep)
    }

    /// Advances the round state machine to `clock.now()` and performs its actions (lease expiry, round close).
    public func tick() throws {
        try flushCounters()
        if machine.phase == .aggregating {
            try aggregate(round: machine.round)
        }
        try perform(machine.tick(now: clock.now()))
        let now = clock.now()
        if config.verification.enabled && now - lastSettle >= 1 {
            lastSettle = now
            let finished = machine.phase == .finished
            let closed = finished ? machine.round : machine.round - min(machine.round, 1)
            try settleHeldCredit(closedRound: closed, finished: finished)
        }
    }

    /// `tick()` for background callers: logs instead of throwing.
    public func tickLogged() {
        do { try tick() } catch { logger.error("round processing failed; will retry", metadata: ["error": "\(error)"]) }
    }

    func perform(_ actions: [RoundStateMachine.Action]) throws {
        for action in actions {
            switch action {
            case .expireLeases(let ids):
                try store.markLeasesExpired(ids: ids)
                work.signal()
                logger.info(
                    "leases expired; their slots will be reissued",
                    metadata: ["count": "\(ids.count)", "round": "\(machine.round)"])
            case .extendDeadline(let round, let until):
                logger.notice(
                    "round deadline passed without enough updates; extended",
                    metadata: ["round": "\(round)", "until": "\(until)"])
            case .aggregate(let round):
                try aggregate(round: round)
            }
        }
    }
}
