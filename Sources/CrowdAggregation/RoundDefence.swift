/// The defended path from a round's uploaded updates to the next model, shared by the coordinator and the
/// in-process simulations (`bench attack`, `bench quality`):
///
/// 1. refuse non-finite updates and norms above the bound (`UploadScreen` did so at upload; repeated here for
///    updates restored from an older database);
/// 2. `tiny_update`: norm below `tinyFraction` × reference (zero work, or near-zero noise);
/// 3. `copied_update`: cosine ≥ `copyCosine` with an earlier update of the round, a recent credited update,
///    or the broadcast model change (sketches first, the exact cosine within the round);
/// 4. clip every survivor to `clipMultiplier` × the lower median norm of the round's survivors;
/// 5. `no_progress`: with three or more survivors, the cosine with the coordinate-wise median of the others must be
///    at least `minAgreement` and `agreementFraction` × the round's lower-median cosine (noise, sabotage and work
///    on the wrong data point elsewhere);
/// 6. aggregate with the strategy's aggregator and take the outer step;
/// 7. if the result is not finite or (`probe`) its probe loss exceeds `explodeFactor` × the base loss, drop the
///    survivor farthest from the coordinate-wise median and retry; with no survivor left the round keeps θ.
///
/// An absolute per-update loss test ("θ − Δ must lower the probe loss") was tried first and rejected: late in
/// training a single peer's SGD end point is often worse on held-out data than the averaged model (its noise
/// costs more than its progress gains), so it refused up to 3 of 4 honest updates per round in the 4-peer demo.
///
/// The reference norm is the history's median once it holds `DefenceConfig.minHistory` norms, else the lower
/// median of this round's finite candidates (so fewer than half hostile candidates cannot raise it).
public struct RoundDefence: Sendable {
    public var config: DefenceConfig

    public init(config: DefenceConfig) { self.config = config }

    /// One update of the round.
    public struct Candidate: Sendable {
        public var delta: [Float]
        /// Aggregation weight (samples / √(1 + staleness)).
        public var weight: Double
        /// Model versions between the update's base and θ (0 in sync mode).
        public var staleness: Int

        public init(delta: [Float], weight: Double, staleness: Int = 0) {
            self.delta = delta
            self.weight = weight
            self.staleness = max(0, staleness)
        }

        /// An update of `samples` samples, `staleness` versions old, weighing samples / √(1 + staleness).
        public init(delta: [Float], samples: Int, staleness: Int) {
            self.init(
                delta: delta, weight: WeightedUpdate(delta: [], samples: samples, staleness: staleness).weight,
                staleness: staleness)
        }
    }

    /// The round's outcome.
    public struct Result: Sendable {
        /// The new parameters; equal to the input θ when no update survived.
        public var params: [Float]
        /// True when an outer step was taken.
        public var stepped: Bool
        /// One verdict per candidate, in order.
        public var verdicts: [UpdateVerdict]
        /// The reference norm used (nil when no candidate had a finite norm).
        public var referenceNorm: Double?
        /// Probe loss of θ and of the result (nil without a probe).
        public var baseProbeLoss: Double?
        public var probeLoss: Double?
        /// The aggregated pseudo-gradient (zeros when no step was taken).
        public var gradient: [Float]
        /// The sketch of each candidate that reached the copy check (nil for the others, and for all when it is
        /// off): every aggregated candidate has one, so callers keep them without sketching again.
        public var sketches: [UpdateSketch?]
    }

