import CrowdClient
import CrowdProtocol
import Testing

@testable import CrowdPeer

/// The peer work state machine under suspension and stop, and the contract every batch of actions keeps
/// (the suite's fixtures are in PeerWorkMachineTests.swift).
extension PeerWorkMachineTests {
    // MARK: suspension

    @Test func pauseAndResumeMidUploadResendsTheSameUpdateWithoutTraining() {
        var m = Self.uploading()
        let info = Self.info()
        #expect(
            m.handle(.suspended(Self.paused), now: 12) == [
                .announce(.suspended("paused")),
                .setStatus(.init(.suspended, reason: "paused", suspendReasons: [.paused])), .waitForResume,
            ])
        #expect(m.state == .suspended(Self.paused, resumeTo: .uploading(info)))
        // The description changes (same reasons): shown, not announced again.
        let later = Machine.Suspension(reasons: [.paused], text: "paused until 14:00")
        #expect(
            m.handle(.suspended(later), now: 20) == [
                .setStatus(.init(.suspended, reason: "paused until 14:00", suspendReasons: [.paused])), .waitForResume,
            ])
        #expect(
            m.handle(.resumed, now: 30) == [
                .announce(.resumed), .setStatus(.init(.uploading, round: 3, leaseID: "lease-1")), .upload(info),
            ])
        #expect(m.handle(.uploadAccepted(Self.receipt()), now: 31).first == .commitUpload(info, Self.receipt()))
    }

    @Test func newSuspendReasonsAreAnnounced() {
        var m = Self.leasing()
        _ = m.handle(.suspended(Self.paused), now: 1)
        let more = Machine.Suspension(reasons: [.paused, .outsideHours], text: "paused, outside hours")
        #expect(m.handle(.suspended(more), now: 2).first == .announce(.suspended("paused, outside hours")))
        #expect(m.state == .suspended(more, resumeTo: .leasing))
    }

    @Test func aSuspensionWhileLeasingOrWaitingAsksAgainOnResume() {
        var waiting = Self.leasing()
        _ = waiting.handle(.noWork(reason: "round_full", retryAfter: 50), now: 1)
        _ = waiting.handle(.suspended(Self.paused), now: 2)
        #expect(waiting.state == .suspended(Self.paused, resumeTo: .leasing))
        #expect(
            waiting.handle(.resumed, now: 3) == [
                .announce(.resumed), .setStatus(.init(.leasing)), .requestLease(samplesPerSecond: nil),
            ])
        var leasing = Self.leasing()
        _ = leasing.handle(.suspended(Self.paused), now: 2)
        #expect(leasing.handle(.resumed, now: 3).last == .requestLease(samplesPerSecond: nil))
    }

    @Test func aSuspensionBeforeTheFirstRequestMakesNoRequest() {
        // refreshOutcomes found the daemon paused: nothing is asked until the resume.
        var m = Self.leasing()
        let actions = m.handle(.suspended(Self.paused), now: 0)
        #expect(!actions.contains(.requestLease(samplesPerSecond: nil)) && !actions.contains(.refreshOutcomes))
        #expect(actions.last == .waitForResume)
    }

    @Test func aSuspensionWhileFetchingResumesTheFetchOrGivesUpAnExpiredLease() {
        let lease = Self.lease(deadline: 100)
        var m = Self.fetching(lease)
        _ = m.handle(.suspended(Self.paused), now: 5)
        var early = m
        #expect(
            early.handle(.resumed, now: 50) == [
                .announce(.resumed), .setStatus(.init(.downloading, lease: lease)), .fetchArtifacts(lease),
            ])
        #expect(m.handle(.resumed, now: 100) == [.announce(.resumed), .abandonLease(lease, .deadlinePassed)] + Self.cycle)
    }

    @Test func aSuspensionWhileTrainingResumesFromTheFetch() {
        // The trainer holds a lease itself; if training ended under a suspension, the lease goes on from progress.bin.
        let lease = Self.lease(deadline: 100)
        var m = Self.training(lease)
        _ = m.handle(.suspended(Self.paused), now: 5)
        #expect(m.state == .suspended(Self.paused, resumeTo: .fetching(lease)))
        var early = m
        #expect(early.handle(.resumed, now: 6).last == .fetchArtifacts(lease))
        #expect(m.handle(.resumed, now: 100).contains(.abandonLease(lease, .deadlinePassed)))
    }

    @Test func aSuspensionWhileBackingOffKeepsTheRetryTime() {
        var m = Self.uploading()
        let until = m.handle(.failed(Self.unreachable), now: 12).sleepUntil!
        let reason = "\(Self.unreachable)"
        _ = m.handle(.suspended(Self.paused), now: 12.1)
        #expect(m.state == .suspended(Self.paused, resumeTo: .backingOff(until: until, then: .uploading(Self.info()), reason: reason)))
        var early = m
        #expect(
            early.handle(.resumed, now: 12.2) == [
                .announce(.resumed), .setStatus(.init(.backingOff, reason: reason)), .sleep(until: until),
            ])
        #expect(m.handle(.resumed, now: until).last == .upload(Self.info()))
    }

    @Test func aSuspensionWhileEncodingEncodesOnResume() {
        var m = Self.encoding()
        _ = m.handle(.suspended(Self.paused), now: 10)
        #expect(m.handle(.resumed, now: 11) == [.announce(.resumed), .encode(Self.lease())])
    }

    // MARK: stop

    @Test func stopInEveryStateEndsAtOnceKeepingTheWorkOnDisk() {
        var backingOff = Self.uploading()
        _ = backingOff.handle(.failed(Self.unreachable), now: 12)
        var waiting = Self.leasing()
        _ = waiting.handle(.noWork(reason: "round_full", retryAfter: 30), now: 1)
        var suspended = Self.uploading()
        _ = suspended.handle(.suspended(Self.paused), now: 12)
        var starting = Self.machine()
        _ = starting.start(now: 0)
        let machines: [(String, Machine)] = [
            ("starting", starting), ("leasing", Self.leasing()), ("waiting", waiting), ("fetching", Self.fetching()),
            ("training", Self.training()), ("encoding", Self.encoding()), ("uploading", Self.uploading()),
            ("resending", Self.resending()), ("suspended", suspended), ("backingOff", backingOff),
        ]
        for (name, machine) in machines {
            var m = machine
            #expect(m.handle(.stop, now: 40) == [.finish(.shutDown)], "\(name)")
            #expect(m.state == .stopped(.shutDown), "\(name)")
            // Nothing after the stop does anything.
            #expect(m.handle(.resumed, now: 41).isEmpty && m.handle(.tick, now: 42).isEmpty, "\(name)")
            #expect(m.handle(.uploadAccepted(Self.receipt()), now: 43).isEmpty, "\(name)")
        }
    }

    @Test func stopDuringTrainingKeepsTheProgressUnlessTheLeaseExpired() {
        var m = Self.training(Self.lease(deadline: 100))
        var late = m
        #expect(m.handle(.trainingStopped(byShutdown: true), now: 50) == [.finish(.shutDown)])
        #expect(
            late.handle(.trainingStopped(byShutdown: true), now: 100) == [
                .abandonLease(Self.lease(deadline: 100), .deadlinePassed), .finish(.shutDown),
            ])
    }

    @Test func stopWaitsForTheProofInFlight() {
        var m = Self.uploading(holdsTrajectory: true)
        _ = m.handle(.uploadAccepted(Self.receipt(challenge: 0)), now: 12)
        #expect(m.handle(.stop, now: 13) == [.awaitProof, .finish(.shutDown)])
    }

    // MARK: contract

    @Test func clientErrorsBecomeFailuresByWhetherTheCoordinatorAnswered() {
        let refused = Failure(CoordinatorClientError(status: nil, code: "transport", message: "connection refused"))
        #expect(refused == Self.unreachable && refused.retryable)
        let busy = Failure(CoordinatorClientError(status: 503, code: "unavailable", message: "starting", retryAfter: 2))
        #expect(busy == .answered(status: 503, code: "unavailable", message: "starting", retryAfter: 2) && busy.retryable)
        let stale = Failure(CoordinatorClientError(status: 409, code: "stale_update", message: "old"))
        #expect(stale.apiCode == .staleUpdate && !stale.retryable)
        #expect(Failure(PeerError("disk full")) == .local("disk full"))
        #expect(busy.clientError?.description == "unavailable (HTTP 503): starting")
    }

    @Test func anEventThatDoesNotBelongToTheStateChangesNothing() {
        var m = Self.leasing()
        #expect(m.handle(.artifactsFetched, now: 1).isEmpty)
        #expect(m.handle(.uploadAccepted(Self.receipt()), now: 1).isEmpty)
        #expect(m.handle(.resumed, now: 1).isEmpty)
        #expect(m.state == .leasing)
    }

    @Test func everyBatchEndsInExactlyOneOperationOrFinish() {
        // A whole run: restart with a pending update, a refused connection, a pause mid-upload, no work, a lease,
        // a pause during the fetch, training, a stale refusal, another lease, acceptance with a challenge, stop.
        var m = Self.machine()
        var batches = [m.start(now: 0)]
        let lease2 = Self.lease("lease-2", deadline: 900)
        let script: [Machine.Event] = [
            .pendingLoaded(Self.info()), .failed(Self.unreachable), .tick, .suspended(Self.paused), .resumed,
            .uploadAccepted(Self.receipt()), .noWork(reason: "round_full", retryAfter: 1), .tick,
            .leaseGranted(lease2), .suspended(Self.paused), .resumed, .artifactsFetched,
            .trainingFinished(samplesPerSecond: 100), .encoded(Self.info(lease2), holdsTrajectory: true),
            .failed(Self.answered(409, .staleUpdate)), .leaseGranted(Self.lease("lease-3", deadline: 900)),
            .artifactsFetched, .trainingFinished(samplesPerSecond: 100),
            .encoded(Self.info(Self.lease("lease-3", deadline: 900)), holdsTrajectory: true),
            .uploadAccepted(Self.receipt(Self.info(Self.lease("lease-3", deadline: 900)), challenge: 1)), .stop,
        ]
        var now = 0.0
        for event in script {
            now += 10
            batches.append(m.handle(event, now: now))
        }
        for (i, batch) in batches.enumerated() {
            let reporting = batch.filter(\.reportsBack)
            #expect(reporting.count == 1 && batch.last.map { $0.reportsBack } == true, "batch \(i): \(batch)")
        }
        #expect(m.state == .stopped(.shutDown))
    }
}
