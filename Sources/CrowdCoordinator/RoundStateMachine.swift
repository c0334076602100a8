import CrowdProtocol

/// The synchronous round protocol as a value that returns actions (SwiftNIO style).
///
/// It decides who gets a lease, when a lease is stale, and when a round closes; the caller does
/// the I/O (persisting leases, aggregating) and reports back. Time comes in as `now` (Unix
/// seconds) from an injected clock, so tests never sleep.
///
/// A round hands out up to `peersPerRound` leases (a slot is freed when its lease expires), and
/// closes when `peersPerRound` updates arrived, or at the round deadline if at least `minUpdates`
/// arrived (otherwise the deadline is extended and expired slots are re-leased).
public struct RoundStateMachine: Sendable, Equatable {
    /// Knobs from `CampaignConfig`.
    public struct Settings: Sendable, Equatable {
        public var peersPerRound: Int
        public var minUpdates: Int
        public var roundDeadlineSeconds: Double
        public var leaseSeconds: Double

        public init(peersPerRound: Int, minUpdates: Int, roundDeadlineSeconds: Double, leaseSeconds: Double) {
            self.peersPerRound = peersPerRound
            self.minUpdates = minUpdates
            self.roundDeadlineSeconds = roundDeadlineSeconds
            self.leaseSeconds = leaseSeconds
        }

        public init(_ c: CampaignConfig) {
            self.init(
                peersPerRound: c.peersPerRound, minUpdates: c.minUpdates, roundDeadlineSeconds: c.roundDeadlineSeconds,
                leaseSeconds: c.leaseSeconds)
        }
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
    }

    /// What to do with a lease request.
    public enum LeaseDecision: Sendable, Equatable {
        /// Create a lease for `slot` with this upload deadline, persist it, then call `leaseIssued`.
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
        /// Close `round`: aggregate its accepted updates, evaluate, checkpoint, then call `roundClosed`.
        case aggregate(round: UInt64)
        /// The deadline passed with fewer than `minUpdates`; the round stays open until the new deadline.
        case extendDeadline(round: UInt64, until: Double)
    }

    public let settings: Settings
    public private(set) var round: UInt64
    public private(set) var phase: Phase
    public private(set) var roundDeadline: Double
    public private(set) var openLeases: [String: OpenLease]
    public private(set) var accepted: Int
    public private(set) var slotsIssued: Int

    /// A machine collecting `round`, opened at `openedAt`.
    public init(settings: Settings, round: UInt64, openedAt: Double) {
        self.settings = settings
        self.round = round
        self.phase = .collecting
        self.roundDeadline = openedAt + settings.roundDeadlineSeconds
        self.openLeases = [:]
        self.accepted = 0
        self.slotsIssued = 0
    }

    /// Rebuilds the machine from the store after a restart.
    public init(settings: Settings, restoring r: RoundRecord, leases: [LeaseRecord], finished: Bool, now: Double) {
        self.init(
            settings: settings, round: r.number, openedAt: max(r.openedAt, now - settings.roundDeadlineSeconds / 2))
        if finished || r.closedAt != nil {
            phase = .finished
            return
        }
        accepted = leases.filter { $0.status == .accepted }.count
        slotsIssued = max(r.leasesIssued, (leases.map(\.slot).max() ?? -1) + 1)
        for l in leases where l.status == .open {
            openLeases[l.id] = OpenLease(peerID: l.peerID, slot: l.slot, deadline: l.deadline)
        }
        if accepted >= settings.peersPerRound { phase = .aggregating }
    }

    /// A peer asks for work.
    public func requestLease(peerID: String, now: Double) -> LeaseDecision {
        switch phase {
        case .finished: return .wait(retryAfter: 30, reason: .campaignFinished)
        case .aggregating: return .wait(retryAfter: 0.25, reason: .aggregating)
        case .collecting: break
        }
        if let (id, _) = openLeases.first(where: { $0.value.peerID == peerID && $0.value.deadline > now }) {
            return .existing(leaseID: id)
        }
        guard accepted + openLeases.count < settings.peersPerRound else {
            // Sync rounds: the next round opens as soon as the last lease of this one is uploaded, so poll briskly.
            return .wait(retryAfter: 1, reason: .roundFull)
        }
        return .issue(slot: slotsIssued, deadline: now + settings.leaseSeconds)
    }

    /// Records a lease the caller persisted after `.issue`.
    public mutating func leaseIssued(id: String, peerID: String, slot: Int, deadline: Double) {
        openLeases[id] = OpenLease(peerID: peerID, slot: slot, deadline: deadline)
        slotsIssued = max(slotsIssued, slot + 1)
    }

    /// Whether an upload for lease `id` of `round` is still wanted (else it is stale: `lease_expired`).
    public func accepts(leaseID id: String, round r: UInt64, now: Double) -> Bool {
        guard phase == .collecting, r == round, let l = openLeases[id] else { return false }
        return l.deadline > now
    }

    /// Records an accepted update; returns `.aggregate` when the quorum is complete.
    public mutating func updateAccepted(leaseID id: String) -> [Action] {
        guard openLeases.removeValue(forKey: id) != nil else { return [] }
        accepted += 1
        if accepted >= settings.peersPerRound {
            phase = .aggregating
            return [.aggregate(round: round)]
        }
        return []
    }

    /// Advances time: expires leases past their deadline and closes (or extends) a round past its deadline.
    public mutating func tick(now: Double) -> [Action] {
        guard phase == .collecting else { return [] }
        var actions: [Action] = []
        let expired = openLeases.filter { $0.value.deadline <= now }.map(\.key).sorted()
        if !expired.isEmpty {
            for id in expired { openLeases.removeValue(forKey: id) }
            actions.append(.expireLeases(expired))
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

    /// The caller finished aggregating `round`: open `round + 1` at `now`, or finish.
    public mutating func roundClosed(finished: Bool, now: Double) {
        precondition(phase == .aggregating, "roundClosed outside aggregation")
        openLeases = [:]
        accepted = 0
        slotsIssued = 0
        if finished {
            phase = .finished
        } else {
            round += 1
            phase = .collecting
            roundDeadline = now + settings.roundDeadlineSeconds
        }
    }
}
