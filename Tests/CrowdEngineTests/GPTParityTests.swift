import Foundation
import Testing

@testable import CrowdEngine

/// Parity with PyTorch on a tiny GPT (2 layers, 2 heads, width 16, block 8, batch 2): the fixture
/// `Fixtures/gpt_tiny.json` is written by `Fixtures/make_gpt_fixture.py` from the same model code as
/// `ref_gpt_bytes.py`. Tolerance for every tensor: |swift − torch| ≤ 2e-5 + 1e-3·|torch|
/// (float32 with different summation orders; the fast exp/erf are within 2e-7).
struct GPTParityTests {
    struct Fixture: Decodable {
        var config: GPTConfig
        var batch: Int
        var inputs: [Int32]
        var targets: [Int32]
        var params: [String: [Float]]
        var logits: [Float]
        var loss: Float
        var grads: [String: [Float]]
    }

    static func loadFixture() throws -> Fixture {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        let data = try Data(contentsOf: dir.appendingPathComponent("Fixtures/gpt_tiny.json"))
        return try JSONDecoder().decode(Fixture.self, from: data)
    }

    static func worst(_ a: UnsafePointer<Float>, _ b: [Float], atol: Float = 2e-5, rtol: Float = 1e-3) -> Float {
        var w: Float = 0
        for i in b.indices { w = max(w, abs(a[i] - b[i]) / (atol + rtol * abs(b[i]))) }
        return w
    }

    @Test func logitsLossAndGradientsMatchPyTorch() throws {
        let f = try Self.loadFixture()
        let model = GPT(config: f.config, seed: 1)
        #expect(Set(f.params.keys) == Set(model.layout.tensors.map(\.name)))
        for t in model.layout.tensors {
            let values = try #require(f.params[t.name])
            try #require(values.count == t.count, "\(t.name)")
            for (i, v) in values.enumerated() { model.params.base[t.offset + i] = v }
        }
        let T = f.inputs.count / f.batch
        let batch = TokenBatch(batch: f.batch, block: T, inputs: f.inputs, targets: f.targets)
        // Logits: a forward pass alone.
        let a = model.activations(batch: f.batch, time: T)
        f.inputs.withUnsafeBufferPointer { model.forward(a, tokens: $0.baseAddress!) }
        let logitErr = Self.worst(a.logits.base, f.logits)
        #expect(logitErr <= 1, "logits: worst tolerance ratio \(logitErr)")
        // Loss and gradients.
        let loss = model.forwardBackward(.tokens(batch))
        #expect(abs(loss - f.loss) <= 1e-5 + 1e-5 * abs(f.loss), "loss \(loss) vs PyTorch \(f.loss)")
        for t in model.layout.tensors {
            let want = try #require(f.grads[t.name])
            let err = Self.worst(model.grads.base + t.offset, want)
            #expect(err <= 1, "gradient of \(t.name): worst tolerance ratio \(err)")
        }
    }
}
