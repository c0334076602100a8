/// The pure math of aggregation over flat `Float` buffers (no I/O, no state).
public enum AggregationMath {
    /// Σ wᵢ·xᵢ / Σ wᵢ, accumulated in Double. Weights must be positive; all vectors the same length.
    public static func weightedMean(_ vectors: [[Float]], weights: [Double]) -> [Float] {
        precondition(vectors.count == weights.count && !vectors.isEmpty, "weightedMean needs one weight per vector")
        let n = vectors[0].count
        let total = weights.reduce(0, +)
        precondition(total > 0, "weights must sum to a positive value")
        var acc = [Double](repeating: 0, count: n)
        for (v, w) in zip(vectors, weights) {
            precondition(v.count == n, "vectors differ in length")
            let s = w / total
            acc.withUnsafeMutableBufferPointer { a in
                v.withUnsafeBufferPointer { x in
                    for i in 0..<n { a[i] += s * Double(x[i]) }
                }
            }
        }
        return acc.map { Float($0) }
    }

    /// One outer SGD step on θ with pseudo-gradient `g` (PyTorch `torch.optim.SGD` semantics):
    /// `v ← μ·v + g`; `d = g + μ·v` (Nesterov) or `d = v`; `θ ← θ − lr·d`. With μ = 0: `θ ← θ − lr·g`.
    public static func outerStep(
        params: inout [Float], gradient g: [Float], momentum v: inout [Float], lr: Float, mu: Float, nesterov: Bool
    ) {
        precondition(params.count == g.count && v.count == g.count, "outerStep: length mismatch")
        let n = g.count
        params.withUnsafeMutableBufferPointer { p in
            v.withUnsafeMutableBufferPointer { m in
                g.withUnsafeBufferPointer { gr in
                    if mu == 0 {
                        for i in 0..<n { p[i] -= lr * gr[i] }
                        return
                    }
                    for i in 0..<n {
                        let vi = mu * m[i] + gr[i]
                        m[i] = vi
                        let d = nesterov ? gr[i] + mu * vi : vi
                        p[i] -= lr * d
                    }
                }
            }
        }
    }

    /// True if every value is finite (no NaN, no ±∞).
    public static func allFinite(_ v: [Float]) -> Bool {
        v.withUnsafeBufferPointer { b in
            var ok = true
            for x in b where !x.isFinite {
                ok = false
                break
            }
            return ok
        }
    }
}
