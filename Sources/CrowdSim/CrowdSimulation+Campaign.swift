import CrowdAggregation
import CrowdCodec
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

extension CrowdSimulation {
    /// A volunteer in the simulated campaign.
    private final class Volunteer {
        let id: String
        let speed: Double
        let leavesAt: Double
        let model: any TrainableModel
        var optimizer: (any Optimizer)?
        /// Round of the lease the optimizer state last trained (kept across leases as `inner.keepState` does).
        var optimizerRound: UInt64 = 0
        var feedback: ErrorFeedback
        /// Model version (round) in the peer's cache.
        var held: UInt64?
        var nextBatch: () -> Batch
        /// Samples per second over its last accepted lease, as the coordinator measures it.
        var measured: Double?
        var busy = false
        /// A lease request is held by the coordinator (long-poll) until work may be free.
        var parked = false
        /// Only the newest request chain of a volunteer counts (a wake-up replaces the pending re-ask).
        var token = 0

        init(id: String, speed: Double, leavesAt: Double, model: any TrainableModel, count: Int, nextBatch: @escaping () -> Batch) {
            self.id = id
            self.speed = speed
            self.leavesAt = leavesAt
            self.model = model
            self.feedback = ErrorFeedback(count: count)
            self.nextBatch = nextBatch
        }
    }

    /// An update on its way, or waiting in the round's buffer.
    private struct Upload {
        var place: Int
        var leaseID: String
        var round: UInt64
        var body: Data
        var samples: Int
        var issuedAt: Double
        var computeSeconds: Double
    }

    private enum Event {
        case request(place: Int, volunteer: String, token: Int)
        case upload(Upload, volunteer: String)
        case leave(place: Int)
        case join(place: Int)
        case closed(round: UInt64, params: [Float], finished: Bool, busy: Double)
    }