    /// Runs the round.
    /// - Parameters:
    ///   - params: θ, the model the updates apply to.
    ///   - strategy: the outer optimizer (and aggregator); mutated only when a step is taken.
    ///   - history: norms of recently credited updates (not modified: the caller appends the credited norms).
    ///   - recent: sketches of recent credited updates and of the broadcast model changes.
    ///   - probe: loss of the model at the given parameters on the coordinator's probe batch; nil disables the
    ///     loss-based part of the fallback (non-finite results are still refused).
    /// - Parameter land: maps the outer step's target to the parameters that will be published (the coordinator's
    ///   grid step); the probe and the finiteness check judge what it returns, and `Result.params` is it. Its
    ///   probe loss is then exactly the next round's base loss (`knownBaseProbeLoss`): one probe per round.
    /// - Parameter knownBaseProbeLoss: `probe(params)` when the caller already has it (the previous round's
    ///   `probeLoss`: the same model on the same probe batch), saving one probe evaluation per round.
    public func run(
        params: [Float], candidates: [Candidate], strategy: inout OuterOptimizerStrategy, history: NormHistory,
        recent: [UpdateSketch] = [], probe: (([Float]) -> Double)? = nil, knownBaseProbeLoss: Double? = nil,
        land: ([Float]) -> [Float] = { $0 }
    ) -> Result {
        let c = config
        var verdicts = candidates.map { cand -> UpdateVerdict in
            let finite = AggregationMath.allFinite(cand.delta)
            return UpdateVerdict(
                outcome: finite ? .aggregated : .excluded(.nonFinite),
                norm: finite ? AggregationMath.l2Norm(cand.delta) : .nan)
        }
        let roundNorms = verdicts.filter(\.isAggregated).map(\.norm)
        // The lower median: with K = 2 (one honest, one hostile) it is still an honest norm.
        let reference = history.reference ?? NormHistory.lowerMedian(roundNorms)
        // 1. Hard bound.
        for i in verdicts.indices where verdicts[i].isAggregated {
            let n = verdicts[i].norm
            if let m = c.maxNorm, n > m { verdicts[i].outcome = .excluded(.normTooLarge) }
            if let r = history.reference, n > c.rejectMultiplier * r { verdicts[i].outcome = .excluded(.normTooLarge) }
        }
        // 2. Tiny.
        if let r = reference {
            for i in verdicts.indices where verdicts[i].isAggregated && verdicts[i].norm <= c.tinyFraction * r {
                verdicts[i].outcome = .excluded(.tinyUpdate)
            }
        }
        for i in verdicts.indices where verdicts[i].isAggregated && verdicts[i].norm == 0 {
            verdicts[i].outcome = .excluded(.tinyUpdate)
        }
        // 3. Copies: of recent updates / the broadcast (sketch), of earlier updates of this round (exact cosine).
        var sketched = [UpdateSketch?](repeating: nil, count: candidates.count)
        if c.copyCosine <= 1 {
            var sketches: [Int: UpdateSketch] = [:]
            for i in verdicts.indices where verdicts[i].isAggregated {
                let s = UpdateSketch(candidates[i].delta)
                sketched[i] = s
                if recent.contains(where: { abs($0.cosine(s)) >= c.copyCosine }) {
                    verdicts[i].outcome = .excluded(.copiedUpdate)
                    continue
                }
                for j in sketches.keys.sorted() where abs(sketches[j]!.cosine(s)) >= 0.9 {
                    if abs(AggregationMath.cosine(candidates[i].delta, candidates[j].delta)) >= c.copyCosine {
                        verdicts[i].outcome = .excluded(.copiedUpdate)
                        break
                    }
                }
                if verdicts[i].isAggregated { sketches[i] = s }
            }
        }
        // 4. Clip to `clipMultiplier` × the lower median of this round's survivors (three or more; with fewer, the
        //    smaller of that and the reference). The history is not used when the round has enough updates:
        //    hostile updates aggregated earlier raise its median (label-flipping peers send norms 7× the honest ones
        //    every other round, `bench attack`), while fewer than half hostile updates of a round cannot raise the
        //    round's lower median above an honest norm. With the default multiplier 1 every survivor enters the
        //    aggregate with at most a typical honest norm, so a few large updates cannot outweigh many small ones.
        let survivorNorms = verdicts.filter(\.isAggregated).map(\.norm)
        let roundMedian = NormHistory.lowerMedian(survivorNorms)
        let clipReference =
            survivorNorms.count >= 3 ? roundMedian : [reference, roundMedian].compactMap { $0 }.min()
        let bound = clipReference.map { $0 * c.clipMultiplier }
        for i in verdicts.indices where verdicts[i].isAggregated {
            if let bound, bound.isFinite, verdicts[i].norm > bound { verdicts[i].clipScale = bound / verdicts[i].norm }
        }
        // 5. Agreement: with three or more survivors, each must point where the others point — its cosine with the
        //    coordinate-wise median of the *other* (clipped) survivors at least `minAgreement`. Fewer than half
        //    hostile updates cannot move that median far; noise is orthogonal to it (cosine ≈ 0 ± 1/√n). Leaving the
        //    update itself out matters for small rounds: a median of 3 or 4 is one of its inputs on many coordinates.
        let agreeing = verdicts.indices.filter { verdicts[$0].isAggregated }
        if agreeing.count >= 3, c.minAgreement > -1 {
            let clipped = agreeing.map { i -> [Float] in
                let s = verdicts[i].clipScale
                return s == 1 ? candidates[i].delta : candidates[i].delta.map { Float(Double($0) * s) }
            }
            let cosines = Self.leaveOneOutMedianCosines(clipped)
            // Also relative to the round: honest updates of one round agree with each other about equally.
            let typical = NormHistory.lowerMedian(cosines) ?? 0
            let needed = max(c.minAgreement, c.agreementFraction * typical)
            for (k, i) in agreeing.enumerated() {
                verdicts[i].agreement = cosines[k]
                if !(cosines[k] >= needed) { verdicts[i].outcome = .excluded(.noProgress) }
            }
        }
        var baseLoss: Double? = knownBaseProbeLoss
        // 6–7. Aggregate, check, fall back.
        var survivors = verdicts.indices.filter { verdicts[$0].isAggregated }
        var lastLoss: Double?
        while !survivors.isEmpty {
            let vectors = survivors.map { i -> [Float] in
                let s = verdicts[i].clipScale
                return s == 1 ? candidates[i].delta : candidates[i].delta.map { Float(Double($0) * s) }
            }
            let weights = survivors.map { candidates[$0].weight }
            let g = strategy.aggregator.make().aggregate(vectors, weights: weights)
            let (total, delay) = OuterOptimizerStrategy.evidence(
                weights: weights, staleness: survivors.map { candidates[$0].staleness })
            var trial = strategy
            let next = land(trial.step(params: params, gradient: g, weight: total, staleness: delay))
            var usable = AggregationMath.allFinite(next)
            if usable, c.probe, c.explodeFactor.isFinite, let probe {
                let b = baseLoss ?? probe(params)
                baseLoss = b
                let l = probe(next)
                lastLoss = l
                usable = l.isFinite && l <= c.explodeFactor * b
            }
            if c.undefended { usable = true }  // the control takes whatever the aggregate is
            if usable {
                strategy = trial
                return Result(
                    params: next, stepped: true, verdicts: verdicts, referenceNorm: reference, baseProbeLoss: baseLoss,
                    probeLoss: lastLoss ?? (c.probe ? probe?(next) : nil), gradient: g, sketches: sketched)
            }
            // Drop the survivor farthest from the coordinate-wise median and try again.
            let centre = NaiveBackedMedian.median(vectors)
            var worst = 0
            var worstDistance = -1.0
            for (k, v) in vectors.enumerated() {
                var d = 0.0
                for j in v.indices {
                    let e = Double(v[j]) - Double(centre[j])
                    d += e * e
                }
                if !d.isFinite { d = .infinity }
                if d > worstDistance {
                    worstDistance = d
                    worst = k
                }
            }
            verdicts[survivors[worst]].outcome = .excluded(.unusableAggregate)
            survivors.remove(at: worst)
        }
        return Result(
            params: params, stepped: false, verdicts: verdicts, referenceNorm: reference, baseProbeLoss: baseLoss,
            probeLoss: baseLoss, gradient: [Float](repeating: 0, count: params.count), sketches: sketched)
    }
}

