/// Token plus learned position embedding: `out[b, t, :] = wte[tokens[b, t], :] + wpe[t, :]`.
///
/// Shapes: `tokens` `[B, T]` (values in `0..<V`), `wte` `[V, C]`, `wpe` `[≥T, C]`, `out` `[B, T, C]`.
public enum Embedding {
    /// Forward pass. Traps on a token outside `0..<vocab` (batches are built by the engine's samplers).
    public static func forward(
        out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, wte: UnsafePointer<Float>,
        wpe: UnsafePointer<Float>, batch B: Int, time T: Int, width C: Int, vocab V: Int
    ) {
        for b in 0..<B {
            for t in 0..<T {
                let tok = Int(tokens[b * T + t])
                precondition(tok >= 0 && tok < V, "token \(tok) outside the vocabulary 0..<\(V)")
                let o = out + (b * T + t) * C, e = wte + tok * C, p = wpe + t * C
                for i in 0..<C { o[i] = e[i] + p[i] }
            }
        }
    }

    /// Backward pass, accumulating: `dwte[tokens[b, t], :] += dout[b, t, :]`, `dwpe[t, :] += dout[b, t, :]`.
    public static func backward(
        dwte: UnsafeMutablePointer<Float>, dwpe: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        tokens: UnsafePointer<Int32>, batch B: Int, time T: Int, width C: Int
    ) {
        for b in 0..<B {
            for t in 0..<T {
                let d = dout + (b * T + t) * C
                let e = dwte + Int(tokens[b * T + t]) * C, p = dwpe + t * C
                for i in 0..<C {
                    e[i] += d[i]
                    p[i] += d[i]
                }
            }
        }
    }
}