    /// A CrowdTrain campaign (sync or async) of `peers` places, driven by the coordinator's `RoundStateMachine`.
    static func campaign(
        _ w: QualityBenchmark.Workload, _ o: Options, _ cal: Calibration, strategy: Strategy, peers: Int,
        label: String? = nil
    ) throws -> Row {
        let wall = Date()
        let c = o.campaign
        let codec = try CodecSpec(parsing: c.codec)
        var aggregation = c.aggregation
        aggregation.mode = strategy == .async ? .async : .sync
        aggregation.bufferSize = strategy == .async ? min(peers, o.bufferSize ?? peers) : nil
        let settings = RoundStateMachine.Settings(
            peersPerRound: peers, minUpdates: c.minUpdates, roundDeadlineSeconds: c.roundDeadlineSeconds,
            leaseSeconds: c.leaseSeconds, mode: aggregation.mode, bufferSize: aggregation.bufferSize,
            maxStaleness: aggregation.maxStaleness)
        var machine = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        let deadlines = LeaseDeadlinePolicy(c)
        let global = w.makeModel(o.seed)
        let n = global.layout.count
        var versions: [UInt64: [Float]] = [1: global.params.toArray()]
        var deltaBytes: [UInt64: Int] = [:]
        let leaseSamples = c.localSteps * w.unitsPerBatch
        var strategyState = OuterOptimizerStrategy(
            config: c.outer, aggregator: c.aggregator, parameterCount: n, leaseWeight: Double(leaseSamples))
        let defence = RoundDefence(config: c.defence)
        var history = NormHistory(capacity: c.defence.historyLength)
        let goal = Double(max(1, c.goalSamples))
        let perStep = Double(settings.closingCount) * Double(w.unitsPerBatch) / goal
        let zero = [UInt8](repeating: 0, count: 32)

        var row = Row(
            strategy: label ?? strategy.rawValue, peers: peers, timeToTarget: nil, speedup: nil, seconds: 0, units: 0,
            steps: 0, utilisation: 0, value: .nan, curve: [], wallSeconds: 0)
        var volunteers: [Volunteer?] = Array(repeating: nil, count: peers)
        var generation = Array(repeating: 0, count: peers)
        var usefulSeconds = 0.0
        var buffer: [Upload] = []
        var events = EventQueue<Event>()
        var leaseCounter = 0
        var closedRounds = 0
        let planned = (c.goalSamples + settings.closingCount * leaseSamples - 1) / max(1, settings.closingCount * leaseSamples)
        let roundLimit = c.maxRounds ?? (4 * planned + 10)

        func join(_ place: Int, at t: Double) {
            let g = generation[place]
            generation[place] += 1
            let s = o.population.session(place: place, generation: g)
            let id = "p\(place)g\(g)"
            var rng = SeededRNG(seed: o.seed).derived(UInt64(7000 + place * 977 + g))
            let v = Volunteer(
                id: id, speed: s.speed, leavesAt: t + s.length, model: w.makeModel(o.seed),
                count: n, nextBatch: w.sampler(rng.next()))
            volunteers[place] = v
            if g > 0 { row.joins += 1 }
            ask(place, v, at: t)
            if s.length.isFinite { events.push(t + s.length, .leave(place: place)) }
        }
        func leave(_ place: Int, at t: Double) {
            guard volunteers[place] != nil else { return }
            row.departures += 1
            let gap = o.population.session(place: place, generation: generation[place] - 1).gap
            volunteers[place] = nil
            events.push(t + gap, .join(place: place))
        }
        /// Bytes a peer holding `held` downloads for version `round`: the delta chain if it is kept and cheaper,
        /// else the whole checkpoint (manifest requests and their round trips aside: one round trip each way).
        func downloadBytes(held: UInt64?, round: UInt64) -> Int {
            guard let h = held else { return cal.checkpointBytes }
            if h == round { return 0 }
            guard h < round, round - h <= UInt64(c.distribution.keepVersions) else { return cal.checkpointBytes }
            var sum = 0
            for v in (h + 1)...round {
                guard let d = deltaBytes[v] else { return cal.checkpointBytes }
                sum += d
            }
            return min(sum, cal.checkpointBytes)
        }
        func ask(_ place: Int, _ v: Volunteer, at t: Double) {
            v.token += 1
            events.push(t, .request(place: place, volunteer: v.id, token: v.token))
        }
        /// Wakes the held lease requests (`WorkSignal`: a round opened, leases expired, an async slot freed).
        func signal(at t: Double) {
            for (place, v) in volunteers.enumerated() {
                guard let v, v.parked, !v.busy else { continue }
                v.parked = false
                ask(place, v, at: t)
            }
        }
        func perform(_ actions: [RoundStateMachine.Action], at t: Double) throws {
            for a in actions {
                switch a {
                case .aggregate(let r): try aggregate(round: r, at: t)
                case .expireLeases: signal(at: t)
                case .extendDeadline: break
                }
            }
        }
        func aggregate(round r: UInt64, at t: Double) throws {
            let started = Date()
            let base = versions[r]!
            var candidates: [RoundDefence.Candidate] = []
            for u in buffer {
                let expectation = EnvelopeExpectation(
                    schemaHash: global.layout.schemaHash, round: u.round, baseModel: zero, elementCount: n, codec: codec)
                let delta = try UpdateEnvelope.decode(u.body, expecting: expectation).values
                let staleness = Int(clamping: r - min(r, u.round))
                candidates.append(.init(delta: delta, samples: u.samples, staleness: staleness))
            }
            let probe = w.probe
            let result = defence.run(
                params: base, candidates: candidates, strategy: &strategyState, history: history,
                probe: c.defence.probe ? { p in
                    p.withUnsafeBufferPointer { global.params.base.update(from: $0.baseAddress!, count: n) }
                    return Evaluator.evaluate(model: global, batches: probe).meanLoss
                } : nil)
            for (k, v) in result.verdicts.enumerated() {
                if v.isAggregated {
                    history.append(v.norm)
                    row.updatesAggregated += 1
                    row.units += buffer[k].samples
                    usefulSeconds += buffer[k].computeSeconds
                } else {
                    row.excluded[v.reason?.rawValue ?? "excluded", default: 0] += 1
                }
            }
            var next = result.params
            var delta: Int
            if result.stepped && c.distribution.gridStep {
                let step = GridStep.nearest(from: base, to: result.params)
                next = step.apply(to: base)
                delta = try ModelDelta.grid(step, baseVersion: zero, targetVersion: zero, targetPrefix: Data()).encoded().count
            } else {
                delta = try ModelDelta.xor(base: base, target: next, baseVersion: zero, targetVersion: zero, targetPrefix: Data())
                    .encoded().count
            }
            deltaBytes[r + 1] = delta
            buffer.removeAll()
            if result.stepped { row.steps += 1 }
            closedRounds += 1
            // The campaign's goal ends it; so does running 4× its planned rounds (a model so converged that the
            // defence finds no progress in its updates would otherwise never reach the goal).
            let finished = row.units >= c.goalSamples || closedRounds >= roundLimit
            let busy = Date().timeIntervalSince(started)
            events.push(t + busy, .closed(round: r, params: next, finished: finished, busy: busy))
        }

        for place in 0..<peers { join(place, at: 0) }
        var now = 0.0
        var done = false
        while !done, let (t, event) = events.pop() {
            guard t <= o.maxVirtualSeconds else { break }
            now = t
            try perform(machine.tick(now: t), at: t)
            switch event {
            case .request(let place, let id, let token):
                guard let v = volunteers[place], v.id == id, v.token == token, !v.busy else { continue }
                let deadline = deadlines.duration(samples: leaseSamples, measured: v.measured, hint: nil).seconds
                switch machine.requestLease(peerID: v.id, now: t, duration: deadline) {
                case .wait(let retry, _):
                    // Long-poll (`POST /v1/lease` with `waitSeconds`): held until a signal, re-asked at the hint.
                    if machine.phase == .finished { continue }
                    v.parked = true
                    v.token += 1
                    events.push(t + retry, .request(place: place, volunteer: id, token: v.token))
                case .existing:
                    v.token += 1
                    events.push(t + o.links.rttSeconds + 1, .request(place: place, volunteer: id, token: v.token))
                case .issue(let slot, let until):
                    v.parked = false
                    leaseCounter += 1
                    let leaseID = "L\(leaseCounter)"
                    machine.leaseIssued(id: leaseID, peerID: v.id, slot: slot, deadline: until)
                    let r = machine.round
                    // Fetch the lease's model: its manifest (one round trip), then the delta chain or the checkpoint.
                    let down = downloadBytes(held: v.held, round: r)
                    row.bytesDown += down
                    var ready = t + o.links.rttSeconds + o.links.rttSeconds + (down > 0 ? o.links.download(down) : 0)
                    v.held = r
                    // Train: really, from the lease's model, on the campaign's schedule.
                    let params = versions[r]!
                    params.withUnsafeBufferPointer { v.model.params.base.update(from: $0.baseAddress!, count: n) }
                    if !c.inner.keepState || v.optimizer == nil || r < v.optimizerRound
                        || r - v.optimizerRound > 4
                    {
                        v.optimizer = w.makeOptimizer(v.model.layout)
                    }
                    v.optimizerRound = r
                    let p0 = Double(r > 0 ? r - 1 : 0) * Double(c.localSteps) * perStep
                    let run = LocalTrainer.run(
                        model: v.model, optimizer: v.optimizer!, steps: c.localSteps,
                        lr: { c.inner.schedule.lr(progress: p0 + Double($0) * perStep, peak: w.peakLR) },
                        gradClip: w.gradClip, nextBatch: v.nextBatch)
                    guard run.meanLoss.isFinite else {
                        throw SimulationError("a peer diverged (non-finite loss) in round \(r); lower the learning rate")
                    }
                    let end = v.model.params.base
                    let header = EnvelopeHeader(
                        schemaHash: global.layout.schemaHash, round: r, baseModel: zero, codec: codec, elementCount: n)
                    let body = try v.feedback.encode((0..<n).map { params[$0] - end[$0] }, header: header, level: Int32(c.codecLevel))
                    let compute = (Double(c.localSteps) * cal.stepSeconds + cal.encodeSeconds) / v.speed
                    ready += compute
                    let arrives = ready + o.links.upload(body.count)
                    v.busy = true
                    if arrives >= v.leavesAt {
                        row.updatesLost += 1  // the volunteer leaves first: its lease lapses at the deadline
                    } else {
                        row.updatesSent += 1
                        row.bytesUp += body.count
                        events.push(arrives, .upload(
                            Upload(place: place, leaseID: leaseID, round: r, body: body, samples: run.samples,
                                   issuedAt: t, computeSeconds: compute), volunteer: id))
                    }
                }
            case .upload(let u, let id):
                guard let v = volunteers[u.place], v.id == id else { continue }
                v.busy = false
                if machine.phase == .aggregating {
                    // The coordinator is closing the round: the peer retries the upload shortly.
                    row.bytesUp += u.body.count
                    v.busy = true
                    events.push(t + 0.25 + o.links.upload(u.body.count), .upload(u, volunteer: id))
                    continue
                }
                if machine.accepts(leaseID: u.leaseID, round: u.round, now: t) {
                    v.measured = Double(u.samples) / max(1e-9, t - u.issuedAt)
                    buffer.append(u)
                    try perform(machine.updateAccepted(leaseID: u.leaseID), at: t)
                    if settings.isAsync { signal(at: t) }
                } else {
                    row.updatesRefused += 1
                }
                ask(u.place, v, at: t)
            case .leave(let place):
                leave(place, at: t)
            case .join(let place):
                join(place, at: t)
            case .closed(let r, let params, let finished, let busy):
                versions[r + 1] = params
                versions = versions.filter { $0.key + UInt64(aggregation.maxStaleness) + 2 > r + 1 }
                machine.roundClosed(finished: finished, now: t)
                signal(at: t)
                params.withUnsafeBufferPointer { global.params.base.update(from: $0.baseAddress!, count: n) }
                let value = w.metricValue(Evaluator.evaluate(model: global, batches: w.evaluation))
                row.curve.append(Point(seconds: t, units: row.units, value: value, aggregationSeconds: busy))
                row.value = value
                if reached(value, o.target, w.metric) {
                    row.timeToTarget = t
                    done = true
                } else if finished {
                    done = true
                } else {
                    // Peers that found the round full poll again; a new round is open now.
                    try perform(machine.tick(now: t), at: t)
                }
            }
        }
        row.seconds = now
        row.utilisation = utilisation(useful: usefulSeconds, generation: generation, o: o, end: now)
        row.wallSeconds = Date().timeIntervalSince(wall)
        return row
    }

    /// Useful compute over online time, places × [0, end] less the offline gaps of churn.
    static func utilisation(useful: Double, generation: [Int], o: Options, end: Double) -> Double {
        guard end > 0 else { return 0 }
        var online = 0.0
        for place in generation.indices {
            var t = 0.0
            for g in 0..<max(1, generation[place]) {
                guard t < end else { break }
                let s = o.population.session(place: place, generation: g)
                online += min(end, t + s.length) - t
                t += s.length + s.gap
            }
        }
        return online > 0 ? useful / online : 0
    }
}