extension RoundDefence {
    /// For each of K ≥ 2 vectors, cos(xᵢ, median of the other K − 1), on `CoordinateTile`s: for each i the other
    /// K − 1 rows of a tile are copied to scratch rows, a sorting network pruned to the middle (`MedianAggregator`'s)
    /// runs on 16 lanes at once, and the median (even K − 1: the mean of the two middle values, in Double) enters
    /// the dot products. The sums are Double, accumulated per tile.
    static func leaveOneOutMedianCosines(_ x: [[Float]]) -> [Double] {
        let k = x.count
        precondition(k >= 2, "leave-one-out needs two vectors")
        let n = x[0].count
        precondition(x.allSatisfy { $0.count == n }, "vectors differ in length")
        let m = k - 1
        let middle = MedianAggregator.middle(m)
        let network = SortingNetwork(wires: m, keeping: middle)
        var dot = [Double](repeating: 0, count: k)
        var selfNorm = [Double](repeating: 0, count: k)
        var medNorm = [Double](repeating: 0, count: k)
        withBufferPointers(x) { vectors in
            CoordinateTile.sweep(vectors.sources, count: n, extraRows: m) { tile, _, count, _ in
                let width = CoordinateTile.width
                for i in 0..<k {
                    var r = k
                    for j in 0..<k where j != i {
                        tile.row(r).update(from: tile.row(j), count: width)
                        r += 1
                    }
                    network.apply(tile, firstRow: k)
                    let v = tile.row(i)
                    let lo = tile.row(k + middle.lowerBound)
                    let hi = tile.row(k + middle.upperBound - 1)
                    var d = 0.0, s = 0.0, q = 0.0
                    for c in 0..<count {
                        let med = middle.count == 1 ? Double(lo[c]) : (Double(lo[c]) + Double(hi[c])) / 2
                        let e = Double(v[c])
                        d += e * med
                        s += e * e
                        q += med * med
                    }
                    dot[i] += d
                    selfNorm[i] += s
                    medNorm[i] += q
                }
            }
        }
        return (0..<k).map { i in
            selfNorm[i] > 0 && medNorm[i] > 0 ? dot[i] / (selfNorm[i].squareRoot() * medNorm[i].squareRoot()) : 0
        }
    }
}

/// The coordinate-wise median used to find the farthest update in the fallback.
enum NaiveBackedMedian {
    static func median(_ vectors: [[Float]]) -> [Float] {
        AggregatorKind.median.make().aggregate(vectors, weights: [Double](repeating: 1, count: vectors.count))
    }
}
