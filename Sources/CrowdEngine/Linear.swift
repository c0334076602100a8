/// A fully connected layer `y = x · Wᵀ + b` as an explicit forward/backward pair (llm.c's `matmul`).
///
/// Shapes (row-major): `inp` is `[B, C]`, `weight` is `[OC, C]` (PyTorch's `nn.Linear` layout),
/// `bias` is `[OC]`, `out` is `[B, OC]`. The matrix products go through `Gemm.gemm` (OpenBLAS).
///
/// Gradients accumulate by default (`+=`), the llm.c convention, so a caller can sum several
/// backward passes into one buffer. `accumulate: false` overwrites instead; a model that runs one
/// backward pass per step uses it to skip zeroing its gradient buffer first.
public enum Linear {
    /// `out[B, OC] = inp[B, C] · weight[OC, C]ᵀ + bias[OC]`.
    /// - Parameter bias: `nil` for a layer without bias.
    public static func forward(
        out: UnsafeMutablePointer<Float>, inp: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows B: Int, inFeatures C: Int, outFeatures OC: Int
    ) {
        var beta: Float = 0
        if let bias {
            // Broadcast the bias into every row, then let the GEMM add the product onto it (beta = 1).
            for b in 0..<B { (out + b * OC).update(from: bias, count: OC) }
            beta = 1
        }
        // [B, C] · [OC, C]ᵀ → [B, OC]
        Gemm.gemm(
            .none, .transposed, m: B, n: OC, k: C, a: inp, lda: C, b: weight, ldb: C, beta: beta, c: out, ldc: OC)
    }

    /// Backward pass given `dout[B, OC] = ∂L/∂out`:
    /// `dinp[B, C] += dout · weight`, `dweight[OC, C] += doutᵀ · inp`, `dbias[OC] += Σ_b dout[b, :]`.
    /// - Parameters:
    ///   - dinp: `nil` when the input needs no gradient (the first layer of a network).
    ///   - dbias: `nil` for a layer without bias.
    ///   - accumulate: `true` adds into the gradient buffers, `false` overwrites them.
    public static func backward(
        dinp: UnsafeMutablePointer<Float>?, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
        dout: UnsafePointer<Float>, inp: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows B: Int, inFeatures C: Int, outFeatures OC: Int, accumulate: Bool = true
    ) {
        let beta: Float = accumulate ? 1 : 0
        // dweight: [B, OC]ᵀ · [B, C] → [OC, C]
        Gemm.gemm(
            .transposed, .none, m: OC, n: C, k: B, a: dout, lda: OC, b: inp, ldb: C, beta: beta, c: dweight, ldc: C)
        if let dinp {
            // dinp: [B, OC] · [OC, C] → [B, C]
            Gemm.gemm(.none, .none, m: B, n: C, k: OC, a: dout, lda: OC, b: weight, ldb: C, beta: beta, c: dinp, ldc: C)
        }
        if let dbias {
            if !accumulate { dbias.update(repeating: 0, count: OC) }
            for b in 0..<B {
                let row = dout + b * OC
                for o in 0..<OC { dbias[o] += row[o] }
            }
        }
    }
}
