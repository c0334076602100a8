import Testing
@testable import CrowdEngine

/// Finite-difference checks of every layer's backward pass. Each layer's output is projected on a
/// fixed random vector `r` (loss = Σ out·r, so ∂loss/∂out = r), and the analytic gradients are
/// compared with central differences at the tolerance stated in each test.
struct LayerGradientTests {
    @Test func linearGradients() {
        let B = 3, C = 5, OC = 4
        var rng = SeededRNG(seed: 1)
        // Perturbed tensors live in FlatBuffers (reference types) so the loss closure can read them.
        let x = FlatBuffer(GradientCheck.random(B * C, &rng)), w = FlatBuffer(GradientCheck.random(OC * C, &rng))
        let bias = FlatBuffer(GradientCheck.random(OC, &rng))
        let r = GradientCheck.random(B * OC, &rng)
        var out = [Float](repeating: 0, count: B * OC)
        func loss() -> Double {
            Linear.forward(
                out: &out, inp: x.base, weight: w.base, bias: bias.base, rows: B, inFeatures: C, outFeatures: OC)
            return zip(out, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        // Start from non-zero gradients to check that backward accumulates.
        let seedGrad: Float = 0.25
        var dx = [Float](repeating: seedGrad, count: B * C), dw = [Float](repeating: seedGrad, count: OC * C)
        var db = [Float](repeating: seedGrad, count: OC)
        Linear.backward(
            dinp: &dx, dweight: &dw, dbias: &db, dout: r, inp: x.base, weight: w.base, rows: B, inFeatures: C,
            outFeatures: OC)
        let minus: (Float) -> Float = { $0 - seedGrad }
        // Linear in every input: differences are exact up to float rounding. Tolerance 1e-3 abs + 1e-3 rel.
        #expect(
            GradientCheck.worstRatio(
                x: x.base, count: x.count,
                analytic: dx.map(minus), eps: 1e-2, atol: 1e-3, rtol: 1e-3, loss: loss) <= 1)
        #expect(
            GradientCheck.worstRatio(
                x: w.base, count: w.count,
                analytic: dw.map(minus), eps: 1e-2, atol: 1e-3, rtol: 1e-3, loss: loss) <= 1)
        #expect(
            GradientCheck.worstRatio(
                x: bias.base, count: bias.count,
                analytic: db.map(minus), eps: 1e-2, atol: 1e-3, rtol: 1e-3, loss: loss) <= 1)

        // accumulate: false overwrites and yields the same gradients.
        var dx2 = [Float](repeating: 9, count: B * C), dw2 = [Float](repeating: 9, count: OC * C)
        var db2 = [Float](repeating: 9, count: OC)
        Linear.backward(
            dinp: &dx2, dweight: &dw2, dbias: &db2, dout: r, inp: x.base, weight: w.base, rows: B, inFeatures: C,
            outFeatures: OC, accumulate: false)
        #expect(zip(dx2, dx.map(minus)).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(dw2, dw.map(minus)).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(zip(db2, db.map(minus)).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    @Test func linearForwardMatchesDefinition() {
        // out = x·Wᵀ + b for x = [[1,2]], W = [[1,0],[0,1],[1,1]], b = [0.5, -1, 0]
        var out = [Float](repeating: 0, count: 3)
        Linear.forward(
            out: &out, inp: [1, 2], weight: [1, 0, 0, 1, 1, 1], bias: [0.5, -1, 0], rows: 1, inFeatures: 2,
            outFeatures: 3)
        #expect(out == [1.5, 1, 3])
    }

    @Test func reluGradients() {
        let n = 27  // three SIMD8 chunks and a scalar tail
        var rng = SeededRNG(seed: 2)
        // Keep inputs away from the kink at 0 so differences with eps 1e-3 never cross it.
        let x = FlatBuffer((0..<n).map { _ -> Float in
            let v = rng.uniform(0.1, 1)
            return rng.nextUniform() < 0.5 ? -v : v
        })
        let r = GradientCheck.random(n, &rng)
        var out = [Float](repeating: 0, count: n)
        func loss() -> Double {
            ReLU.forward(out: &out, inp: x.base, count: n)
            return zip(out, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = loss()
        #expect(out.allSatisfy { $0 >= 0 })
        var dx = [Float](repeating: 1, count: n)
        ReLU.backward(dinp: &dx, dout: r, act: out, count: n)
        #expect(
            GradientCheck.worstRatio(
                x: x.base, count: n,
                analytic: dx.map { $0 - 1 }, eps: 1e-3, atol: 1e-3, rtol: 1e-3, loss: loss) <= 1)
    }

    @Test func softmaxCrossEntropyGradients() {
        let B = 4, V = 6
        var rng = SeededRNG(seed: 3)
        let logitsBuffer = FlatBuffer(GradientCheck.random(B * V, &rng, scale: 3))
        let targets: [Int32] = [0, 5, 2, 2]
        var probs = [Float](repeating: 0, count: B * V), losses = [Float](repeating: 0, count: B)
        func meanLoss() -> Double {
            SoftmaxCrossEntropy.forward(
                probs: &probs, losses: &losses, logits: logitsBuffer.base, targets: targets, rows: B, classes: V)
            return losses.reduce(0.0) { $0 + Double($1) } / Double(B)
        }
        _ = meanLoss()
        let logits = logitsBuffer.toArray()
        for b in 0..<B {
            let rowSum = probs[(b * V)..<((b + 1) * V)].reduce(0, +)
            #expect(abs(rowSum - 1) < 1e-5)
            let lse = log(logits[(b * V)..<((b + 1) * V)].map { exp(Double($0)) }.reduce(0, +))
            #expect(abs(Double(losses[b]) - (lse - Double(logits[b * V + Int(targets[b])]))) < 1e-5)
        }
        // Non-zero starting values check that backward accumulates.
        var d = [Float](repeating: 0.5, count: B * V)
        SoftmaxCrossEntropy.backward(
            dlogits: &d, probs: probs, targets: targets, scale: 1 / Float(B), rows: B, classes: V)
        // Smooth: central-difference error O(eps²). Tolerance 1e-4 abs + 1e-3 rel.
        #expect(
            GradientCheck.worstRatio(
                x: logitsBuffer.base, count: B * V,
                analytic: d.map { $0 - 0.5 }, eps: 1e-2, atol: 1e-4, rtol: 1e-3, loss: meanLoss) <= 1)
    }

    @Test func softmaxIsStableForLargeLogits() {
        var probs = [Float](repeating: 0, count: 3), losses: [Float] = [0]
        SoftmaxCrossEntropy.forward(
            probs: &probs, losses: &losses, logits: [1000, 0, -1000], targets: [1], rows: 1, classes: 3)
        #expect(probs.allSatisfy { $0.isFinite })
        #expect(abs(losses[0] - 1000) < 1e-3)
    }
}

#if canImport(Glibc)
import Glibc
#endif
