import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

extension CrowdSimulation {
    /// The baseline: per-step fp32 data parallelism through a parameter server over the same links. Every step each
    /// online peer computes the gradient of its own batch, uploads it in fp32 (4 bytes per parameter) and waits for
    /// the mean (4 bytes per parameter down); the step lasts as long as its slowest peer plus both transfers. A peer
    /// whose session ends before its upload is done contributes nothing to that step (the server does not wait for
    /// it: kinder to the baseline than a real all-reduce, which stalls); a joining peer first downloads the model.
    /// The math is one optimizer step on the mean of the peers' gradients — the campaign's inner optimizer and
    /// schedule, each peer with the campaign's batch.
    static func dataParallel(_ w: QualityBenchmark.Workload, _ o: Options, _ cal: Calibration, peers: Int) -> Row {
        let wall = Date()
        let c = o.campaign
        let model = w.makeModel(o.seed)
        let optimizer = w.makeOptimizer(model.layout)
        let n = model.layout.count
        let gradientBytes = 4 * n
        let goal = Double(max(1, c.goalSamples))
        var sum = [Float](repeating: 0, count: n)
        var row = Row(
            strategy: Strategy.dataParallel.rawValue, peers: peers, timeToTarget: nil, speedup: nil, seconds: 0, units: 0,
            steps: 0, utilisation: 0, value: .nan, curve: [], wallSeconds: 0)

        struct Place {
            var generation = 0
            var joinedAt = 0.0
            var session: VolunteerPopulation.Session
            var readyAt: Double
            var nextBatch: () -> Batch
        }
        func sampler(_ place: Int, _ g: Int) -> () -> Batch {
            var rng = SeededRNG(seed: o.seed).derived(UInt64(7000 + place * 977 + g))
            return w.sampler(rng.next())
        }
        var places = (0..<peers).map { p -> Place in
            let s = o.population.session(place: p, generation: 0)
            row.bytesDown += cal.checkpointBytes
            return Place(session: s, readyAt: o.links.download(cal.checkpointBytes), nextBatch: sampler(p, 0))
        }
        var t = 0.0
        var useful = 0.0
        let evalEvery = o.evalEverySteps
        while row.units < c.goalSamples && t <= o.maxVirtualSeconds {
            // Departures and joins up to now.
            for p in places.indices {
                while t >= places[p].joinedAt + places[p].session.length {
                    let rejoin = places[p].joinedAt + places[p].session.length + places[p].session.gap
                    row.departures += 1
                    row.joins += 1
                    places[p].generation += 1
                    places[p].joinedAt = rejoin
                    places[p].session = o.population.session(place: p, generation: places[p].generation)
                    places[p].readyAt = rejoin + o.links.download(cal.checkpointBytes)
                    places[p].nextBatch = sampler(p, places[p].generation)
                    row.bytesDown += cal.checkpointBytes
                }
            }
            let present = places.indices.filter { places[$0].readyAt <= t }
            guard !present.isEmpty else {
                t = places.map(\.readyAt).min()!
                continue
            }
            let compute = present.map { cal.stepSeconds / places[$0].session.speed }
            let slowest = compute.max()!
            let step = slowest + o.links.upload(gradientBytes) + o.links.download(gradientBytes)
            var contributors = 0
            var samples = 0
            for (k, p) in present.enumerated() {
                let leaves = places[p].joinedAt + places[p].session.length
                guard t + compute[k] + o.links.upload(gradientBytes) < leaves else { continue }
                let batch = places[p].nextBatch()
                _ = model.forwardBackward(batch)
                let g = model.grads.base
                for i in 0..<n { sum[i] += g[i] }
                contributors += 1
                samples += batch.samples
                useful += compute[k]
                row.bytesUp += gradientBytes
            }
            row.bytesDown += present.count * gradientBytes
            t += step
            guard contributors > 0 else { continue }
            let scale = 1 / Float(contributors)
            let g = model.grads.base
            for i in 0..<n {
                g[i] = sum[i] * scale
                sum[i] = 0
            }
            if w.gradClip > 0 { clipGradNorm(model.grads, maxNorm: w.gradClip) }
            let lr = c.inner.schedule.lr(progress: Double(row.units) / goal, peak: w.peakLR)
            optimizer.step(params: model.params, grads: model.grads, lr: lr)
            row.units += samples
            row.steps += 1
            row.updatesSent += contributors
            row.updatesAggregated += contributors
            if row.steps % evalEvery == 0 {
                let value = w.metricValue(Evaluator.evaluate(model: model, batches: w.evaluation))
                row.curve.append(Point(seconds: t, units: row.units, value: value))
                row.value = value
                if reached(value, o.target, w.metric) {
                    row.timeToTarget = t
                    break
                }
            }
        }
        row.seconds = t
        row.utilisation = utilisation(useful: useful, generation: places.map { $0.generation + 1 }, o: o, end: t)
        row.wallSeconds = Date().timeIntervalSince(wall)
        return row
    }

    /// The average peer alone, without any network: the single-process batch and learning rate on the campaign's
    /// schedule, `evalEverySteps` between evaluations, each step `singleStepSeconds / meanSpeed`.
    static func averagePeerAlone(_ w: QualityBenchmark.Workload, _ o: Options, _ cal: Calibration) -> Row {
        let wall = Date()
        let model = w.makeModel(o.seed)
        let optimizer = w.makeOptimizer(model.layout)
        let next = w.sampler(o.seed &+ 17)
        let goal = Double(max(1, o.campaign.goalSamples))
        let stepTime = cal.singleStepSeconds / o.population.meanSpeed
        var row = Row(
            strategy: "one average peer", peers: 1, timeToTarget: nil, speedup: nil, seconds: 0, units: 0, steps: 0,
            utilisation: 1, value: .nan, curve: [], wallSeconds: 0)
        while row.units < o.campaign.goalSamples && Double(row.steps) * stepTime <= o.maxVirtualSeconds {
            let from = row.units
            let run = LocalTrainer.run(
                model: model, optimizer: optimizer, steps: o.evalEverySteps,
                lr: { o.campaign.inner.schedule.lr(progress: Double(from + $0 * w.unitsPerBatch) / goal, peak: w.peakLR) },
                gradClip: w.gradClip, nextBatch: next)
            row.units += run.samples
            row.steps += o.evalEverySteps
            let value = w.metricValue(Evaluator.evaluate(model: model, batches: w.evaluation))
            let t = Double(row.steps) * stepTime
            row.curve.append(Point(seconds: t, units: row.units, value: value))
            row.value = value
            row.seconds = t
            if reached(value, o.target, w.metric) {
                row.timeToTarget = t
                break
            }
        }
        row.wallSeconds = Date().timeIntervalSince(wall)
        return row
    }
}
