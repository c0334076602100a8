extension GPT {
    /// Backward pass after `forward` and `crossEntropy` (mean loss over `N` tokens), accumulating
    /// into `grads`. Consumes `a.logits` (probabilities → ∂loss/∂logits in place).
    func backward(_ a: GPTActivations, tokens: UnsafePointer<Int32>, targets: UnsafePointer<Int32>) {
        let B = a.batch, T = a.time, N = B * T
        let C = config.width, H = config.heads, L = config.layers, V = config.vocab
        let p = params.base, g = grads.base
        let dres = a.dres.base, dtmp = a.dtmp.base, dqkv = a.dqkv.base, dfc = a.dfc.base
        // dlogits = (probs − onehot(target)) / N
        let dlogits = a.logits.base
        let invN = 1 / Float(N)
        for r in 0..<N {
            let d = dlogits + r * V
            for v in 0..<V { d[v] *= invN }
            d[Int(targets[r])] -= invN
        }
        // LM head: dwte[V, C] += dlogitsᵀ · lnf; dlnf[N, C] = dlogits · wte
        Gemm.gemm(
            .transposed, .none, m: V, n: C, k: N, a: dlogits, lda: V, b: a.lnf.base, ldb: C, beta: 1, c: g + wte,
            ldc: C
        )
        Gemm.gemm(.none, .none, m: N, n: C, k: V, a: dlogits, lda: V, b: p + wte, ldb: C, beta: 0, c: dtmp, ldc: C)
        dres.update(repeating: 0, count: N * C)
        LayerNorm.backward(
            dinp: dres, dweight: g + lnf, dout: dtmp, inp: a.resid.base + L * N * C, weight: p + lnf,
            mean: a.lnfMean.base, rstd: a.lnfRstd.base, rows: N, width: C)
        for l in stride(from: L - 1, through: 0, by: -1) {
            let o = blocks[l]
            let xin = a.resid.base + l * N * C, x1 = a.x1.base + l * N * C
            let ln1 = a.ln1.base + l * N * C, ln2 = a.ln2.base + l * N * C
            let qkv = a.qkv.base + l * N * 3 * C, y = a.y.base + l * N * C
            let fc = a.fc.base + l * N * 4 * C, ge = a.gelu.base + l * N * 4 * C
            // MLP: xout = x1 + gelu(ln2 · c_fcᵀ) · c_projᵀ; dres holds ∂loss/∂xout
            Gemm.gemm(
                .transposed, .none, m: C, n: 4 * C, k: N, a: dres, lda: C, b: ge, ldb: 4 * C, beta: 1, c: g + o.proj,
                ldc: 4 * C
            )
            Gemm.gemm(
                .none, .none, m: N, n: 4 * C, k: C, a: dres, lda: C, b: p + o.proj, ldb: 4 * C, beta: 0, c: dfc,
                ldc: 4 * C
            )
            a.parallel(N) { rows, _ in
                let o = rows.lowerBound * 4 * C
                GELU.backward(dinp: dfc + o, dout: dfc + o, inp: fc + o, count: rows.count * 4 * C)
            }
            Gemm.gemm(
                .transposed, .none, m: 4 * C, n: C, k: N, a: dfc, lda: 4 * C, b: ln2, ldb: C, beta: 1, c: g + o.fc,
                ldc: C
            )
            Gemm.gemm(
                .none, .none, m: N, n: C, k: 4 * C, a: dfc, lda: 4 * C, b: p + o.fc, ldb: C, beta: 0, c: dtmp, ldc: C
            )
            LayerNorm.backward(
                dinp: dres, dweight: g + o.ln2, dout: dtmp, inp: x1, weight: p + o.ln2,
                mean: a.ln2Mean.base + l * N, rstd: a.ln2Rstd.base + l * N, rows: N, width: C)
            // Attention: x1 = xin + attn(ln1 · c_attnᵀ) · attn.c_projᵀ; dres now holds ∂loss/∂x1
            Gemm.gemm(
                .transposed, .none, m: C, n: C, k: N, a: dres, lda: C, b: y, ldb: C, beta: 1, c: g + o.attnProj, ldc: C
            )
            Gemm.gemm(
                .none, .none, m: N, n: C, k: C, a: dres, lda: C, b: p + o.attnProj, ldb: C, beta: 0, c: dtmp, ldc: C
            )
            let att = a.att.base + l * B * H * T * T, scratch = a.scratch.base
            a.parallel(B * H) { pairs, worker in
                CausalSelfAttention.backward(
                    dqkv: dqkv, scratch: scratch + worker * T * T, dy: dtmp, att: att, qkv: qkv,
                    batch: B, time: T, width: C, heads: H, pairs: pairs)
            }
            Gemm.gemm(
                .transposed, .none, m: 3 * C, n: C, k: N, a: dqkv, lda: 3 * C, b: ln1, ldb: C, beta: 1, c: g + o.attn,
                ldc: C
            )
            Gemm.gemm(
                .none, .none, m: N, n: C, k: 3 * C, a: dqkv, lda: 3 * C, b: p + o.attn, ldb: C, beta: 0, c: dtmp,
                ldc: C
            )
            LayerNorm.backward(
                dinp: dres, dweight: g + o.ln1, dout: dtmp, inp: xin, weight: p + o.ln1,
                mean: a.ln1Mean.base + l * N, rstd: a.ln1Rstd.base + l * N, rows: N, width: C)
        }
        Embedding.backward(dwte: g + wte, dwpe: g + wpe, dout: dres, tokens: tokens, batch: B, time: T, width: C)
    }
}
