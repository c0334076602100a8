import Testing
@testable import CrowdEngine

/// SGD and AdamW against values computed by hand from PyTorch's update rules.
struct OptimizerTests {
    static func buffers(_ p: [Float], _ g: [Float]) -> (FlatBuffer, FlatBuffer) { (FlatBuffer(p), FlatBuffer(g)) }

    @Test func sgdMomentumMatchesPyTorch() {
        // b₁ = g = 0.5, p₁ = 1 − 0.1·0.5 = 0.95; b₂ = 0.9·0.5 + 0.5 = 0.95, p₂ = 0.95 − 0.095 = 0.855
        let (p, g) = Self.buffers([1, -2], [0.5, 1])
        let opt = SGD(count: 2, momentum: 0.9)
        opt.step(params: p, grads: g, lr: 0.1)
        #expect(abs(p.base[0] - 0.95) < 1e-6 && abs(p.base[1] - (-2.1)) < 1e-6)
        opt.step(params: p, grads: g, lr: 0.1)
        #expect(abs(p.base[0] - 0.855) < 1e-6 && abs(p.base[1] - (-2.29)) < 1e-6)
        #expect(opt.state.step == 2)
    }

    @Test func sgdVectorLoopMatchesTheScalarRule() {
        // 37 elements: SIMD8 chunks plus a tail; each element follows b = μb + g, p = p − lr·b exactly.
        var rng = SeededRNG(seed: 1)
        let p0 = (0..<37).map { _ in rng.uniform(-1, 1) }, g0 = (0..<37).map { _ in rng.uniform(-1, 1) }
        let (p, g) = Self.buffers(p0, g0)
        let opt = SGD(count: 37, momentum: 0.9)
        opt.step(params: p, grads: g, lr: 0.05)
        opt.step(params: p, grads: g, lr: 0.05)
        for i in 0..<37 {
            var b = g0[i], q = p0[i] - 0.05 * g0[i]
            b = 0.9 * b + g0[i]
            q = q - 0.05 * b
            #expect(p.base[i] == q, "element \(i)")
        }
    }

    @Test func sgdNesterovAndWeightDecay() {
        // Nesterov: g' = g + wd·p = 0.5 + 0.1 = 0.6, b = 0.6, p = 1 − 0.1·(0.6 + 0.9·0.6) = 0.886
        let (p, g) = Self.buffers([1], [0.5])
        let opt = SGD(count: 1, momentum: 0.9, nesterov: true, weightDecay: 0.1)
        opt.step(params: p, grads: g, lr: 0.1)
        #expect(abs(p.base[0] - 0.886) < 1e-6)
        // Plain SGD without momentum: p = 1 − 0.5·0.5
        let (q, h) = Self.buffers([1], [0.5])
        SGD(count: 1).step(params: q, grads: h, lr: 0.5)
        #expect(q.base[0] == 0.75)
    }

    @Test func adamWMatchesPyTorch() {
        // Layout: a 1×1 weight (decayed) and a bias (not decayed). t = 1, lr 0.1, wd 0.01:
        // weight: p·(1 − 0.001) = 0.999, m̂ = 0.5, v̂ = 0.25 → p = 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.899
        // bias:   p = 1 − 0.1 = 0.9
        let layout = ParameterLayout(kind: "t", tensors: [("w", [1, 1]), ("b", [1])])
        let (p, g) = Self.buffers([1, 1], [0.5, 0.5])
        let opt = AdamW(layout: layout, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
        opt.step(params: p, grads: g, lr: 0.1)
        #expect(abs(p.base[0] - 0.899) < 1e-6)
        #expect(abs(p.base[1] - 0.9) < 1e-6)
        // t = 2 with g = 0.5 again: m = 0.095, v = 0.00049975; m̂ = 0.5, v̂ = 0.25 → same step of 0.1
        opt.step(params: p, grads: g, lr: 0.1)
        #expect(abs(p.base[1] - 0.8) < 1e-5)
        #expect(abs(p.base[0] - (0.899 * 0.999 - 0.1)) < 1e-5)
    }

    @Test func stateRestoresExactly() throws {
        let layout = ParameterLayout(kind: "t", tensors: [("w", [2, 2])])
        let (p1, g) = Self.buffers([1, 2, 3, 4], [0.1, -0.2, 0.3, -0.4])
        let a = AdamW(layout: layout)
        a.step(params: p1, grads: g, lr: 0.01)
        let b = AdamW(layout: layout)
        try b.restore(a.state)
        let p2 = p1.clone()
        a.step(params: p1, grads: g, lr: 0.01)
        b.step(params: p2, grads: g, lr: 0.01)
        #expect(p1.toArray() == p2.toArray())
        #expect(throws: OptimizerStateError.self) { try SGD(count: 4).restore(a.state) }
        #expect(throws: OptimizerStateError.self) { try SGD(count: 3).restore(SGD(count: 4).state) }
    }

    @Test func clipGradNormScalesToTheLimit() {
        let g = FlatBuffer([3, 4])  // norm 5
        let norm = clipGradNorm(g, maxNorm: 1)
        #expect(abs(norm - 5) < 1e-6)
        #expect(abs(g.base[0] - 0.6) < 1e-5 && abs(g.base[1] - 0.8) < 1e-5)
        let h = FlatBuffer([0.3, 0.4])
        clipGradNorm(h, maxNorm: 1)
        #expect(h.toArray() == [0.3, 0.4])
    }
}
