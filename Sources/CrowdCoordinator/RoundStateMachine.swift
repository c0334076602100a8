import CrowdAggregation
import CrowdProtocol

/// The round protocol as a value that returns actions (SwiftNIO style), in two modes.
///
/// It decides who gets a lease, when a lease is stale, and when a round closes; the caller does
/// the I/O (persisting leases, aggregating) and reports back. Time comes in as `now` (Unix
/// seconds) from an injected clock, so tests never sleep.
///
/// **Sync.** A round hands out up to `peersPerRound` leases, all from the round's base model, and
/// closes when `peersPerRound` updates arrived, or at the round deadline if at least `minUpdates`
/// arrived (otherwise the deadline is extended). A round's open leases die with it.
///
/// **Async (FedBuff).** A round is one model version. Any peer asking gets a lease from the current
/// model while fewer than `peersPerRound` leases are open; leases survive round closes. An update for
/// a lease issued in round r is accepted while `round − r ≤ maxStaleness` and is folded into the
/// current round's buffer, which closes at `bufferSize` updates (or at the deadline with `minUpdates`).
///
/// In both modes an expired lease frees its slot (same shards and seed), which is reissued first,
/// preferably to a peer other than the one that let it lapse.
///
/// **Which free slot.** When several slots could go to the asking peer, the caller's `overlap` scores each (the
/// number of the slot's shards the peer holds, from `LeaseRequest.heldShards`) and the peer gets the best one;
/// ties, and requests without a score, get the lowest slot, the order without preference. The choice is among the
/// same slots as without it — lapsed slots first, then the next `peersPerRound − busy` new ones (a skipped slot
/// stays first in line) — so every slot of a round is handed out exactly as before; only who gets which changes.
public struct RoundStateMachine: Sendable, Equatable {
    /// Knobs from `CampaignConfig`.
    public struct Settings: Sendable, Equatable {
        public var peersPerRound: Int
        public var minUpdates: Int
        public var roundDeadlineSeconds: Double
        public var leaseSeconds: Double
        public var mode: AggregationConfig.Mode
        /// Updates that close an async round (K).
        public var bufferSize: Int
        /// Largest accepted staleness in async mode.
        public var maxStaleness: Int

        public init(
            peersPerRound: Int, minUpdates: Int, roundDeadlineSeconds: Double, leaseSeconds: Double,
            mode: AggregationConfig.Mode = .sync, bufferSize: Int? = nil, maxStaleness: Int = 4
        ) {
            self.peersPerRound = peersPerRound
            self.minUpdates = minUpdates
            self.roundDeadlineSeconds = roundDeadlineSeconds
            self.leaseSeconds = leaseSeconds
            self.mode = mode
            self.bufferSize = bufferSize ?? peersPerRound
            self.maxStaleness = maxStaleness
        }

        public init(_ c: CampaignConfig) {
            self.init(
                peersPerRound: c.peersPerRound, minUpdates: c.minUpdates, roundDeadlineSeconds: c.roundDeadlineSeconds,
                leaseSeconds: c.leaseSeconds, mode: c.aggregation.mode,
                bufferSize: c.aggregation.effectiveBufferSize(peersPerRound: c.peersPerRound),
                maxStaleness: c.aggregation.maxStaleness)
        }

        public var isAsync: Bool { mode == .async }

        /// Accepted updates that close a round: the quorum (sync) or the buffer size (async).
        public var closingCount: Int { isAsync ? bufferSize : peersPerRound }
    }

    public enum Phase: Sendable, Equatable {
        /// Leasing and accepting updates for `round`.
        case collecting
        /// Quorum or deadline reached; waiting for the caller to aggregate and call `roundClosed`.
        case aggregating
        /// No more work: goal or round limit reached.
        case finished
    }

    /// An issued lease that is neither accepted nor expired.
    public struct OpenLease: Sendable, Equatable {
        public var peerID: String
        public var slot: Int
        public var deadline: Double
        /// Round (model version) the lease was issued in.
        public var round: UInt64

