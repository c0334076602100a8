import CrowdProtocol

/// The transitions: `handle` maps (state, event) to the next state and the actions that get there; `enter` gives
/// each state's entry actions (the operation it waits on).
extension PeerWorkMachine {
    /// Feeds one event observed at `now`; returns the actions to perform, in order. An event that does not belong
    /// to the current state (and anything after `stopped`) changes nothing and returns no action.
    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        if case .stopped = state { return [] }
        switch (state, event) {
        case (_, .stop):
            return stop(.shutDown)

        case (.starting, .pendingLoaded(let info)):
            guard let info else { return enter(.idle, now: now) }
            return reachedMaxLeases ? stop(.finished) : enter(.uploading(info), now: now)

        case (.leasing, .leaseGranted(let lease)):
            backoff.reset()
            return enter(.fetching(lease), now: now)
        case (.leasing, .noWork(let reason, let retryAfter)):
            backoff.reset()
            return noWork(reason: reason, retryAfter: retryAfter, now: now)
        case (.waiting(let until), .tick):
            return now >= until ? enterLeasing(showStatus: false, now: now) : [.sleep(until: until)]

        case (.fetching(let lease), .artifactsFetched):
            return enter(.training(lease), now: now)
        case (.fetching(let lease), .failed(let failure)) where failure.apiCode == .shardNotLeased:
            return [.abandonLease(lease, .notLeased)] + enter(.idle, now: now)

        case (.training(let lease), .trainingFinished(let speed)):
            samplesPerSecond = speed
            return enter(.encoding(lease), now: now)
        case (.training(let lease), .trainingStopped(let byShutdown)):
            // The trainer stops only for shutdown or for a deadline that passed while it was held.
            let expired = !byShutdown || now >= lease.deadline
            let lost: [Action] = expired ? [.abandonLease(lease, .deadlinePassed)] : []
            return lost + (byShutdown ? stop(.shutDown) : enter(.idle, now: now))

        case (.encoding, .encoded(let info, let holdsTrajectory)):
            heldTrajectory = holdsTrajectory ? info.leaseID : nil
            return enter(.uploading(info), now: now)

        case (.uploading(let info), .uploadAccepted(let receipt)):
            return accepted(info, receipt, now: now)
        case (.uploading(let info), .failed(let failure)):
            if let fatal = Self.fatal(failure, uploading: true) { return stop(.failed(fatal)) }
            if failure.retryable { return backOff(failure, then: .uploading(info), now: now) }
            return rejected(info, failure, now: now)

        case (.leasing, .failed(let failure)), (.fetching, .failed(let failure)), (.training, .failed(let failure)),
            (.encoding, .failed(let failure)):
            if let fatal = Self.fatal(failure, uploading: false) { return stop(.failed(fatal)) }
            return backOff(failure, then: .idle, now: now)

        case (.backingOff(let until, let then, _), .tick):
            return now >= until ? enter(then, now: now) : [.sleep(until: until)]

        case (.suspended(let shown, let resumeTo), .suspended(let suspension)):
            state = .suspended(suspension, resumeTo: resumeTo)
            let line: [Action] = suspension.reasons != shown.reasons ? [.announce(.suspended(suspension.text))] : []
            return line + [.setStatus(Self.status(suspension)), .waitForResume]
        case (.suspended(_, let resumeTo), .resumed):
            return [.announce(.resumed)] + resume(resumeTo, now: now)
        case (_, .suspended(let suspension)):
            guard let target = resumeTarget(of: state) else { return [] }
            state = .suspended(suspension, resumeTo: target)
            return [.announce(.suspended(suspension.text)), .setStatus(Self.status(suspension)), .waitForResume]

        default:
            return []
        }
    }

    /// Enters `target` and returns its entry actions.
    mutating func enter(_ target: State, now: Double) -> [Action] {
        switch target {
        case .starting:
            state = .starting
            return [.setStatus(StatusChange(.starting)), .loadPending]
        case .idle:
            if reachedMaxLeases { return stop(.finished) }
            return [.refreshOutcomes] + enterLeasing(showStatus: true, now: now)
        case .leasing:
            return enterLeasing(showStatus: true, now: now)
        case .waiting(let until):
            state = target
            return [.sleep(until: until)]
        case .fetching(let lease):
            state = target
            return [.setStatus(StatusChange(.downloading, lease: lease)), .fetchArtifacts(lease)]
        case .training(let lease):
            state = target
            return [.setStatus(StatusChange(.training, lease: lease)), .train(lease)]
        case .encoding(let lease):
            state = target
            return [.encode(lease)]
        case .uploading(let info):
            state = target
            return awaitProof() + [
                .setStatus(StatusChange(.uploading, round: info.round, leaseID: info.leaseID)), .upload(info),
            ]
        case .suspended(let suspension, _):
            state = target
            return [.setStatus(Self.status(suspension)), .waitForResume]
        case .backingOff(let until, let then, let reason):
            if now >= until { return enter(then, now: now) }
            state = target
            return [.setStatus(StatusChange(.backingOff, reason: reason)), .sleep(until: until)]
        case .stopped(let ending):
            return stop(ending)
        }
    }

    /// Sends a lease request; `showStatus` false keeps `waiting` shown while polling again.
    mutating func enterLeasing(showStatus: Bool, now: Double) -> [Action] {
        state = .leasing
        askedAt = now
        let shown: [Action] = showStatus ? [.setStatus(StatusChange(.leasing))] : []
        return shown + [.requestLease(samplesPerSecond: samplesPerSecond)]
    }

    /// No lease: finish (campaign over and `exitWhenFinished`), poll again at once (a long-poll the coordinator held
    /// to its end has already waited), or wait `retryAfter` (at least 0.05 s, at most `maxWait`).
    mutating func noWork(reason: String, retryAfter: Double?, now: Double) -> [Action] {
        let finished = reason == LeaseWaitReason.campaignFinished.rawValue
        if finished && settings.exitWhenFinished { return [.announce(.campaignFinished)] + stop(.finished) }
        let shown = Action.setStatus(StatusChange(.waiting, reason: reason))
        let held = settings.longPollSeconds > 0 && now - askedAt >= settings.longPollSeconds * 0.9
        if held && !finished { return [shown] + enterLeasing(showStatus: false, now: now) }
        let until = now + min(max(retryAfter ?? 2, 0.05), settings.maxWait)
        return [shown] + enter(.waiting(until: until), now: now)
    }

    /// The coordinator stored the update: count it, answer its challenge from the held trajectory, lease again.
    mutating func accepted(_ info: PendingUpdate.Info, _ receipt: Receipt, now: Double) -> [Action] {
        backoff.reset()
        finishedLeases += 1
        var actions: [Action] = [
            .commitUpload(info, receipt), .setStatus(StatusChange(.leasing)), .announce(.accepted(info, receipt)),
        ]
        if let challenge = receipt.challenge {
            if heldTrajectory == info.leaseID {
                actions.append(.sendProof(leaseID: info.leaseID, segment: challenge.segment))
                proofInFlight = info.leaseID
            } else {
                actions.append(.announce(.proofUnavailable(leaseID: info.leaseID, segment: challenge.segment)))
            }
        }
        return actions + releaseTrajectory() + enter(.idle, now: now)
    }

    /// A definitive refusal (stale model version, expired lease, corrupt update, …): drop the update, lease again.
    mutating func rejected(_ info: PendingUpdate.Info, _ failure: Failure, now: Double) -> [Action] {
        finishedLeases += 1
        let code: String
        if case .answered(_, let c, _, _) = failure { code = c } else { code = "\(failure)" }
        let actions: [Action] = [
            .discardPending(info, failure), .setStatus(StatusChange(.leasing, reason: "last update rejected: \(code)")),
            .announce(.rejected(info, failure)),
        ]
        return actions + releaseTrajectory() + enter(.idle, now: now)
    }

    /// Waits before entering `then`: the backoff schedule for retryable and local failures, 1 s for other refusals,
    /// at least the coordinator's `Retry-After`.
    mutating func backOff(_ failure: Failure, then: State, now: Double) -> [Action] {
        var delay: Double
        switch failure {
        case .answered(_, _, _, let retryAfter):
            delay = failure.retryable ? backoff.next(random: Double(rng.nextUniform())) : 1
            if let retryAfter { delay = max(delay, retryAfter) }
        case .unreachable, .local:
            delay = backoff.next(random: Double(rng.nextUniform()))
        }
        let reason = failure.description
        state = .backingOff(until: now + delay, then: then, reason: reason)
        return [
            .announce(.retrying(failure, after: delay)), .setStatus(StatusChange(.backingOff, reason: reason)),
            .sleep(until: now + delay),
        ]
    }

    /// The state to resume after a suspension that began in `state`; nil where none can begin.
    func resumeTarget(of state: State) -> State? {
        switch state {
        case .starting, .idle, .leasing, .fetching, .encoding, .uploading, .backingOff: return state
        // Nothing is held while waiting for work: ask again right after the suspension.
        case .waiting: return .leasing
        // The trainer holds a lease itself; should training end under a suspension, it resumes from progress.bin.
        case .training(let lease): return .fetching(lease)
        case .suspended, .stopped: return nil
        }
    }

    /// Leaves a suspension: a lease whose deadline passed meanwhile is given up, everything else goes on.
    mutating func resume(_ target: State, now: Double) -> [Action] {
        switch target {
        case .fetching(let lease) where now >= lease.deadline, .training(let lease) where now >= lease.deadline:
            return [.abandonLease(lease, .deadlinePassed)] + enter(.idle, now: now)
        default:
            return enter(target, now: now)
        }
    }

    /// Ends the cycle: a proof in flight goes out first.
    mutating func stop(_ ending: Ending) -> [Action] {
        state = .stopped(ending)
        return awaitProof() + [.finish(ending)]
    }

    mutating func awaitProof() -> [Action] {
        guard proofInFlight != nil else { return [] }
        proofInFlight = nil
        return [.awaitProof]
    }

    mutating func releaseTrajectory() -> [Action] {
        guard heldTrajectory != nil else { return [] }
        heldTrajectory = nil
        return [.releaseTrajectory]
    }

    static func status(_ s: Suspension) -> StatusChange {
        StatusChange(.suspended, reason: s.text, suspendReasons: s.reasons)
    }

    /// Refusals that end the daemon: a refused or revoked credential; a suspended peer (its upload is only refused).
    static func fatal(_ failure: Failure, uploading: Bool) -> String? {
        guard case .answered(_, _, let message, _) = failure else { return nil }
        switch failure.apiCode {
        case .unauthorized?, .revoked?:
            return "the coordinator refused this peer's credential (\(failure)); join again with a new invite"
        case .suspended? where !uploading:
            return "the coordinator suspended this peer (\(message)); the daemon stops"
        default:
            return nil
        }
    }

    /// Whether progress saved for `saved` at step `savedSteps` continues `lease` at `now`: nil to resume, else why
    /// it is dropped (another lease, another model or settings — a lease for a new model version never continues
    /// the old one's progress —, an expired lease, or progress already at its end).
    public static func progressDropReason(saved: Lease, savedSteps: Int, for lease: Lease, now: Double) -> String? {
        if saved.leaseID != lease.leaseID {
            return saved.deadline <= now
                ? "expired" : "reissued (the coordinator handed lease \(lease.leaseID.prefix(8)) instead)"
        }
        if saved.modelVersion != lease.modelVersion || saved.seed != lease.seed || saved.steps != lease.steps
            || saved.batch != lease.batch || saved.inner != lease.inner || saved.progress != lease.progress
            || saved.progressPerStep != lease.progressPerStep
        {
            return "the coordinator changed the lease's model or settings"
        }
        if lease.deadline <= now { return "expired" }
        if savedSteps >= lease.steps { return "the saved progress is already at its end" }
        return nil
    }
}
