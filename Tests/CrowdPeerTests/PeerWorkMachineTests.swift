import CrowdClient
import CrowdProtocol
import Testing

@testable import CrowdPeer

/// Every transition of the peer's work cycle, driven with a fake clock value (`now`), never sleeping.
@Suite struct PeerWorkMachineTests {
    typealias Machine = PeerWorkMachine
    typealias Failure = PeerWorkMachine.Failure

    static let model1 = String(repeating: "a", count: 64)
    static let model2 = String(repeating: "b", count: 64)

    static func lease(_ id: String = "lease-1", round: UInt64 = 3, model: String = model1, deadline: Double = 1000)
        -> Lease
    {
        Lease(
            leaseID: id, round: round, modelVersion: model, schemaHash: 7, workload: "w", modelKind: "mlp",
            shardIDs: ["s1"], steps: 50, batch: 8, block: nil, inner: InnerOptimizerConfig(), codec: "int8",
            codecLevel: 3, seed: 11, deadline: deadline, samples: 400)
    }

    static func info(_ lease: Lease = lease()) -> PendingUpdate.Info {
        PendingUpdate.Info(
            leaseID: lease.leaseID, round: lease.round, modelVersion: lease.modelVersion, schemaHash: 7,
            samples: lease.samples, loss: 0.5, trainSeconds: 2, deadline: lease.deadline, finishedAt: 100)
    }

    static func receipt(_ info: PendingUpdate.Info = info(), challenge: Int? = nil) -> Receipt {
        var r = Receipt(
            receiptID: "r-\(info.leaseID)", leaseID: info.leaseID, round: info.round, samples: info.samples, credit: 0,
            acceptedAt: 101, status: UpdateOutcome.pending)
        r.challenge = challenge.map { UpdateChallenge(segment: $0, deadline: 500) }
        return r
    }

    static let unreachable = Failure.unreachable(code: "transport", message: "connection refused")
    static func answered(_ status: Int, _ code: APIErrorCode, retryAfter: Double? = nil) -> Failure {
        .answered(status: status, code: code.rawValue, message: "\(code) message", retryAfter: retryAfter)
    }
    static let paused = Machine.Suspension(reasons: [.paused], text: "paused")

    static let cycle: [Machine.Action] = [
        .refreshOutcomes, .setStatus(.init(.leasing)), .requestLease(samplesPerSecond: nil),
    ]

    static func machine(_ settings: Machine.Settings = Machine.Settings(), seed: UInt64 = 1) -> Machine {
        Machine(settings: settings, seed: seed)
    }

    /// A machine whose first lease request is in flight (sent at t = 0).
    static func leasing(_ settings: Machine.Settings = Machine.Settings()) -> Machine {
        var m = machine(settings)
        _ = m.start(now: 0)
        _ = m.handle(.pendingLoaded(nil), now: 0)
        return m
    }

    static func fetching(_ lease: Lease = lease(), settings: Machine.Settings = Machine.Settings()) -> Machine {
        var m = leasing(settings)
        _ = m.handle(.leaseGranted(lease), now: 1)
        return m
    }

    static func training(_ lease: Lease = lease()) -> Machine {
        var m = fetching(lease)
        _ = m.handle(.artifactsFetched, now: 2)
        return m
    }

    static func encoding(_ lease: Lease = lease()) -> Machine {
        var m = training(lease)
        _ = m.handle(.trainingFinished(samplesPerSecond: 200), now: 10)
        return m
    }

    static func uploading(
        _ lease: Lease = lease(), holdsTrajectory: Bool = false, settings: Machine.Settings = Machine.Settings()
    ) -> Machine {
        var m = fetching(lease, settings: settings)
        _ = m.handle(.artifactsFetched, now: 2)
        _ = m.handle(.trainingFinished(samplesPerSecond: 200), now: 10)
        _ = m.handle(.encoded(info(lease), holdsTrajectory: holdsTrajectory), now: 11)
        return m
    }