        public init(peerID: String, slot: Int, deadline: Double, round: UInt64) {
            self.peerID = peerID
            self.slot = slot
            self.deadline = deadline
            self.round = round
        }
    }

    /// What to do with a lease request.
    public enum LeaseDecision: Sendable, Equatable {
        /// Create a lease for `slot` of the current round with this upload deadline, persist it, then call
        /// `leaseIssued`. A reissued slot gets the same shards and seed as before.
        case issue(slot: Int, deadline: Double)
        /// The peer already holds this open lease: send it again.
        case existing(leaseID: String)
        /// No work now.
        case wait(retryAfter: Double, reason: LeaseWaitReason)
    }

    /// Side effects the caller must perform.
    public enum Action: Sendable, Equatable {
        /// Mark these leases expired in the store.
        case expireLeases([String])
        /// Close `round`: aggregate its folded updates, evaluate, checkpoint, then call `roundClosed`.
        case aggregate(round: UInt64)
        /// The deadline passed with fewer than `minUpdates`; the round stays open until the new deadline.
        case extendDeadline(round: UInt64, until: Double)
    }

    public private(set) var settings: Settings
    public private(set) var round: UInt64
    public private(set) var phase: Phase
    public private(set) var roundDeadline: Double
    public private(set) var openLeases: [String: OpenLease]
    /// Updates folded into the current round.
    public private(set) var accepted: Int
    /// One past the highest slot issued this round.
    public private(set) var slotsIssued: Int
    /// Slots below `slotsIssued` never issued this round (a peer took a later slot whose shards it holds): they are
    /// the first new slots offered.
    public private(set) var skippedSlots: Set<Int>
    /// Slots of the current round whose lease expired unfinished: reissued before new slots.
    public private(set) var freeSlots: [Int: FreeSlot]

    /// A slot whose lease expired, with the peer that let it lapse and when.
    public struct FreeSlot: Sendable, Equatable {
        public var lapsedBy: String
        public var since: Double
    }

    /// For this long after expiry a slot goes only to other peers (in sync rounds the peers that finished
    /// early poll every second), then to anyone, including the peer that let it lapse.
    public static let reissueHoldSeconds = 2.0

    /// A machine collecting `round`, opened at `openedAt`.
    public init(settings: Settings, round: UInt64, openedAt: Double) {
        self.settings = settings
        self.round = round
        self.phase = .collecting
        self.roundDeadline = openedAt + settings.roundDeadlineSeconds
        self.openLeases = [:]
        self.accepted = 0
        self.slotsIssued = 0
        self.skippedSlots = []
        self.freeSlots = [:]
    }

    /// Rebuilds the machine from the store after a restart.
    ///
    /// - Parameters:
    ///   - r: the current round.
    ///   - leases: every lease of round `r`, plus the open leases of older rounds (async mode keeps those within
    ///     `maxStaleness`; older ones and, in sync mode, all of them are ignored).
    ///   - buffered: updates folded into `r`; nil counts the accepted leases of `r` (sync semantics).
    public init(
        settings: Settings, restoring r: RoundRecord, leases: [LeaseRecord], buffered: Int? = nil, finished: Bool,
        now: Double
    ) {
        self.init(
            settings: settings, round: r.number, openedAt: max(r.openedAt, now - settings.roundDeadlineSeconds / 2))
        if finished || r.closedAt != nil {
            phase = .finished
            return
        }
        let current = leases.filter { $0.round == r.number }
        accepted = buffered ?? current.filter { $0.status == .accepted }.count
        slotsIssued = max(r.leasesIssued, (current.map(\.slot).max() ?? -1) + 1)
        let keep = oldestLiveRound(after: r.number)
        for l in leases where l.status == .open && l.round >= keep && l.round <= r.number {
            openLeases[l.id] = OpenLease(peerID: l.peerID, slot: l.slot, deadline: l.deadline, round: l.round)
        }
        let taken = Set(current.filter { $0.status != .expired }.map(\.slot))
        skippedSlots = Set(0..<slotsIssued).subtracting(current.map(\.slot))
        for l in current where l.status == .expired && !taken.contains(l.slot) {
            freeSlots[l.slot] = FreeSlot(lapsedBy: l.peerID, since: l.deadline)
        }
        if accepted >= settings.closingCount { phase = .aggregating }
    }

