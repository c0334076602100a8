/// Reductions with eight partial sums (`SIMD8`), so they vectorise: a plain `s += x[i]` loop is
/// latency-bound because float additions may not be reordered.
enum VectorSum {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD8<Float>, to p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// `max x[i]` for `i < n` (n ≥ 1; NaNs are not propagated).
    @inline(__always)
    static func max(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var i = 0
        var m = x[0]
        if n >= 8 {
            var acc = load(x)
            i = 8
            while i + 8 <= n {
                acc = pointwiseMax(acc, load(x + i))
                i += 8
            }
            m = acc.max()
        }
        while i < n {
            if x[i] > m { m = x[i] }
            i += 1
        }
        return m
    }

    /// `Σ x[i]` for `i < n`.
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var tail: Float = 0
        while i < n { tail += x[i]; i += 1 }
        return acc.sum() + tail
    }

    /// `Σ (x[i] − m)²` for `i < n`.
    @inline(__always)
    static func sumOfSquaredDeviations(_ x: UnsafePointer<Float>, from m: Float, count n: Int) -> Float {
        var acc = SIMD8<Float>()
        let mv = SIMD8<Float>(repeating: m)
        var i = 0
        while i + 8 <= n {
            let d = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self) - mv
            acc += d * d
            i += 8
        }
        var tail: Float = 0
        while i < n { tail += (x[i] - m) * (x[i] - m); i += 1 }
        return acc.sum() + tail
    }

    /// `Σ x[i]·y[i]` for `i < n`.
    @inline(__always)
    static func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        while i + 8 <= n {
            acc += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
                * UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var tail: Float = 0
        while i < n { tail += x[i] * y[i]; i += 1 }
        return acc.sum() + tail
    }
}
