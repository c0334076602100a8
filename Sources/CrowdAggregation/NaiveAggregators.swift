/// The naive twins of the aggregators: obvious code over `[[Float]]`, accumulated in `Double`, used by the
/// parity tests. They define what each aggregator computes; the fast versions must match them.
public enum NaiveAggregators {
    /// Values trimmed from each end of K: ⌊β·K⌋, but always leaving at least one value.
    public static func trimCount(_ k: Int, trim: Double) -> Int {
        min(Int((trim * Double(k)).rounded(.down)), (k - 1) / 2)
    }

    /// Σ wᵢ·xᵢ / Σ wᵢ.
    public static func mean(_ x: [[Float]], weights: [Double]) -> [Float] {
        let n = x[0].count
        let total = weights.reduce(0, +)
        return (0..<n).map { j in Float(zip(x, weights).reduce(0.0) { $0 + Double($1.0[j]) * $1.1 } / total) }
    }

    /// Per coordinate: sort the K values, drop `trimCount` at each end, average the rest (unweighted).
    public static func trimmedMean(_ x: [[Float]], trim: Double) -> [Float] {
        let k = x.count
        let t = trimCount(k, trim: trim)
        return (0..<x[0].count).map { j in
            let s = x.map { Double($0[j]) }.sorted()
            return Float(s[t..<(k - t)].reduce(0, +) / Double(k - 2 * t))
        }
    }

    /// Per coordinate: the middle value (the mean of the two middle values when K is even).
    public static func median(_ x: [[Float]]) -> [Float] {
        let k = x.count
        return (0..<x[0].count).map { j in
            let s = x.map { Double($0[j]) }.sorted()
            return Float(k % 2 == 1 ? s[k / 2] : (s[k / 2 - 1] + s[k / 2]) / 2)
        }
    }

    static func distance(_ a: [Double], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { $0 + ($1.0 - Double($1.1)) * ($1.0 - Double($1.1)) }.squareRoot()
    }

    /// Centered clipping: v₀ = median; `iterations` times v ← v + Σ wᵢ·clip(xᵢ − v, τ) / Σ wᵢ, where
    /// clip(d, τ) = d·min(1, τ/‖d‖). τ = `radius`, or the median of ‖xᵢ − v₀‖ when nil.
    public static func centeredClip(_ x: [[Float]], weights: [Double], radius: Double?, iterations: Int = 3) -> [Float] {
        var v = median(x).map(Double.init)
        let dist0 = x.map { distance(v, $0) }.sorted()
        let tau = radius ?? (dist0.count % 2 == 1 ? dist0[dist0.count / 2] : (dist0[dist0.count / 2 - 1] + dist0[dist0.count / 2]) / 2)
        let total = weights.reduce(0, +)
        for _ in 0..<iterations {
            var step = [Double](repeating: 0, count: v.count)
            for (xi, w) in zip(x, weights) {
                let d = distance(v, xi)
                let s = d > tau && d > 0 ? tau / d : 1
                for j in 0..<v.count { step[j] += w * s * (Double(xi[j]) - v[j]) }
            }
            for j in 0..<v.count { v[j] += step[j] / total }
        }
        return v.map { Float($0) }
    }

    /// Nearest-neighbour mixing (Allouah et al. 2023): each xᵢ is replaced by the mean of its K − f nearest
    /// updates by L2 distance (itself included; ties by index), f = `trimCount`; then the trimmed mean.
    public static func nnmTrimmedMean(_ x: [[Float]], trim: Double) -> [Float] {
        let k = x.count
        let f = trimCount(k, trim: trim)
        let mixed: [[Float]] = (0..<k).map { i in
            let xi = x[i].map(Double.init)
            let d: [(index: Int, distance: Double)] = (0..<k).map { ($0, distance(xi, x[$0])) }
            let order = d.sorted { a, b in a.distance < b.distance || (a.distance == b.distance && a.index < b.index) }
            let near: [Int] = order.prefix(k - f).map(\.index)
            var row = [Float](repeating: 0, count: x[0].count)
            for j in row.indices {
                var s = 0.0
                for i in near { s += Double(x[i][j]) }
                row[j] = Float(s / Double(near.count))
            }
            return row
        }
        return trimmedMean(mixed, trim: trim)
    }
}