    /// The oldest round whose open leases stay valid while `current` collects.
    func oldestLiveRound(after current: UInt64) -> UInt64 {
        guard settings.isAsync else { return current }
        return current >= UInt64(settings.maxStaleness) ? current - UInt64(settings.maxStaleness) : 0
    }

    /// Open leases issued before this round are dropped when the current round closes (store and machine agree).
    public var leasesKeptFromRoundAfterClose: UInt64 { oldestLiveRound(after: round + 1) }

    /// Versions between a lease issued in round `r` and the current round.
    public func staleness(leaseRound r: UInt64) -> Int { r >= round ? 0 : Int(clamping: round - r) }

    /// True if an update for a lease of round `r` can no longer be accepted because the model moved on: in
    /// async mode more than `maxStaleness` versions, in sync mode any newer round. Such uploads are `stale_update`
    /// (async) or `lease_expired` (sync).
    public func isTooStale(leaseRound r: UInt64) -> Bool {
        settings.isAsync ? staleness(leaseRound: r) > settings.maxStaleness : r != round
    }

    /// A peer asks for work. `duration` is the lease's upload allowance (default `leaseSeconds`).
    ///
    /// - Parameter overlap: scores a candidate slot for this peer (how many of its shards the peer holds); the
    ///   highest score wins, ties go to the lowest slot. Nil: the lowest slot, the order without preference.
    public func requestLease(
        peerID: String, now: Double, duration: Double? = nil, overlap: ((Int) -> Int)? = nil
    ) -> LeaseDecision {
        switch phase {
        case .finished: return .wait(retryAfter: 30, reason: .campaignFinished)
        case .aggregating: return .wait(retryAfter: 0.25, reason: .aggregating)
        case .collecting: break
        }
        if let (id, _) = openLeases.first(where: { $0.value.peerID == peerID && $0.value.deadline > now }) {
            return .existing(leaseID: id)
        }
        let busy = settings.isAsync ? openLeases.count : accepted + openLeases.count
        guard busy < settings.peersPerRound else {
            // Sync rounds: the next round opens as soon as the last lease of this one is uploaded, so poll briskly.
            return .wait(retryAfter: 1, reason: .roundFull)
        }
        let deadline = now + (duration ?? settings.leaseSeconds)
        if !freeSlots.isEmpty {
            let candidates = freeSlots.filter {
                $0.value.lapsedBy != peerID || now - $0.value.since >= Self.reissueHoldSeconds
            }
            if let slot = Self.preferred(candidates.keys, overlap) { return .issue(slot: slot, deadline: deadline) }
            if !settings.isAsync {
                // Only this peer's own lapsed slot is free: hold it briefly for another peer.
                let wait = freeSlots.values.map { Self.reissueHoldSeconds - (now - $0.since) }.min() ?? 1
                return .wait(retryAfter: max(0.25, wait), reason: .roundFull)
            }
        }
        let fresh = newSlots(count: settings.peersPerRound - busy)
        return .issue(slot: Self.preferred(fresh, overlap) ?? slotsIssued, deadline: deadline)
    }

    /// The next `count` (at least 1) slots never issued this round, lowest first: skipped ones, then new numbers.
    func newSlots(count: Int) -> [Int] {
        let n = max(1, count)
        var out = Array(skippedSlots.sorted().prefix(n))
        var next = slotsIssued
        while out.count < n {
            out.append(next)
            next += 1
        }
        return out
    }

    /// The candidate with the highest `overlap`, the lowest slot among equals (the lowest slot without a score).
    static func preferred<S: Sequence<Int>>(_ slots: S, _ overlap: ((Int) -> Int)?) -> Int? {
        guard let overlap else { return slots.min() }
        var best: (slot: Int, score: Int)?
        for slot in slots {
            let score = overlap(slot)
            if let b = best, score < b.score || (score == b.score && slot > b.slot) { continue }
            best = (slot, score)
        }
        return best?.slot
    }

