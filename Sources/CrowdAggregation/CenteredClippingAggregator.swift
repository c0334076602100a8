/// Centered clipping (Karimireddy, He & Jaggi 2021) as `NaiveAggregators.centeredClip` defines it: v₀ = the
/// coordinate-wise median; `iterations` times v ← v + Σ wᵢ·clip(xᵢ − v, τ) / Σ wᵢ with clip(d, τ) = d·min(1, τ/‖d‖);
/// τ = `radius`, or the median of ‖xᵢ − v₀‖.
///
/// Uses the weights (samples/√(1 + staleness)) inside the clipped mean: a peer claiming many samples moves v
/// further, but never more than its weight share of τ per iteration.
///
/// Two reads of the updates instead of one per iteration. Every iterate stays in the span v = v₀ + Σⱼ βⱼ·eⱼ of
/// the centred updates eⱼ = xⱼ − v₀, and ‖xᵢ − v‖² = Dᵢᵢ − 2(Dβ)ᵢ + βᵀDβ with D the Gram matrix of the eⱼ. So
/// pass 1 computes the median (sorting network) and, while the tile is in L1, adds the tile's part of D;
/// the iterations then run on K × K numbers; pass 2 writes v₀ + Σ βⱼ·eⱼ. Centring at the median keeps the
/// expansion free of cancellation for the honest cluster; a distance's relative error is about 1e-6
/// (`PairwiseTile`), and clipping is continuous in the distance, so the result stays within 1e-5 of the naive
/// twin relative to the updates' spread.
public struct CenteredClippingAggregator: Aggregator {
    /// τ; nil: the median distance of the updates to the coordinate-wise median.
    public let radius: Double?
    public let iterations: Int

    public init(radius: Double? = nil, iterations: Int = 3) {
        precondition(radius.map { $0 > 0 && $0.isFinite } ?? true, "radius must be positive")
        precondition(iterations >= 0, "iterations must not be negative")
        self.radius = radius
        self.iterations = iterations
    }

    public func aggregate(
        _ vectors: [UpdateSource], weights: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        let k = vectors.count
        precondition(k >= 1 && weights.count == k, "centered clipping needs one weight per vector")
        precondition(vectors.allSatisfy { $0.count == out.count }, "vectors differ in length")
        let total = weights.reduce(0, +)
        precondition(total > 0, "weights must sum to a positive value")
        let n = out.count
        let o = out.baseAddress!
        var gram = [Double](repeating: 0, count: k * k)
        Self.medianAndGram(vectors, count: n, medianInto: o, gram: &gram)
        let beta = Self.coefficients(gram: gram, weights: weights, total: total, radius: radius, iterations: iterations)
        Self.writeCombination(vectors, beta: beta, into: out)
    }

    /// Pass 1: out = coordinate-wise median v₀; gram[i·k + j] = ⟨xᵢ − v₀, xⱼ − v₀⟩ (full symmetric matrix).
    static func medianAndGram(
        _ vectors: [UpdateSource], count n: Int, medianInto o: UnsafeMutablePointer<Float>,
        gram: inout [Double]
    ) {
        let k = vectors.count
        let kp = PairwiseTile.paddedRows(k)
        let middle = MedianAggregator.middle(k)
        let network = SortingNetwork(wires: k, keeping: middle)
        let width = CoordinateTile.width
        gram.withUnsafeMutableBufferPointer { g in
            let acc = g.baseAddress!
            // Rows 0..<k: the updates; k..<k+kp: the sorted copy, then the centred rows (zero padding kept).
            CoordinateTile.sweep(vectors, count: n, extraRows: kp, trackMagnitude: true) { tile, start, count, magnitude in
                let work = tile.row(k)
                work.update(from: tile.base, count: k * width)
                network.apply(tile, firstRow: k)
                tile.writeRowMean((k + middle.lowerBound)..<(k + middle.upperBound), divisor: Double(middle.count),
                                  to: o + start, count: count)
                withUnsafeTemporaryAllocation(of: Float.self, capacity: width) { v0 in
                    for c in 0..<width { v0[c] = c < count ? o[start + c] : 0 }
                    let v = UnsafePointer(v0.baseAddress!)
                    if magnitude <= PairwiseTile.fastLimit {
                        for r in 0..<k {
                            let x = tile.row(r), e = tile.row(k + r)
                            for c in 0..<width { e[c] = x[c] - v[c] }
                        }
                        for r in k..<kp { tile.row(k + r).update(repeating: 0, count: width) }
                        PairwiseTile.accumulate(PairwiseTile.Dot.self, tile, firstRow: k, k: k, into: acc)
                    } else {
                        PairwiseTile.accumulateExact(PairwiseTile.Dot.self, tile, k: k, count: count, center: v,
                                                     into: acc)
                    }
                }
            }
            for i in 0..<k { for j in 0..<i { acc[i * k + j] = acc[j * k + i] } }
        }
    }

    /// The iterations in the span of the centred updates: returns β with v = v₀ + Σ βⱼ·(xⱼ − v₀).
    static func coefficients(
        gram d: [Double], weights: [Double], total: Double, radius: Double?, iterations: Int
    ) -> [Double] {
        let k = weights.count
        let d0 = (0..<k).map { Swift.max(0, d[$0 * k + $0]).squareRoot() }
        let sorted = d0.sorted()
        let tau = radius ?? (k % 2 == 1 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2)
        var beta = [Double](repeating: 0, count: k)
        for _ in 0..<iterations {
            let dBeta = (0..<k).map { i in (0..<k).reduce(0.0) { $0 + d[i * k + $1] * beta[$1] } }
            let quad = zip(beta, dBeta).reduce(0.0) { $0 + $1.0 * $1.1 }
            var c = [Double](repeating: 0, count: k)
            for i in 0..<k {
                // β = 0 on the first iteration: exactly the distances τ was taken from.
                let dist = Swift.max(0, d[i * k + i] - 2 * dBeta[i] + quad).squareRoot()
                let s = dist > tau && dist > 0 ? tau / dist : 1
                c[i] = weights[i] * s / total
            }
            let sum = c.reduce(0, +)
            for i in 0..<k { beta[i] = beta[i] * (1 - sum) + c[i] }
        }
        return beta
    }

    /// Pass 2: out ← v₀ + Σ βⱼ·(xⱼ − v₀) = (1 − Σβ)·v₀ + Σ βⱼ·xⱼ, in Double, in blocks (out holds v₀ on entry).
    static func writeCombination(
        _ vectors: [UpdateSource], beta: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        let n = out.count
        let keep = 1 - beta.reduce(0, +)
        let block = 2048
        withUnsafeTemporaryAllocation(of: Double.self, capacity: block) { acc in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { tmp in
                var start = 0
                while start < n {
                    let len = Swift.min(block, n - start)
                    for c in 0..<len { acc[c] = keep * Double(out[start + c]) }
                    for (v, b) in zip(vectors, beta) {
                        let x: UnsafePointer<Float>
                        if case .fp32(let f) = v {
                            x = f.baseAddress! + start
                        } else {
                            v.load(start, len, into: tmp.baseAddress!)
                            x = UnsafePointer(tmp.baseAddress!)
                        }
                        AggregationMath.axpy(b, x, acc.baseAddress!, len)
                    }
                    for c in 0..<len { out[start + c] = Float(acc[c]) }
                    start += len
                }
            }
        }
    }
}
