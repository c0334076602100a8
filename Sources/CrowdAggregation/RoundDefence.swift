/// The defended path from a round's uploaded updates to the next model, shared by the coordinator and the
/// in-process simulations (`bench attack`, `bench quality`):
///
/// 1. refuse non-finite updates and norms above the bound (`UploadScreen` did so at upload; repeated here for
///    updates restored from an older database);
/// 2. `tiny_update`: norm below `tinyFraction` × reference (zero work, or near-zero noise);
/// 3. `copied_update`: cosine ≥ `copyCosine` with an earlier update of the round, a recent credited update,
///    or the broadcast model change (sketches first, the exact cosine within the round);
/// 4. `no_progress` (`probe`): θ − Δ must lower the probe loss by `minImprovement` (relative) and by at least
///    `progressFraction` of the round's lower-median drop;
/// 5. clip every survivor to `clipMultiplier` × reference;
/// 6. aggregate with the strategy's aggregator and take the outer step;
/// 7. if the result is not finite or its probe loss exceeds `explodeFactor` × the base loss, drop the survivor
///    farthest from the coordinate-wise median and retry; with no survivor left the round keeps θ.
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

        public init(delta: [Float], weight: Double) {
            self.delta = delta
            self.weight = weight
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
    }

    /// Runs the round.
    /// - Parameters:
    ///   - params: θ, the model the updates apply to.
    ///   - strategy: the outer optimizer (and aggregator); mutated only when a step is taken.
    ///   - history: norms of recently credited updates (not modified: the caller appends the credited norms).
    ///   - recent: sketches of recent credited updates and of the broadcast model changes.
    ///   - probe: loss of the model at the given parameters on the coordinator's probe batch; nil disables the
    ///     probe gate and the loss-based fallback.
    public func run(
        params: [Float], candidates: [Candidate], strategy: inout OuterOptimizerStrategy, history: NormHistory,
        recent: [UpdateSketch] = [], probe: (([Float]) -> Double)? = nil
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
        if c.copyCosine <= 1 {
            var sketches: [Int: UpdateSketch] = [:]
            for i in verdicts.indices where verdicts[i].isAggregated {
                let s = UpdateSketch(candidates[i].delta)
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
        // 4. Probe: each update alone must lower the probe loss, by `minImprovement` (relative) and by at least
        //    `progressFraction` of the round's lower-median drop.
        var baseLoss: Double?
        if c.probe, let probe {
            let b = probe(params)
            baseLoss = b
            var drops: [Int: Double] = [:]
            for i in verdicts.indices where verdicts[i].isAggregated {
                var p = params
                let d = candidates[i].delta
                for j in p.indices { p[j] -= d[j] }
                let l = probe(p)
                verdicts[i].probeLoss = l
                drops[i] = l.isFinite ? b - l : -.infinity
            }
            let typical = NormHistory.lowerMedian(Array(drops.values)) ?? 0
            let needed = max(b * c.minImprovement, c.progressFraction * typical)
            for (i, drop) in drops where !(drop > needed) { verdicts[i].outcome = .excluded(.noProgress) }
        }
        // 5. Clip.
        let bound = reference.map { $0 * c.clipMultiplier }
        for i in verdicts.indices where verdicts[i].isAggregated {
            if let bound, bound.isFinite, verdicts[i].norm > bound { verdicts[i].clipScale = bound / verdicts[i].norm }
        }
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
            var trial = strategy
            let next = trial.step(params: params, gradient: g)
            var usable = AggregationMath.allFinite(next)
            if usable, c.explodeFactor.isFinite, let probe {
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
                    probeLoss: lastLoss ?? (c.probe ? probe?(next) : nil), gradient: g)
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
            probeLoss: baseLoss, gradient: [Float](repeating: 0, count: params.count))
    }
}

/// The coordinate-wise median used to find the farthest update in the fallback.
enum NaiveBackedMedian {
    static func median(_ vectors: [[Float]]) -> [Float] {
        AggregatorKind.median.make().aggregate(vectors, weights: [Double](repeating: 1, count: vectors.count))
    }
}