    /// Records a lease the caller persisted after `.issue`.
    public mutating func leaseIssued(id: String, peerID: String, slot: Int, deadline: Double) {
        openLeases[id] = OpenLease(peerID: peerID, slot: slot, deadline: deadline, round: round)
        freeSlots.removeValue(forKey: slot)
        skippedSlots.remove(slot)
        if slot > slotsIssued { skippedSlots.formUnion(slotsIssued..<slot) }
        slotsIssued = max(slotsIssued, slot + 1)
    }

    /// Whether an upload for lease `id` of round `r` is still wanted (else it is stale).
    public func accepts(leaseID id: String, round r: UInt64, now: Double) -> Bool {
        guard phase == .collecting, let l = openLeases[id], l.round == r, !isTooStale(leaseRound: r) else {
            return false
        }
        return l.deadline > now
    }

    /// Records an accepted update (folded into the current round); returns `.aggregate` when the round is complete.
    public mutating func updateAccepted(leaseID id: String) -> [Action] {
        guard openLeases.removeValue(forKey: id) != nil else { return [] }
        accepted += 1
        if accepted >= settings.closingCount {
            phase = .aggregating
            return [.aggregate(round: round)]
        }
        return []
    }

    /// The operator changed the round deadline or the lease duration: later rounds and leases use the new values (the
    /// current round keeps its deadline, issued leases theirs).
    public mutating func changeTimings(roundDeadlineSeconds: Double, leaseSeconds: Double) {
        settings.roundDeadlineSeconds = roundDeadlineSeconds
        settings.leaseSeconds = leaseSeconds
    }

    /// A revoked or suspended peer's open leases end now; their slots of the current round are free for others at once.
    /// Returns the leases that ended.
    @discardableResult
    public mutating func dropLeases(peerID: String) -> [String] {
        var dropped: [String] = []
        for (id, l) in openLeases where l.peerID == peerID {
            openLeases.removeValue(forKey: id)
            dropped.append(id)
            if l.round == round { freeSlots[l.slot] = FreeSlot(lapsedBy: peerID, since: -.infinity) }
        }
        return dropped
    }

    /// Advances time: expires leases past their deadline (or, async, past the staleness window) and closes
    /// (or extends) a round past its deadline.
    public mutating func tick(now: Double) -> [Action] {
        guard phase == .collecting else { return [] }
        var actions: [Action] = []
        let expired = openLeases.filter { $0.value.deadline <= now || isTooStale(leaseRound: $0.value.round) }
        if !expired.isEmpty {
            for (id, l) in expired {
                openLeases.removeValue(forKey: id)
                if l.round == round { freeSlots[l.slot] = FreeSlot(lapsedBy: l.peerID, since: now) }
            }
            actions.append(.expireLeases(expired.keys.sorted()))
        }
        if now >= roundDeadline {
            if accepted >= settings.minUpdates {
                phase = .aggregating
                actions.append(.aggregate(round: round))
            } else {
                roundDeadline = now + settings.roundDeadlineSeconds
                actions.append(.extendDeadline(round: round, until: roundDeadline))
            }
        }
        return actions
    }

    /// The caller finished aggregating `round` (and expired in the store the open leases of rounds before
    /// `leasesKeptFromRoundAfterClose`, or all of them when finished): open `round + 1` at `now`, or finish.
    public mutating func roundClosed(finished: Bool, now: Double) {
        precondition(phase == .aggregating, "roundClosed outside aggregation")
        let keep = leasesKeptFromRoundAfterClose
        openLeases = finished ? [:] : openLeases.filter { $0.value.round >= keep }
        accepted = 0
        slotsIssued = 0
        skippedSlots = []
        freeSlots = [:]
        if finished {
            phase = .finished
        } else {
            round += 1
            phase = .collecting
            roundDeadline = now + settings.roundDeadlineSeconds
        }
    }
}
