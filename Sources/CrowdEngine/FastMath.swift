/// Vectorisable `exp` and `erf` for the GPT's softmaxes and GELU.
///
/// Written as plain loops over pointers with integer bit tricks instead of `rounded()` or
/// conversions, so LLVM vectorises them on the baseline x86-64 target (SSE2, no SSE4.1 `roundps`).
/// `exp` is Cephes' `expf` polynomial (relative error < 2e-7 on the clamped range); `erf` is
/// Abramowitz–Stegun 7.1.26 (absolute error < 1.5e-7), the same formula PyTorch's vectorised CPU
/// `erf` uses for its GELU.
public enum FastMath {
    /// `exp(x)`; inputs are clamped to [−87.3, 88] (results ≥ ~1e-38, no infinities).
    @inline(__always)
    public static func exp(_ x: Float) -> Float {
        var v = x < -87.3 ? -87.3 : x
        v = v > 88 ? 88 : v
        // n = round(v / ln 2) via the 1.5·2²³ magic constant; its low mantissa bits hold n.
        let shifted = v * 1.442_695_04 + 12_582_912.0
        let n = shifted - 12_582_912.0
        let r = v - n * 0.693_359_375 + n * 2.121_944_4e-4
        let z = r * r
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let e = p * z + r + 1
        let ni = Int32(bitPattern: shifted.bitPattern &- 0x4B40_0000)
        let scale = Float(bitPattern: UInt32(bitPattern: (ni &+ 127) &<< 23))
        return e * scale
    }

    /// `erf(x)` given `e = exp(−x²)` (callers often need that exponential themselves).
    @inline(__always)
    public static func erf(_ x: Float, expNegSquare e: Float) -> Float {
        let ax = x < 0 ? -x : x
        let t = 1 / (1 + 0.327_591_1 * ax)
        var p: Float = 1.061_405_429
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        let y = 1 - p * t * e
        return x < 0 ? -y : y
    }

    /// `erf(x)`.
    @inline(__always)
    public static func erf(_ x: Float) -> Float { erf(x, expNegSquare: exp(-x * x)) }

    /// `x[i] = exp(x[i])` for `i < n`.
    public static func expInPlace(_ x: UnsafeMutablePointer<Float>, count n: Int) {
        for i in 0..<n { x[i] = exp(x[i]) }
    }
}
