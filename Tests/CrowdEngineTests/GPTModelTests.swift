import CrowdData
import Foundation
import Testing

@testable import CrowdEngine

/// The whole GPT: parameter count and layout, a finite-difference check through every layer, a
/// few training steps, checkpoints.
struct GPTModelTests {
    static let tiny = GPTConfig(layers: 2, heads: 2, width: 8, block: 6, vocab: 16)

    static func batch(_ config: GPTConfig, B: Int, seed: UInt64) -> TokenBatch {
        var rng = SeededRNG(seed: seed)
        let T = config.block
        let x = (0..<(B * T)).map { _ in Int32(rng.nextInt(below: config.vocab)) }
        let y = (0..<(B * T)).map { _ in Int32(rng.nextInt(below: config.vocab)) }
        return TokenBatch(batch: B, block: T, inputs: x, targets: y)
    }

    @Test func defaultConfigurationHasTheReferenceParameterCount() {
        let config = GPTConfig()
        #expect(config.parameterCount == 828_544)
        let model = GPT(config: config, seed: 1337)
        #expect(model.layout.count == 828_544)
        #expect(model.layout.tensors.first?.name == "wte.weight" && model.layout.tensors.last?.name == "ln_f.weight")
        // Weight decay on matrices (embeddings, linear weights), not on LayerNorm gains.
        #expect(model.layout["h.3.c_fc.weight"].decay && model.layout["wte.weight"].decay)
        #expect(!model.layout["h.0.ln_1.weight"].decay && !model.layout["ln_f.weight"].decay)
        // Init: N(0, 0.02), c_proj N(0, 0.02/√8), LayerNorm 1.
        func std(_ name: String) -> Double {
            let t = model.layout[name]
            let v = t.range.map { Double(model.params.base[$0]) }
            return (v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot()
        }
        #expect(abs(std("wte.weight") - 0.02) < 0.001 && abs(std("h.1.c_fc.weight") - 0.02) < 0.001)
        #expect(abs(std("h.2.attn.c_proj.weight") - 0.02 / 8.0.squareRoot()) < 0.0005)
        #expect(abs(std("h.2.c_proj.weight") - 0.02 / 8.0.squareRoot()) < 0.0005)
        #expect(model.layout["ln_f.weight"].range.allSatisfy { model.params.base[$0] == 1 })
    }

    @Test func wholeModelGradientMatchesFiniteDifferences() {
        let model = GPT(config: Self.tiny, seed: 3)
        // Larger weights than the 0.02 init, so every path carries a visible gradient.
        var rng = SeededRNG(seed: 4)
        for t in model.layout.tensors where !t.name.contains("ln_") {
            for i in t.range { model.params.base[i] = rng.uniform(-0.5, 0.5) }
        }
        let b = Batch.tokens(Self.batch(Self.tiny, B: 2, seed: 5))
        _ = model.forwardBackward(b)
        let analytic = model.grads.toArray()
        func loss() -> Double { model.evaluate(b).meanLoss }
        // Every 7th parameter (all tensors are hit), central differences with eps 1e-2 on a float32
        // loss: tolerance 3e-4 abs + 3e-2 rel.
        var worst = 0.0
        for i in stride(from: 0, to: model.layout.count, by: 7) {
            worst = max(
                worst,
                GradientCheck.worstRatio(
                    x: model.params.base + i, count: 1, analytic: [analytic[i]], eps: 1e-2, atol: 3e-4, rtol: 3e-2,
                    loss: loss))
        }
        #expect(worst <= 1, "worst tolerance ratio \(worst)")
    }

    @Test func forwardBackwardOverwritesGradients() {
        let model = GPT(config: Self.tiny, seed: 3)
        let b = Batch.tokens(Self.batch(Self.tiny, B: 2, seed: 6))
        let l1 = model.forwardBackward(b)
        let g1 = model.grads.toArray()
        let l2 = model.forwardBackward(b)
        #expect(l1 == l2 && model.grads.toArray() == g1)
        // At init the loss is close to ln(vocab).
        #expect(abs(Double(l1) - log(16.0)) < 0.1)
    }

    @Test func aFewAdamWStepsLearnARepeatingText() {
        let config = GPTConfig(layers: 1, heads: 2, width: 16, block: 8, vocab: 8)
        let model = GPT(config: config, seed: 1)
        let text: [Int32] = (0..<64).map { Int32($0 % 5) }
        let opt = AdamW(layout: model.layout, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1)
        let b = Batch.tokens(TokenBatch(
            batch: 4, block: 8, inputs: (0..<4).flatMap { text[($0 * 3)..<($0 * 3 + 8)] },
            targets: (0..<4).flatMap { text[($0 * 3 + 1)..<($0 * 3 + 9)] }))
        let first = model.forwardBackward(b)
        for _ in 0..<40 {
            _ = model.forwardBackward(b)
            clipGradNorm(model.grads, maxNorm: 1)
            opt.step(params: model.params, grads: model.grads, lr: 1e-2)
        }
        let eval = model.evaluate(b)
        #expect(first > 1.9 && eval.meanLoss < 0.3, "loss \(first) → \(eval.meanLoss)")
        #expect(eval.accuracy > 0.9)
    }

    @Test func generationIsSeededAndStaysInTheVocabulary() {
        let model = GPT(config: Self.tiny, seed: 9)
        var r1 = SeededRNG(seed: 1), r2 = SeededRNG(seed: 1)
        let a = model.generate(prompt: [1, 2, 3], count: 10, temperature: 1, rng: &r1)
        let b = model.generate(prompt: [1, 2, 3], count: 10, temperature: 1, rng: &r2)
        #expect(a == b && a.count == 10 && a.allSatisfy { (0..<16).contains($0) })
        // Greedy decoding picks the arg-max of the logits.
        var r3 = SeededRNG(seed: 2)
        let logits = model.nextTokenLogits(context: [1, 2, 3])
        let greedy = model.generate(prompt: [1, 2, 3], count: 1, temperature: 0, rng: &r3)
        #expect(Int(greedy[0]) == logits.indices.max { logits[$0] < logits[$1] })
    }

    @Test func checkpointRoundTripAndMismatchedConfiguration() throws {
        let model = GPT(config: Self.tiny, seed: 21)
        let data = try Checkpoint(model: model, metadata: ["iters": "0"]).encoded()
        let file = try Checkpoint.decode(data)
        #expect(file.kind == "gpt")
        let rebuilt = try GPT(checkpoint: file)
        #expect(rebuilt.config == Self.tiny && rebuilt.params.toArray() == model.params.toArray())
        let other = GPT(config: Self.tiny, seed: 22)
        try other.load(file)
        #expect(other.params.toArray() == model.params.toArray())

        var wider = Self.tiny
        wider.width = 12
        wider.layers = 3
        do {
            try GPT(config: wider, seed: 1).load(file)
            Issue.record("a checkpoint of another configuration was loaded")
        } catch let e as CheckpointError {
            #expect(e.description.contains("layers 2 ≠ 3") && e.description.contains("width 8 ≠ 12"), "\(e)")
        }
        // The generic loader refuses it too (schema hash differs).
        #expect(throws: CheckpointError.self) { try file.load(into: GPT(config: wider, seed: 1)) }
        // A corrupted GPT checkpoint is refused.
        var bad = data
        bad[bad.count / 2] ^= 0x10
        #expect(throws: CheckpointError.self) { try Checkpoint.decode(bad) }
    }
}

/// The engine's own loops split over workers give bit-identical results.
struct GPTParallelTests {
    @Test func twoWorkersMatchOneBitForBit() {
        let config = GPTConfig(layers: 2, heads: 4, width: 16, block: 8, vocab: 32)
        let b = GPTModelTests.batch(config, B: 3, seed: 8)
        let one = GPT(config: config, seed: 5), two = GPT(config: config, seed: 5)
        one.acts = GPTActivations(config: config, batch: 3, time: 8, workers: 1)
        two.acts = GPTActivations(config: config, batch: 3, time: 8, workers: 2)
        let l1 = one.forwardBackward(.tokens(b)), l2 = two.forwardBackward(.tokens(b))
        #expect(l1 == l2)
        #expect(one.grads.toArray() == two.grads.toArray())
    }
}