    /// A machine that restarted with a previous run's update and is sending it.
    static func resending(_ info: PendingUpdate.Info = info(), settings: Machine.Settings = Machine.Settings()) -> Machine {
        var m = machine(settings)
        _ = m.start(now: 0)
        _ = m.handle(.pendingLoaded(info), now: 0)
        return m
    }

    // MARK: start and re-send

    @Test func startShowsStartingAndLooksForAPendingUpdate() {
        var m = Self.machine()
        #expect(m.start(now: 0) == [.setStatus(.init(.starting)), .loadPending])
        #expect(m.state == .starting)
    }

    @Test func withoutAPendingUpdateTheCycleRefreshesOutcomesAndLeases() {
        var m = Self.machine()
        _ = m.start(now: 0)
        #expect(m.handle(.pendingLoaded(nil), now: 0) == Self.cycle)
        #expect(m.state == .leasing)
    }

    @Test func aPendingUpdateOfAPreviousRunIsSentBeforeAnyLease() {
        var m = Self.machine()
        _ = m.start(now: 0)
        let info = Self.info()
        #expect(
            m.handle(.pendingLoaded(info), now: 0) == [
                .setStatus(.init(.uploading, round: 3, leaseID: "lease-1")), .upload(info),
            ])
        #expect(m.state == .uploading(info))
    }

    @Test func maxLeasesZeroFinishesBeforeResending() {
        var m = Self.machine(Machine.Settings(maxLeases: 0))
        _ = m.start(now: 0)
        #expect(m.handle(.pendingLoaded(Self.info()), now: 0) == [.finish(.finished)])
        #expect(m.state == .stopped(.finished))
    }

    // MARK: leasing and waiting

    @Test func aGrantedLeaseIsFetchedAndResetsTheBackoff() {
        var m = Self.leasing()
        _ = m.handle(.failed(Self.unreachable), now: 0)
        _ = m.handle(.tick, now: 5)
        #expect(m.backoff.failures == 1)
        let lease = Self.lease()
        #expect(
            m.handle(.leaseGranted(lease), now: 6) == [
                .setStatus(.init(.downloading, lease: lease)), .fetchArtifacts(lease),
            ])
        #expect(m.state == .fetching(lease))
        #expect(m.backoff.failures == 0)
    }

    @Test func noWorkWaitsTheCoordinatorsRetryAfterWithinBounds() {
        let settings = Machine.Settings(maxWait: 30)
        for (asked, wait) in [(5.0, 5.0), (nil, 2), (0, 0.05), (1000, 30)] as [(Double?, Double)] {
            var m = Self.leasing(settings)
            let actions = m.handle(.noWork(reason: "round_full", retryAfter: asked), now: 1)
            #expect(actions == [.setStatus(.init(.waiting, reason: "round_full")), .sleep(until: 1 + wait)])
            #expect(m.state == .waiting(until: 1 + wait))
        }
    }

    @Test func aLongPollHeldToItsEndAsksAgainAtOnceAndKeepsWaitingShown() {
        var m = Self.leasing(Machine.Settings(longPollSeconds: 20))
        #expect(
            m.handle(.noWork(reason: "round_full", retryAfter: 1), now: 19) == [
                .setStatus(.init(.waiting, reason: "round_full")), .requestLease(samplesPerSecond: nil),
            ])
        #expect(m.state == .leasing)
        // The next answer comes at once (a round opened, then filled): that one pauses.
        let again = m.handle(.noWork(reason: "round_full", retryAfter: 1), now: 19.5)
        #expect(again.last == .sleep(until: 20.5))
    }

    @Test func pollingWithoutLongPollAlwaysWaits() {
        var m = Self.leasing(Machine.Settings(longPollSeconds: 0))
        #expect(m.handle(.noWork(reason: "round_full", retryAfter: 3), now: 100).last == .sleep(until: 103))
    }

    @Test func waitingAsksAgainAtItsTimeWithoutShowingLeasing() {
        var m = Self.leasing()
        _ = m.handle(.noWork(reason: "aggregating", retryAfter: 4), now: 1)
        #expect(m.handle(.tick, now: 3) == [.sleep(until: 5)], "an early wake-up sleeps the rest")
        #expect(m.handle(.tick, now: 5) == [.requestLease(samplesPerSecond: nil)])
        #expect(m.state == .leasing)
    }

    @Test func aFinishedCampaignEndsTheRunOnlyWhenAskedTo() {
        var exiting = Self.leasing(Machine.Settings(exitWhenFinished: true))
        #expect(
            exiting.handle(.noWork(reason: "campaign_finished", retryAfter: 30), now: 19) == [
                .announce(.campaignFinished), .finish(.finished),
            ])
        var staying = Self.leasing(Machine.Settings(maxWait: 10))
        // Even after a held long-poll a finished campaign is asked again only after a pause.
        #expect(staying.handle(.noWork(reason: "campaign_finished", retryAfter: 30), now: 19).last == .sleep(until: 29))
    }

    // MARK: fetch, train, encode

    @Test func fetchedArtifactsAreTrained() {
        var m = Self.fetching()
        let lease = Self.lease()
        #expect(m.handle(.artifactsFetched, now: 2) == [.setStatus(.init(.training, lease: lease)), .train(lease)])
        #expect(m.state == .training(lease))
    }

    @Test func aFinishedTrainingIsEncodedAndItsSpeedSentWithTheNextRequest() {
        var m = Self.training()
        #expect(m.handle(.trainingFinished(samplesPerSecond: 250), now: 10) == [.encode(Self.lease())])
        #expect(m.state == .encoding(Self.lease()))
        _ = m.handle(.encoded(Self.info(), holdsTrajectory: false), now: 11)
        let next = m.handle(.uploadAccepted(Self.receipt()), now: 12)
        #expect(next.last == .requestLease(samplesPerSecond: 250))
    }

    @Test func anEncodedUpdateIsUploadedAndItsTrajectoryHeld() {
        var m = Self.encoding()
        let info = Self.info()
        #expect(
            m.handle(.encoded(info, holdsTrajectory: true), now: 11) == [
                .setStatus(.init(.uploading, round: 3, leaseID: "lease-1")), .upload(info),
            ])
        #expect(m.state == .uploading(info))
        #expect(m.heldTrajectory == "lease-1")
    }

    @Test func shardNotLeasedOnFetchDropsTheLeaseAndLeasesAgainAtOnce() {
        var m = Self.fetching()
        let lease = Self.lease()
        #expect(
            m.handle(.failed(Self.answered(403, .shardNotLeased)), now: 3)
                == [.abandonLease(lease, .notLeased)] + Self.cycle)
        #expect(m.state == .leasing)
        #expect(m.backoff.failures == 0)
    }

    @Test func otherFetchFailuresBackOffAndStartANewCycle() {
        var m = Self.fetching()
        let notFound = Self.answered(404, .notFound)
        #expect(
            m.handle(.failed(notFound), now: 3) == [
                .announce(.retrying(notFound, after: 1)), .setStatus(.init(.backingOff, reason: "\(notFound)")),
                .sleep(until: 4),
            ])
        #expect(m.state == .backingOff(until: 4, then: .idle, reason: "\(notFound)"))
        #expect(m.handle(.tick, now: 4) == Self.cycle)
    }

    @Test func aLocalErrorBacksOffOnTheSchedule() {
        // A corrupt shard, a model over the memory limit, a full disk: the jittered schedule, then lease again.
        var m = Self.training()
        let actions = m.handle(.failed(.local("corrupt shard")), now: 10)
        guard case .backingOff(let until, .idle, "corrupt shard") = m.state else {
            Issue.record("not backing off: \(m.state)")
            return
        }
        #expect(until >= 10.5 && until < 11)
        #expect(actions.first == .announce(.retrying(.local("corrupt shard"), after: until - 10)))
    }

    @Test func anEncodeFailureBacksOffAndLeasesAgain() {
        var m = Self.encoding()
        _ = m.handle(.failed(.local("disk full")), now: 12)
        guard case .backingOff(_, .idle, _) = m.state else {
            Issue.record("not backing off: \(m.state)")
            return
        }
    }

    // MARK: lease expiry

    @Test func aLeaseWhoseDeadlinePassedDuringTrainingIsAbandoned() {
        var m = Self.training(Self.lease(deadline: 50))
        #expect(
            m.handle(.trainingStopped(byShutdown: false), now: 50)
                == [.abandonLease(Self.lease(deadline: 50), .deadlinePassed)] + Self.cycle)
        #expect(m.state == .leasing)
    }

    @Test func aLeaseExpiredAtUploadIsDiscardedAndLeasedAgain() {
        var m = Self.uploading()
        let info = Self.info()
        let expired = Self.answered(409, .leaseExpired)
        #expect(
            m.handle(.failed(expired), now: 12) == [
                .discardPending(info, expired), .setStatus(.init(.leasing, reason: "last update rejected: lease_expired")),
                .announce(.rejected(info, expired)),
            ] + Self.cycle.map { $0 == .requestLease(samplesPerSecond: nil) ? .requestLease(samplesPerSecond: 200) : $0 })
        #expect(m.state == .leasing)
        #expect(m.finishedLeases == 1)
    }

    // MARK: model version

    @Test func anUpdateRefusedAsStaleIsDroppedNotResentAndANewVersionStartsClean() {
        var m = Self.uploading(holdsTrajectory: true)
        let info = Self.info()
        for code in [APIErrorCode.staleUpdate, .wrongBaseModel] {
            var n = m
            let actions = n.handle(.failed(Self.answered(code == .staleUpdate ? 409 : 422, code)), now: 12)
            #expect(actions.contains(.discardPending(info, Self.answered(code == .staleUpdate ? 409 : 422, code))))
            #expect(actions.contains(.releaseTrajectory))
            #expect(!actions.contains(.upload(info)))
            #expect(n.heldTrajectory == nil)
            #expect(n.state == .leasing)
        }
        _ = m.handle(.failed(Self.answered(409, .staleUpdate)), now: 12)
        // The next lease is for the new model version: fetched and trained afresh, nothing carried from the old one.
        let next = Self.lease("lease-2", round: 4, model: Self.model2, deadline: 2000)
        #expect(m.handle(.leaseGranted(next), now: 13).last == .fetchArtifacts(next))
        #expect(m.handle(.artifactsFetched, now: 14).last == .train(next))
    }

    @Test func progressOfAnotherModelVersionOrLeaseIsNotResumed() {
        let old = Self.lease(deadline: 100)
        let drop = Machine.progressDropReason
        #expect(drop(old, 20, old, 50) == nil, "same lease, same model, before its deadline: resumed")
        #expect(drop(old, 20, Self.lease(model: Self.model2, deadline: 100), 50) == "the coordinator changed the lease's model or settings")
        #expect(drop(old, 20, Self.lease("lease-2", deadline: 900), 50)?.hasPrefix("reissued") == true)
        #expect(drop(old, 20, Self.lease("lease-2", deadline: 900), 100) == "expired")
        #expect(drop(old, 20, old, 100) == "expired")
        #expect(drop(old, 50, old, 50) == "the saved progress is already at its end")
    }

    // MARK: upload outcomes

    @Test func anAcceptedUpdateIsCommittedCountedAndTheCycleGoesOn() {
        var m = Self.resending()
        let info = Self.info(), receipt = Self.receipt()
        #expect(
            m.handle(.uploadAccepted(receipt), now: 5) == [
                .commitUpload(info, receipt), .setStatus(.init(.leasing)), .announce(.accepted(info, receipt)),
            ] + Self.cycle)
        #expect(m.finishedLeases == 1)
        #expect(m.state == .leasing)
    }

    @Test func maxLeasesEndsTheRunAfterTheLastUpdate() {
        var m = Self.uploading(settings: Machine.Settings(maxLeases: 1))
        let actions = m.handle(.uploadAccepted(Self.receipt()), now: 12)
        #expect(actions.last == .finish(.finished))
        #expect(!actions.contains(.requestLease(samplesPerSecond: 200)))
    }

    @Test func aChallengeIsAnsweredFromTheHeldTrajectoryAndAwaitedBeforeTheNextUpload() {
        var m = Self.uploading(holdsTrajectory: true)
        let info = Self.info(), receipt = Self.receipt(challenge: 2)
        let actions = m.handle(.uploadAccepted(receipt), now: 12)
        #expect(
            Array(actions.prefix(5)) == [
                .commitUpload(info, receipt), .setStatus(.init(.leasing)), .announce(.accepted(info, receipt)),
                .sendProof(leaseID: "lease-1", segment: 2), .releaseTrajectory,
            ])
        #expect(m.proofInFlight == "lease-1" && m.heldTrajectory == nil)
        let next = Self.lease("lease-2", deadline: 2000)
        _ = m.handle(.leaseGranted(next), now: 13)
        _ = m.handle(.artifactsFetched, now: 14)
        _ = m.handle(.trainingFinished(samplesPerSecond: 200), now: 20)
        #expect(m.handle(.encoded(Self.info(next), holdsTrajectory: true), now: 21).first == .awaitProof)
        #expect(m.proofInFlight == nil)
    }

    @Test func aChallengeAfterARestartSaysTheTrajectoryIsGone() {
        var m = Self.resending()
        let actions = m.handle(.uploadAccepted(Self.receipt(challenge: 1)), now: 5)
        #expect(actions.contains(.announce(.proofUnavailable(leaseID: "lease-1", segment: 1))))
        #expect(!actions.contains { if case .sendProof = $0 { true } else { false } })
        #expect(m.proofInFlight == nil)
    }

    @Test func aRefusedCredentialEndsTheDaemonAndKeepsThePendingUpdate() {
        for code in [APIErrorCode.unauthorized, .revoked] {
            var m = Self.uploading()
            let actions = m.handle(.failed(Self.answered(code == .unauthorized ? 401 : 403, code)), now: 12)
            guard case .finish(.failed(let text))? = actions.last else {
                Issue.record("\(code) did not end the run: \(actions)")
                continue
            }
            #expect(text.contains("join again with a new invite"))
            #expect(!actions.contains { if case .discardPending = $0 { true } else { false } })
        }
        var leasing = Self.leasing()
        #expect(leasing.handle(.failed(Self.answered(401, .unauthorized)), now: 1).count == 1)
        #expect(leasing.state == .stopped(.failed("the coordinator refused this peer's credential (unauthorized (HTTP 401): unauthorized message); join again with a new invite")))
    }

    @Test func aSuspendedPeerStopsButItsUploadIsOnlyRefused() {
        var leasing = Self.leasing()
        let suspended = Self.answered(403, .suspended)
        #expect(leasing.handle(.failed(suspended), now: 1) == [
            .finish(.failed("the coordinator suspended this peer (suspended message); the daemon stops")),
        ])
        var uploading = Self.uploading()
        #expect(uploading.handle(.failed(suspended), now: 12).first == .discardPending(Self.info(), suspended))
    }

    @Test func aReceiptForOtherBytesKeepsTheUpdateAndRetries() {
        var m = Self.uploading()
        _ = m.handle(.failed(.local("the coordinator's receipt names other bytes")), now: 12)
        guard case .backingOff(_, .uploading(Self.info()), _) = m.state else {
            Issue.record("not retrying the upload: \(m.state)")
            return
        }
    }

    // MARK: coordinator down or restarting

    @Test func aCoordinatorRestartKeepsThePendingUpdateBacksOffAndResendsIt() {
        var m = Self.uploading(settings: Machine.Settings(backoffBase: 1, backoffCap: 8))
        let info = Self.info()
        var now = 12.0
        // Connection refused while it restarts: the jittered schedule min·2ⁿ capped at 8, × U(0.5, 1).
        for n in 0..<5 {
            let actions = m.handle(.failed(Self.unreachable), now: now)
            guard case .backingOff(let until, .uploading(info), _) = m.state else {
                Issue.record("not retrying the upload: \(m.state)")
                return
            }
            let ceiling = min(8, Double(1 << n))
            #expect(until - now >= ceiling * 0.5 && until - now <= ceiling, "retry \(n): \(until - now)")
            #expect(actions.last == .sleep(until: until))
            #expect(!actions.contains { if case .discardPending = $0 { true } else { false } })
            #expect(m.handle(.tick, now: until - 0.1) == [.sleep(until: until)])
            now = until
            #expect(
                m.handle(.tick, now: now) == [.setStatus(.init(.uploading, round: 3, leaseID: "lease-1")), .upload(info)])
        }
        // Back, but still starting: it asks for 5 s.
        _ = m.handle(.failed(Self.answered(503, .unavailable, retryAfter: 5)), now: now)
        guard case .backingOff(let until, .uploading(info), _) = m.state else {
            Issue.record("not retrying the upload: \(m.state)")
            return
        }
        #expect(until - now >= 5)
        _ = m.handle(.tick, now: until)
        // Up: the same update is accepted (the coordinator answers a retry with the same receipt).
        #expect(m.handle(.uploadAccepted(Self.receipt()), now: until + 1).first == .commitUpload(info, Self.receipt()))
        #expect(m.backoff.failures == 0)
    }

    @Test func anUnreachableCoordinatorWhileLeasingBacksOffThenStartsANewCycle() {
        var m = Self.leasing()
        let actions = m.handle(.failed(Self.unreachable), now: 1)
        #expect(actions.first == .announce(.retrying(Self.unreachable, after: actions.sleepUntil! - 1)))
        #expect(m.handle(.tick, now: actions.sleepUntil!) == Self.cycle)
    }

    @Test func aRefusalWaitsOneSecondOrWhatTheCoordinatorAsks() {
        var plain = Self.leasing()
        #expect(plain.handle(.failed(Self.answered(400, .badRequest)), now: 1).sleepUntil == 2)
        var asked = Self.leasing()
        #expect(asked.handle(.failed(Self.answered(429, .rateLimited, retryAfter: 7)), now: 1).sleepUntil == 8)
    }

    @Test func theBackoffJitterIsSeeded() {
        func delays(seed: UInt64) -> [Double] {
            var m = Self.machine(seed: seed)
            _ = m.start(now: 0)
            _ = m.handle(.pendingLoaded(nil), now: 0)
            var out: [Double] = []
            var now = 0.0
            for _ in 0..<6 {
                let until = m.handle(.failed(Self.unreachable), now: now).sleepUntil!
                out.append(until - now)
                now = until
                _ = m.handle(.tick, now: now)
            }
            return out
        }
        #expect(delays(seed: 42) == delays(seed: 42))
        #expect(delays(seed: 42) != delays(seed: 43))
    }
}

extension PeerWorkMachine.Action {
    /// Operations (and `finish`) end a batch; `refreshOutcomes` reports only when gated.
    var reportsBack: Bool {
        switch self {
        case .loadPending, .requestLease, .fetchArtifacts, .train, .encode, .upload, .sleep, .waitForResume, .finish:
            return true
        default:
            return false
        }
    }
}

extension Array where Element == PeerWorkMachine.Action {
    /// The time of the batch's `sleep`, if any.
    var sleepUntil: Double? {
        for case .sleep(let until) in self { return until }
        return nil
    }
}
