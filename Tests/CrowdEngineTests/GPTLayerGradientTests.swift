import Testing

@testable import CrowdEngine

/// Finite-difference checks of the GPT's layers. As in `LayerGradientTests`, each output is
/// projected on a fixed random vector `r` (loss = Σ out·r in Double, so ∂loss/∂out = r), backward
/// starts from non-zero gradient buffers to check accumulation, and central differences in float32
/// inputs are compared at the tolerance stated in each test.
struct GPTLayerGradientTests {
    static func project(_ out: UnsafePointer<Float>, _ r: [Float]) -> Double {
        var s = 0.0
        for i in r.indices { s += Double(out[i]) * Double(r[i]) }
        return s
    }

    @Test func layerNormGradients() {
        let N = 3, C = 7
        var rng = SeededRNG(seed: 11)
        let x = FlatBuffer(GradientCheck.random(N * C, &rng, scale: 2))
        let w = FlatBuffer(GradientCheck.random(C, &rng).map { 1 + $0 / 2 })
        let r = GradientCheck.random(N * C, &rng)
        let out = FlatBuffer(count: N * C), mean = FlatBuffer(count: N), rstd = FlatBuffer(count: N)
        func loss() -> Double {
            LayerNorm.forward(
                out: out.base, mean: mean.base, rstd: rstd.base, inp: x.base, weight: w.base, rows: N, width: C
            )
            return Self.project(out.base, r)
        }
        _ = loss()
        // The normalised rows have mean 0 and variance 1 before the gain.
        for row in 0..<N {
            let xh = (0..<C).map { out.base[row * C + $0] / w.base[$0] }
            let m = xh.reduce(0, +) / Float(C)
            let v = xh.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Float(C)
            #expect(abs(m) < 1e-5 && abs(v - 1) < 1e-3)
        }
        let dx = FlatBuffer([Float](repeating: 0.5, count: N * C)), dw = FlatBuffer([Float](repeating: 0.5, count: C))
        LayerNorm.backward(
            dinp: dx.base, dweight: dw.base, dout: r, inp: x.base, weight: w.base, mean: mean.base, rstd: rstd.base,
            rows: N, width: C)
        // Smooth in x and w; eps 1e-2, tolerance 2e-3 abs + 1e-2 rel.
        #expect(
            GradientCheck.worstRatio(
                x: x.base, count: x.count, analytic: dx.toArray().map { $0 - 0.5 },
                eps: 1e-2, atol: 2e-3, rtol: 1e-2, loss: loss) <= 1)
        #expect(
            GradientCheck.worstRatio(
                x: w.base, count: w.count, analytic: dw.toArray().map { $0 - 0.5 },
                eps: 1e-2, atol: 2e-3, rtol: 1e-2, loss: loss) <= 1)
    }

    @Test func geluGradientsAndValues() {
        let n = 41
        var rng = SeededRNG(seed: 12)
        let x = FlatBuffer(GradientCheck.random(n, &rng, scale: 4))
        let r = GradientCheck.random(n, &rng)
        let out = FlatBuffer(count: n)
        func loss() -> Double {
            GELU.forward(out: out.base, inp: x.base, count: n)
            return Self.project(out.base, r)
        }
        _ = loss()
        // Against the definition with libm's erf, in Double: |Δ| ≤ 1e-6·(1 + |x|).
        for i in 0..<n {
            let xv = Double(x.base[i])
            let exact = 0.5 * xv * (1 + erf(xv / 2.0.squareRoot()))
            #expect(abs(Double(out.base[i]) - exact) <= 1e-6 * (1 + abs(xv)), "gelu(\(xv))")
        }
        let dx = FlatBuffer(count: n)
        GELU.backward(dinp: dx.base, dout: r, inp: x.base, count: n)
        // Smooth; eps 1e-3, tolerance 1e-3 abs + 1e-2 rel.
        #expect(
            GradientCheck.worstRatio(
                x: x.base, count: n, analytic: dx.toArray(),
                eps: 1e-3, atol: 1e-3, rtol: 1e-2, loss: loss) <= 1)
    }

    @Test func fastMathMatchesLibm() {
        var worstExp = 0.0, worstErf = 0.0
        var v: Float = -20
        while v <= 20 {
            worstExp = max(worstExp, abs(Double(FastMath.exp(v)) - exp(Double(v))) / exp(Double(v)))
            worstErf = max(worstErf, abs(Double(FastMath.erf(v)) - erf(Double(v))))
            v += 0.0137
        }
        #expect(worstExp < 5e-7, "relative exp error \(worstExp)")
        #expect(worstErf < 5e-7, "absolute erf error \(worstErf)")
        #expect(FastMath.exp(-200) >= 0 && FastMath.exp(-200) < 1e-37 && FastMath.exp(200).isFinite)
    }

    @Test func embeddingGradients() {
        let B = 2, T = 3, C = 4, V = 5
        var rng = SeededRNG(seed: 13)
        let wte = FlatBuffer(GradientCheck.random(V * C, &rng)), wpe = FlatBuffer(GradientCheck.random(T * C, &rng))
        let tokens: [Int32] = [1, 4, 1, 0, 1, 3]  // token 1 repeats: its gradient sums three rows
        let r = GradientCheck.random(B * T * C, &rng)
        let out = FlatBuffer(count: B * T * C)
        func loss() -> Double {
            Embedding.forward(
                out: out.base, tokens: tokens, wte: wte.base, wpe: wpe.base, batch: B, time: T, width: C, vocab: V
            )
            return Self.project(out.base, r)
        }
        _ = loss()
        #expect(out.base[C + 2] == wte.base[4 * C + 2] + wpe.base[C + 2])
        let dwte = FlatBuffer([Float](repeating: 1, count: V * C))
        let dwpe = FlatBuffer([Float](repeating: 1, count: T * C))
        Embedding.backward(dwte: dwte.base, dwpe: dwpe.base, dout: r, tokens: tokens, batch: B, time: T, width: C)
        // Linear; tolerance 1e-3 abs + 1e-3 rel. Token 2 is unused: its gradient stays at the seed value.
        #expect((0..<C).allSatisfy { dwte.base[2 * C + $0] == 1 })
        #expect(
            GradientCheck.worstRatio(
                x: wte.base, count: wte.count, analytic: dwte.toArray().map { $0 - 1 },
                eps: 1e-2, atol: 1e-3, rtol: 1e-3, loss: loss) <= 1)
        #expect(
            GradientCheck.worstRatio(
                x: wpe.base, count: wpe.count, analytic: dwpe.toArray().map { $0 - 1 },
                eps: 1e-2, atol: 1e-3, rtol: 1e-3, loss: loss) <= 1)
    }

    @Test func attentionGradientsAndCausality() {
        let B = 2, T = 5, C = 6, H = 2
        var rng = SeededRNG(seed: 14)
        let qkv = FlatBuffer(GradientCheck.random(B * T * 3 * C, &rng, scale: 1.5))
        let r = GradientCheck.random(B * T * C, &rng)
        let y = FlatBuffer(count: B * T * C), att = FlatBuffer(count: B * H * T * T)
        func loss() -> Double {
            CausalSelfAttention.forward(
                y: y.base, att: att.base, qkv: qkv.base, batch: B, time: T, width: C, heads: H, pairs: 0..<(B * H)
            )
            return Self.project(y.base, r)
        }
        _ = loss()
        // Rows of the attention matrix are distributions over the past only.
        for pair in 0..<(B * H) {
            for i in 0..<T {
                let row = (0..<T).map { att.base[pair * T * T + i * T + $0] }
                #expect(abs(row.reduce(0, +) - 1) < 1e-5)
                #expect(row[(i + 1)...].allSatisfy { $0 == 0 })
            }
        }
        let dqkv = FlatBuffer(count: B * T * 3 * C), scratch = FlatBuffer(count: T * T)
        CausalSelfAttention.backward(
            dqkv: dqkv.base, scratch: scratch.base, dy: r, att: att.base, qkv: qkv.base, batch: B, time: T, width: C,
            heads: H, pairs: 0..<(B * H))
        // Smooth; eps 1e-2, tolerance 2e-3 abs + 1e-2 rel.
        #expect(
            GradientCheck.worstRatio(
                x: qkv.base, count: qkv.count, analytic: dqkv.toArray(),
                eps: 1e-2, atol: 2e-3, rtol: 1e-2, loss: loss) <= 1)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
