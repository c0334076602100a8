/// Multi-head causal self-attention core (between the QKV and output projections), per
/// (sequence, head) with small GEMMs: `att = softmax_causal(q·kᵀ/√hs)`, `y = att·v`.
///
/// Shapes: `qkv` `[B, T, 3C]` (q, k, v side by side, head h at columns `h·hs ..< (h+1)·hs` of each
/// third, as PyTorch's `split` + `view(B, T, H, hs)`), `att` `[B, H, T, T]` (saved softmax; entries
/// above the diagonal are 0), `y` `[B, T, C]` (heads re-interleaved, ready for `c_proj`).
/// `pairs` selects which of the `B·H` (sequence, head) pairs to compute, so callers may split the
/// work over threads; each pair writes disjoint memory.
public enum CausalSelfAttention {
    /// Forward pass for the pairs `pairs` (each `b·H + h`).
    public static func forward(
        y: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>, qkv: UnsafePointer<Float>,
        batch B: Int, time T: Int, width C: Int, heads H: Int, pairs: Range<Int>
    ) {
        let hs = C / H, C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        for pair in pairs {
            let b = pair / H, h = pair % H
            let q = qkv + b * T * C3 + h * hs, k = q + C, v = q + 2 * C
            let a = att + pair * T * T
            // [T, hs] · [T, hs]ᵀ → [T, T], scaled
            Gemm.gemm(
                .none, .transposed, m: T, n: T, k: hs, alpha: scale, a: q, lda: C3, b: k, ldb: C3, beta: 0, c: a,
                ldc: T
            )
            for i in 0..<T {
                let row = a + i * T
                let n = i + 1
                let mx = VectorSum.max(row, count: n)
                for j in 0..<n { row[j] = FastMath.exp(row[j] - mx) }
                let inv = 1 / VectorSum.sum(row, count: n)
                for j in 0..<n { row[j] *= inv }
                if i + 1 < T { (row + i + 1).update(repeating: 0, count: T - i - 1) }
            }
            // [T, T] · [T, hs] → [T, hs] into y's head columns
            Gemm.gemm(
                .none, .none, m: T, n: hs, k: T, a: a, lda: T, b: v, ldb: C3, beta: 0, c: y + b * T * C + h * hs,
                ldc: C
            )
        }
    }

    /// Backward pass for the pairs `pairs`: writes (overwrites) the pairs' slices of `dqkv` from
    /// `dy` `[B, T, C]`. `scratch` holds at least `T·T` values (∂loss/∂att, then ∂loss/∂scores).
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
        att: UnsafePointer<Float>, qkv: UnsafePointer<Float>,
        batch B: Int, time T: Int, width C: Int, heads H: Int, pairs: Range<Int>
    ) {
        let hs = C / H, C3 = 3 * C
        let scale = 1 / Float(hs).squareRoot()
        for pair in pairs {
            let b = pair / H, h = pair % H
            let q = qkv + b * T * C3 + h * hs, k = q + C, v = q + 2 * C
            let dq = dqkv + b * T * C3 + h * hs, dk = dq + C, dv = dq + 2 * C
            let a = att + pair * T * T
            let dyh = dy + b * T * C + h * hs
            let da = scratch
            // datt = dy · vᵀ: [T, hs] · [T, hs]ᵀ → [T, T]
            Gemm.gemm(.none, .transposed, m: T, n: T, k: hs, a: dyh, lda: C, b: v, ldb: C3, beta: 0, c: da, ldc: T)
            // dv = attᵀ · dy: [T, T]ᵀ · [T, hs] → [T, hs]
            Gemm.gemm(.transposed, .none, m: T, n: hs, k: T, a: a, lda: T, b: dyh, ldb: C, beta: 0, c: dv, ldc: C3)
            // softmax backward, row by row: ds = att ⊙ (datt − Σ_j att·datt), times the 1/√hs scale
            for i in 0..<T {
                let ar = a + i * T, dr = da + i * T
                let dot = VectorSum.dot(ar, dr, count: i + 1)
                for j in 0...i { dr[j] = ar[j] * (dr[j] - dot) * scale }
                if i + 1 < T { (dr + i + 1).update(repeating: 0, count: T - i - 1) }
            }
            // dq = ds · k: [T, T] · [T, hs]; dk = dsᵀ · q: [T, T]ᵀ · [T, hs]
            Gemm.gemm(.none, .none, m: T, n: hs, k: T, a: da, lda: T, b: k, ldb: C3, beta: 0, c: dq, ldc: C3)
            Gemm.gemm(.transposed, .none, m: T, n: hs, k: T, a: da, lda: T, b: q, ldb: C3, beta: 0, c: dk, ldc: C3)
        }
    }
}
