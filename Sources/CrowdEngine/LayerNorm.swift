/// LayerNorm over the last dimension without bias (nanoGPT `bias=False`), ε = 1e-5 as in PyTorch:
/// `out = (x − μ) · rstd · w` with `μ`, `σ²` the row mean and biased variance, `rstd = 1/√(σ² + ε)`.
///
/// Shapes: `inp`, `out`, `dout`, `dinp` are `[N, C]`; `weight`, `dweight` are `[C]`; `mean`,
/// `rstd` are `[N]` (saved by the forward pass for the backward pass).
public enum LayerNorm {
    public static let eps: Float = 1e-5

    /// Forward pass; saves `mean` and `rstd` per row.
    public static func forward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        inp: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows N: Int, width C: Int
    ) {
        let invC = 1 / Float(C)
        for r in 0..<N {
            let x = inp + r * C, o = out + r * C
            let m = VectorSum.sum(x, count: C) * invC
            let rs = 1 / (VectorSum.sumOfSquaredDeviations(x, from: m, count: C) * invC + eps).squareRoot()
            for i in 0..<C { o[i] = (x[i] - m) * rs * weight[i] }
            mean[r] = m
            rstd[r] = rs
        }
    }

    /// Backward pass, accumulating: `dweight += Σ_rows dout·x̂`,
    /// `dinp += rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))` with `dx̂ = dout · w`.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows N: Int, width C: Int
    ) {
        let invC = 1 / Float(C)
        for r in 0..<N {
            let x = inp + r * C, d = dout + r * C, dx = dinp + r * C
            let m = mean[r], rs = rstd[r]
            // Eight partial sums per reduction so the loop vectorises (float adds do not reassociate).
            let mv = SIMD8<Float>(repeating: m), rsv = SIMD8<Float>(repeating: rs)
            var sumD = SIMD8<Float>(), sumDX = SIMD8<Float>()
            var i = 0
            while i + 8 <= C {
                let xh = (VectorSum.load(x + i) - mv) * rsv
                let dv = VectorSum.load(d + i)
                let dxh = dv * VectorSum.load(weight + i)
                sumD += dxh
                sumDX += dxh * xh
                VectorSum.store(VectorSum.load(dweight + i) + dv * xh, to: dweight + i)
                i += 8
            }
            var tailD: Float = 0, tailDX: Float = 0
            while i < C {
                let xh = (x[i] - m) * rs
                let dxh = d[i] * weight[i]
                tailD += dxh
                tailDX += dxh * xh
                dweight[i] += d[i] * xh
                i += 1
            }
            let meanD = (sumD.sum() + tailD) * invC, meanDX = (sumDX.sum() + tailDX) * invC
            for i in 0..<C {
                let xh = (x[i] - m) * rs
                let dxh = d[i] * weight[i]
                dx[i] += rs * (dxh - meanD - xh * meanDX)
            }
        }
    }
}
