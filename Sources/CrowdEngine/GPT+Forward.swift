import Foundation

extension GPT {
    /// Forward pass from `tokens` `[B, T]` to `a.logits` `[N, V]`, saving every activation.
    func forward(_ a: GPTActivations, tokens: UnsafePointer<Int32>) {
        let B = a.batch, T = a.time, N = B * T
        let C = config.width, H = config.heads, L = config.layers, V = config.vocab
        let p = params.base
        Embedding.forward(
            out: a.resid.base, tokens: tokens, wte: p + wte, wpe: p + wpe, batch: B, time: T, width: C, vocab: V)
        for l in 0..<L {
            let o = blocks[l]
            let xin = a.resid.base + l * N * C, x1 = a.x1.base + l * N * C, xout = xin + N * C
            let ln1 = a.ln1.base + l * N * C, ln2 = a.ln2.base + l * N * C
            let qkv = a.qkv.base + l * N * 3 * C, y = a.y.base + l * N * C
            let fc = a.fc.base + l * N * 4 * C, g = a.gelu.base + l * N * 4 * C
            LayerNorm.forward(
                out: ln1, mean: a.ln1Mean.base + l * N, rstd: a.ln1Rstd.base + l * N, inp: xin, weight: p + o.ln1,
                rows: N, width: C)
            // qkv[N, 3C] = ln1[N, C] · c_attnᵀ[C, 3C]
            Gemm.gemm(
                .none, .transposed, m: N, n: 3 * C, k: C, a: ln1, lda: C, b: p + o.attn, ldb: C, beta: 0, c: qkv,
                ldc: 3 * C
            )
            let att = a.att.base + l * B * H * T * T
            a.parallel(B * H) { pairs, _ in
                CausalSelfAttention.forward(
                    y: y, att: att, qkv: qkv, batch: B, time: T, width: C, heads: H, pairs: pairs)
            }
            // x1[N, C] = xin + y[N, C] · attn.c_projᵀ[C, C]
            x1.update(from: xin, count: N * C)
            Gemm.gemm(
                .none, .transposed, m: N, n: C, k: C, a: y, lda: C, b: p + o.attnProj, ldb: C, beta: 1, c: x1, ldc: C
            )
            LayerNorm.forward(
                out: ln2, mean: a.ln2Mean.base + l * N, rstd: a.ln2Rstd.base + l * N, inp: x1, weight: p + o.ln2,
                rows: N, width: C)
            // fc[N, 4C] = ln2[N, C] · c_fcᵀ[C, 4C]; g = gelu(fc)
            Gemm.gemm(
                .none, .transposed, m: N, n: 4 * C, k: C, a: ln2, lda: C, b: p + o.fc, ldb: C, beta: 0, c: fc,
                ldc: 4 * C
            )
            a.parallel(N) { rows, _ in
                GELU.forward(
                    out: g + rows.lowerBound * 4 * C, inp: fc + rows.lowerBound * 4 * C, count: rows.count * 4 * C
                )
            }
            // xout[N, C] = x1 + g[N, 4C] · c_projᵀ[4C, C]
            xout.update(from: x1, count: N * C)
            Gemm.gemm(
                .none, .transposed, m: N, n: C, k: 4 * C, a: g, lda: 4 * C, b: p + o.proj, ldb: 4 * C, beta: 1,
                c: xout, ldc: C
            )
        }
        LayerNorm.forward(
            out: a.lnf.base, mean: a.lnfMean.base, rstd: a.lnfRstd.base, inp: a.resid.base + L * N * C,
            weight: p + lnf, rows: N, width: C)
        // logits[N, V] = lnf[N, C] · wteᵀ[C, V] (tied LM head)
        Gemm.gemm(
            .none, .transposed, m: N, n: V, k: C, a: a.lnf.base, lda: C, b: p + wte, ldb: C, beta: 0, c: a.logits.base,
            ldc: V
        )
    }

    /// Softmax cross-entropy of `a.logits` against `targets` `[N]`: turns the logits into
    /// probabilities in place, stores per-token losses and returns their mean. Counts top-1 hits
    /// into `correct` when given.
    func crossEntropy(
        _ a: GPTActivations, targets: UnsafePointer<Int32>, correct: UnsafeMutablePointer<Int>?
    ) -> Float {
        let N = a.batch * a.time, V = config.vocab
        var total: Double = 0
        for r in 0..<N {
            let z = a.logits.base + r * V
            let t = Int(targets[r])
            precondition(t >= 0 && t < V, "target \(t) outside the vocabulary 0..<\(V)")
            let mx = VectorSum.max(z, count: V)
            if let correct {
                var arg = 0
                while arg < V - 1 && z[arg] != mx { arg += 1 }
                if arg == t { correct.pointee += 1 }
            }
            let zt = z[t]
            for v in 0..<V { z[v] = FastMath.exp(z[v] - mx) }
            let sum = VectorSum.sum(z, count: V)
            let inv = 1 / sum
            for v in 0..<V { z[v] *= inv }
            let loss = Foundation.log(sum) - (zt - mx)
            a.losses.base[r] = loss
            total += Double(loss)
        }
        return Float(total / Double(N))
    }
}
