/// Exact (erf) GELU, PyTorch's `F.gelu` default: `gelu(x) = x · Φ(x)`, `Φ(x) = ½(1 + erf(x/√2))`.
///
/// Shapes: every buffer holds `count` values (`[N, 4C]` in the GPT's MLP).
public enum GELU {
    static let invSqrt2: Float = 0.707_106_781_186_547_5
    static let invSqrt2Pi: Float = 0.398_942_280_401_432_7

    /// `out[i] = inp[i] · Φ(inp[i])`.
    public static func forward(out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>, count n: Int) {
        for i in 0..<n {
            let x = inp[i]
            let u = x * invSqrt2
            let e = FastMath.exp(-u * u)
            out[i] = 0.5 * x * (1 + FastMath.erf(u, expNegSquare: e))
        }
    }

    /// `dinp[i] = dout[i] · (Φ(x) + x·φ(x))` with `x = inp[i]`, `φ(x) = exp(−x²/2)/√(2π)`.
    /// Overwrites `dinp` (it may alias `dout`: the GPT computes it in place).
    public static func backward(
        dinp: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, count n: Int
    ) {
        for i in 0..<n {
            let x = inp[i]
            let u = x * invSqrt2
            let e = FastMath.exp(-u * u)  // = exp(−x²/2), shared by Φ and φ
            let cdf = 0.5 * (1 + FastMath.erf(u, expNegSquare: e))
            dinp[i] = dout[i] * (cdf + x * e * invSqrt2Pi)
        }
    }
}
