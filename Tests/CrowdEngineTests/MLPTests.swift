import Foundation
import Testing
@testable import CrowdEngine

/// The MLP as a whole: layout, initialisation, gradients, determinism and learning.
struct MLPTests {
    /// A small batch of random images for a `config`.
    static func batch(_ config: MLPConfig, rows: Int, seed: UInt64) -> Batch {
        var rng = SeededRNG(seed: seed)
        let x = (0..<(rows * config.inputs)).map { _ in rng.nextUniform() }
        let y = (0..<rows).map { _ in Int32(rng.nextInt(below: config.classes)) }
        return .images(ImageBatch(count: rows, features: config.inputs, inputs: x, labels: y))
    }

    @Test func defaultLayoutMatchesPyTorch() {
        let m = MLP(seed: 0)
        #expect(
            m.layout.tensors.map(\.name)
                == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"])
        #expect(m.layout["fc1.weight"].shape == [256, 784])
        #expect(m.layout["fc3.bias"].shape == [10])
        // 784·256 + 256 + 256·128 + 128 + 128·10 + 10 (PyTorch: sum(p.numel()))
        #expect(m.layout.count == 235_146)
        #expect(m.params.count == 235_146 && m.grads.count == 235_146)
        #expect(m.flopsPerSample == 6 * Double(784 * 256 + 256 * 128 + 128 * 10))
        #expect(MLP.kind == "mlp")
    }

    @Test func initialisationIsPyTorchUniform() {
        let m = MLP(seed: 7)
        for (name, fanIn) in [("fc1", 784), ("fc2", 256), ("fc3", 128)] {
            let bound = 1 / Float(fanIn).squareRoot()
            for part in ["weight", "bias"] {
                let values = m.layout["\(name).\(part)"].range.map { m.params.base[$0] }
                #expect(values.allSatisfy { abs($0) <= bound }, "\(name).\(part) outside ±1/√\(fanIn)")
                // Uniform on [-b, b]: the extremes are reached to within a few percent.
                #expect(values.max()! > 0.9 * bound && values.min()! < -0.9 * bound)
            }
        }
    }

    @Test func configJSONRoundTrips() throws {
        let config = MLPConfig(inputs: 20, hidden: [8, 6, 4], classes: 3)
        let m = MLP(config: config, seed: 1)
        let decoded = try JSONDecoder().decode(MLPConfig.self, from: try m.configJSON())
        #expect(decoded == config)
        #expect(m.layerCount == 4)
        #expect(MLPConfig(hidden: [0]).widths == [784, 0, 10])
        #expect(throws: MLPConfigError.self) { try MLPConfig(hidden: [0]).validate() }
    }

    @Test func wholeModelGradientMatchesFiniteDifferences() {
        let config = MLPConfig(inputs: 12, hidden: [7, 5], classes: 4)
        let m = MLP(config: config, seed: 3)
        let batch = Self.batch(config, rows: 3, seed: 4)
        _ = m.forwardBackward(batch)
        let analytic = m.grads.toArray()
        #expect(analytic.contains { $0 != 0 })
        // Float forward, loss in Double. eps 1e-3 stays clear of ReLU kinks for this seed; tolerance
        // 1e-3 abs + 1e-2 rel covers float rounding of the loss (~1e-7 / 2e-3).
        let ratio = GradientCheck.worstRatio(
            x: m.params.base, count: m.params.count, analytic: analytic, eps: 1e-3, atol: 1e-3, rtol: 1e-2
        ) { Double(m.forwardBackward(batch)) }
        #expect(ratio <= 1)
    }

    @Test func forwardBackwardOverwritesGradients() {
        let config = MLPConfig(inputs: 10, hidden: [6], classes: 3)
        let m = MLP(config: config, seed: 5)
        let batch = Self.batch(config, rows: 4, seed: 6)
        _ = m.forwardBackward(batch)
        let first = m.grads.toArray()
        m.grads.base.update(repeating: 123, count: m.grads.count)
        _ = m.forwardBackward(batch)
        #expect(m.grads.toArray() == first)
    }

    @Test func evaluateAgreesWithTrainingLoss() {
        let config = MLPConfig(inputs: 10, hidden: [6], classes: 3)
        let m = MLP(config: config, seed: 5)
        let batch = Self.batch(config, rows: 9, seed: 6)
        let loss = m.forwardBackward(batch)
        let sums = m.evaluate(batch)
        #expect(sums.count == 9)
        #expect(abs(sums.meanLoss - Double(loss)) < 1e-5)
        #expect((0...9).contains(sums.correct))
        // A larger evaluation batch grows the buffers without disturbing later steps.
        let big = m.evaluate(Self.batch(config, rows: 50, seed: 8))
        #expect(big.count == 50)
        #expect(m.forwardBackward(batch) == loss)
    }

    @Test func sameSeedGivesBitIdenticalTraining() {
        ComputeThreads.set(1)
        let config = MLPConfig(inputs: 30, hidden: [16, 8], classes: 5)
        func train(seed: UInt64) -> [Float] {
            let m = MLP(config: config, seed: seed)
            let opt = SGD(count: m.layout.count, momentum: 0.9)
            for s in 0..<5 {
                _ = m.forwardBackward(Self.batch(config, rows: 8, seed: 100 + UInt64(s)))
                opt.step(params: m.params, grads: m.grads, lr: 0.05)
            }
            return m.params.toArray()
        }
        let a = train(seed: 11), b = train(seed: 11), c = train(seed: 12)
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(a != c)
    }

    @Test func lossFallsOnALearnableProblem() {
        // Four classes, each a distinct prototype plus noise: a few dozen SGD steps must cut the loss.
        let config = MLPConfig(inputs: 16, hidden: [12], classes: 4)
        let m = MLP(config: config, seed: 9)
        let opt = SGD(count: m.layout.count, momentum: 0.9)
        var rng = SeededRNG(seed: 10)
        let prototypes = (0..<4).map { _ in (0..<16).map { _ in rng.nextUniform() } }
        func nextBatch() -> Batch {
            var x: [Float] = [], y: [Int32] = []
            for _ in 0..<16 {
                let c = rng.nextInt(below: 4)
                x += prototypes[c].map { $0 + 0.1 * rng.uniform(-1, 1) }
                y.append(Int32(c))
            }
            return .images(ImageBatch(count: 16, features: 16, inputs: x, labels: y))
        }
        let first = m.forwardBackward(nextBatch())
        opt.step(params: m.params, grads: m.grads, lr: 0.1)
        var last: Float = 0
        for _ in 0..<60 {
            last = m.forwardBackward(nextBatch())
            opt.step(params: m.params, grads: m.grads, lr: 0.1)
        }
        #expect(last < 0.5 * first, "loss \(first) → \(last)")
        #expect(m.params.allFinite())
    }
}
