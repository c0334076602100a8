import Foundation

/// A multilayer perceptron classifier: `Linear → ReLU → … → Linear → softmax cross-entropy`.
///
/// Parameters are packed in PyTorch's `state_dict` order (`fc1.weight [h1, in]`, `fc1.bias [h1]`,
/// `fc2.weight`, …), initialised like `nn.Linear` (uniform ±1/√fan_in for weights and biases) from a
/// `SeededRNG`. Activations live in buffers allocated once per batch size, so a training step
/// allocates nothing.
public final class MLP: TrainableModel {
    public static let kind = "mlp"

    public let config: MLPConfig
    public let layout: ParameterLayout
    public let params: FlatBuffer
    public let grads: FlatBuffer

    /// Widths `[inputs] + hidden + [classes]`.
    private let widths: [Int]
    /// Offsets of each layer's weight and bias inside `params`/`grads`.
    private let weightOffsets: [Int], biasOffsets: [Int]
    /// Rows the activation buffers hold.
    private var capacity = 0
    /// `acts[l]`: output of layer l, `[B, widths[l+1]]`; ReLU applied in place for hidden layers,
    /// logits for the last one.
    private var acts: [FlatBuffer] = []
    /// `dacts[l]`: ∂loss/∂acts[l], same shapes (masked in place by the ReLU backward).
    private var dacts: [FlatBuffer] = []
    /// Softmax probabilities `[B, classes]` and per-sample losses `[B]`.
    private var probs = FlatBuffer(count: 0), losses = FlatBuffer(count: 0)

    /// Builds the network and initialises its parameters from `seed`.
    public init(config: MLPConfig = MLPConfig(), seed: UInt64) {
        precondition((try? config.validate()) != nil, "invalid MLPConfig \(config)")
        self.config = config
        let w = config.widths
        self.widths = w
        var spec: [(String, [Int])] = []
        for l in 0..<(w.count - 1) {
            spec.append(("fc\(l + 1).weight", [w[l + 1], w[l]]))
            spec.append(("fc\(l + 1).bias", [w[l + 1]]))
        }
        let layout = ParameterLayout(kind: Self.kind, tensors: spec)
        self.layout = layout
        self.weightOffsets = (0..<(w.count - 1)).map { layout["fc\($0 + 1).weight"].offset }
        self.biasOffsets = (0..<(w.count - 1)).map { layout["fc\($0 + 1).bias"].offset }
        self.params = FlatBuffer(count: layout.count)
        self.grads = FlatBuffer(count: layout.count)
        var rng = SeededRNG(seed: seed)
        let p = params.base
        for l in 0..<(w.count - 1) {
            let bound = 1 / Float(w[l]).squareRoot()
            for i in layout["fc\(l + 1).weight"].range { p[i] = rng.uniform(-bound, bound) }
            for i in layout["fc\(l + 1).bias"].range { p[i] = rng.uniform(-bound, bound) }
        }
    }

    /// Number of linear layers.
    public var layerCount: Int { widths.count - 1 }

    /// 6 × multiply-accumulates per sample: 2·MACs forward, 4·MACs backward (the first layer's
    /// input gradient is skipped in practice, but credit counts the standard figure).
    public var flopsPerSample: Double {
        var macs = 0
        for l in 0..<layerCount { macs += widths[l] * widths[l + 1] }
        return 6 * Double(macs)
    }

    public func configJSON() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try enc.encode(config)
    }

    private func ensureCapacity(_ rows: Int) {
        if rows <= capacity { return }
        acts = widths.dropFirst().map { FlatBuffer(count: rows * $0) }
        dacts = widths.dropFirst().map { FlatBuffer(count: rows * $0) }
        probs = FlatBuffer(count: rows * config.classes)
        losses = FlatBuffer(count: rows)
        capacity = rows
    }

    private func imageBatch(_ batch: Batch) -> ImageBatch {
        guard case .images(let b) = batch else { preconditionFailure("MLP trains on image batches, got tokens") }
        precondition(b.features == config.inputs, "batch has \(b.features) features, the MLP expects \(config.inputs)")
        return b
    }

    /// Forward through every layer into `acts`; returns the logits pointer.
    private func forward(_ x: UnsafePointer<Float>, rows B: Int) -> UnsafeMutablePointer<Float> {
        let p = params.base
        var inp = x
        for l in 0..<layerCount {
            let out = acts[l].base
            Linear.forward(
                out: out, inp: inp, weight: p + weightOffsets[l], bias: p + biasOffsets[l],
                rows: B, inFeatures: widths[l], outFeatures: widths[l + 1])
            if l < layerCount - 1 { ReLU.forward(out: out, inp: out, count: B * widths[l + 1]) }
            inp = UnsafePointer(out)
        }
        return acts[layerCount - 1].base
    }

    public func forwardBackward(_ batch: Batch) -> Float {
        let b = imageBatch(batch)
        let B = b.count, V = config.classes
        ensureCapacity(B)
        return b.inputs.withUnsafeBufferPointer { xs in
            b.labels.withUnsafeBufferPointer { ys in
                let x = xs.baseAddress!, y = ys.baseAddress!
                let logits = forward(x, rows: B)
                SoftmaxCrossEntropy.forward(
                    probs: probs.base, losses: losses.base, logits: logits, targets: y, rows: B, classes: V)
                var lossSum: Float = 0
                for i in 0..<B { lossSum += losses.base[i] }

                // Backward. One pass per step, so every gradient is written (accumulate: false)
                // instead of zeroing `grads` and the activation gradients first.
                let p = params.base, g = grads.base
                SoftmaxCrossEntropy.backward(
                    dlogits: dacts[layerCount - 1].base, probs: probs.base, targets: y,
                    scale: 1 / Float(B), rows: B, classes: V, accumulate: false)
                for l in stride(from: layerCount - 1, through: 0, by: -1) {
                    let dout = dacts[l].base
                    if l < layerCount - 1 {
                        ReLU.backward(
                            dinp: dout, dout: dout, act: acts[l].base, count: B * widths[l + 1], accumulate: false)
                    }
                    let inp: UnsafePointer<Float> = l == 0 ? x : UnsafePointer(acts[l - 1].base)
                    Linear.backward(
                        dinp: l == 0 ? nil : dacts[l - 1].base, dweight: g + weightOffsets[l],
                        dbias: g + biasOffsets[l], dout: dout, inp: inp, weight: p + weightOffsets[l],
                        rows: B, inFeatures: widths[l], outFeatures: widths[l + 1], accumulate: false)
                }
                return lossSum / Float(B)
            }
        }
    }

    public func evaluate(_ batch: Batch) -> EvalSums {
        let b = imageBatch(batch)
        let B = b.count, V = config.classes
        if B == 0 { return EvalSums() }
        ensureCapacity(B)
        return b.inputs.withUnsafeBufferPointer { xs in
            b.labels.withUnsafeBufferPointer { ys in
                let logits = forward(xs.baseAddress!, rows: B)
                SoftmaxCrossEntropy.forward(
                    probs: probs.base, losses: losses.base, logits: logits, targets: ys.baseAddress!,
                    rows: B, classes: V)
                var sums = EvalSums(count: B)
                for i in 0..<B {
                    sums.lossSum += Double(losses.base[i])
                    let z = logits + i * V
                    var best = 0
                    for v in 1..<V where z[v] > z[best] { best = v }
                    if best == Int(ys[i]) { sums.correct += 1 }
                }
                return sums
            }
        }
    }
}
