/// The pure math of aggregation over flat `Float` buffers (no I/O, no state).
public enum AggregationMath {
    /// Σ wᵢ·xᵢ / Σ wᵢ, accumulated in Double. Weights must be positive; all vectors the same length.
    public static func weightedMean(_ vectors: [[Float]], weights: [Double]) -> [Float] {
        MeanAggregator().aggregate(vectors, weights: weights)
    }

    /// Σ wᵢ·xᵢ / Σ wᵢ into `out`, accumulated in Double in blocks (no K-sized temporaries).
    public static func weightedMean(
        _ vectors: [UnsafeBufferPointer<Float>], weights: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        weightedMean(vectors.sources, weights: weights, into: out)
    }

    /// Σ wᵢ·xᵢ / Σ wᵢ of fp32 values or int8 codes into `out`: one pass over the K inputs in blocks of 4096
    /// coordinates whose Double accumulator stays in L1, so the only memory traffic is reading each input once
    /// (1 byte per value for codes) and writing `out`. Codes are dequantised per block of 4096 into L1, never as
    /// a whole vector.
    public static func weightedMean(
        _ sources: [UpdateSource], weights: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(sources.count == weights.count && !sources.isEmpty, "weightedMean needs one weight per vector")
        let n = out.count
        precondition(sources.allSatisfy { $0.count == n }, "vectors differ in length")
        let total = weights.reduce(0, +)
        precondition(total > 0, "weights must sum to a positive value")
        let blockSize = 4096
        withUnsafeTemporaryAllocation(of: Double.self, capacity: blockSize) { a in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: blockSize) { tmp in
                let acc = a.baseAddress!
                var start = 0
                while start < n {
                    let len = Swift.min(blockSize, n - start)
                    acc.update(repeating: 0, count: len)
                    for (source, w) in zip(sources, weights) {
                        let s = w / total
                        let x: UnsafePointer<Float>
                        switch source {
                        case .fp32(let v): x = v.baseAddress! + start
                        case .int8:
                            source.load(start, len, into: tmp.baseAddress!)
                            x = UnsafePointer(tmp.baseAddress!)
                        }
                        axpy(s, x, acc, len)
                    }
                    for j in 0..<len { out[start + j] = Float(acc[j]) }
                    start += len
                }
            }
        }
    }

    /// `acc[j] += s · Double(x[j])`, 8 lanes at a time.
    @inline(__always)
    static func axpy(_ s: Double, _ x: UnsafePointer<Float>, _ acc: UnsafeMutablePointer<Double>, _ n: Int) {
        let rx = UnsafeRawPointer(x)
        let ra = UnsafeMutableRawPointer(acc)
        let sv = SIMD8<Double>(repeating: s)
        var j = 0
        while j + 8 <= n {
            let xv = SIMD8<Double>(rx.loadUnaligned(fromByteOffset: j * 4, as: SIMD8<Float>.self))
            let av = ra.loadUnaligned(fromByteOffset: j * 8, as: SIMD8<Double>.self)
            ra.storeBytes(of: av + sv * xv, toByteOffset: j * 8, as: SIMD8<Double>.self)
            j += 8
        }
        while j < n {
            acc[j] += s * Double(x[j])
            j += 1
        }
    }

    /// ‖x‖₂ accumulated in Double (finite for any finite Float input: (3.4e38)² · 2⁴⁰ < 1.8e308).
    public static func l2Norm(_ x: UnsafeBufferPointer<Float>) -> Double {
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
        let n = x.count
        var i = 0
        while i + 4 <= n {
            let a = Double(x[i]), b = Double(x[i + 1]), c = Double(x[i + 2]), d = Double(x[i + 3])
            s0 += a * a
            s1 += b * b
            s2 += c * c
            s3 += d * d
            i += 4
        }
        while i < n {
            let a = Double(x[i])
            s0 += a * a
            i += 1
        }
        return (s0 + s1 + s2 + s3).squareRoot()
    }

    /// ‖x‖₂ of an array.
    public static func l2Norm(_ x: [Float]) -> Double { x.withUnsafeBufferPointer { l2Norm($0) } }

    /// ⟨a, b⟩ accumulated in Double.
    public static func dot(_ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>) -> Double {
        precondition(a.count == b.count, "dot: length mismatch")
        var s0 = 0.0, s1 = 0.0
        let n = a.count
        var i = 0
        while i + 2 <= n {
            s0 += Double(a[i]) * Double(b[i])
            s1 += Double(a[i + 1]) * Double(b[i + 1])
            i += 2
        }
        if i < n { s0 += Double(a[i]) * Double(b[i]) }
        return s0 + s1
    }

    /// cos(a, b) = ⟨a, b⟩ / (‖a‖·‖b‖); 0 when either is zero.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                let na = l2Norm(pa), nb = l2Norm(pb)
                return na > 0 && nb > 0 ? dot(pa, pb) / (na * nb) : 0
            }
        }
    }

    /// Scales `x` in place by `s`.
    public static func scale(_ x: inout [Float], by s: Float) {
        x.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= s } }
    }

    /// One outer SGD step on θ with pseudo-gradient `g` (PyTorch `torch.optim.SGD` semantics):
    /// `v ← μ·v + g`; `d = g + μ·v` (Nesterov) or `d = v`; `θ ← θ − lr·d`. With μ = 0: `θ ← θ − lr·g`.
    /// `gradientScale` multiplies `g` as it is read (into the momentum and the step), without a scaled copy.
    public static func outerStep(
        params: inout [Float], gradient g: [Float], momentum v: inout [Float], lr: Float, mu: Float, nesterov: Bool,
        gradientScale s: Float = 1
    ) {
        precondition(params.count == g.count && v.count == g.count, "outerStep: length mismatch")
        let n = g.count
        params.withUnsafeMutableBufferPointer { p in
            v.withUnsafeMutableBufferPointer { m in
                g.withUnsafeBufferPointer { gr in
                    if mu == 0 {
                        for i in 0..<n { p[i] -= lr * (s * gr[i]) }
                        return
                    }
                    for i in 0..<n {
                        let gi = s * gr[i]
                        let vi = mu * m[i] + gi
                        m[i] = vi
                        let d = nesterov ? gi + mu * vi : vi
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
