import Foundation

/// A byte-level GPT with nanoGPT's semantics (`ref_gpt_bytes.py`): token + position embeddings,
/// pre-LayerNorm blocks (LayerNorm without bias → causal self-attention → residual, LayerNorm →
/// `c_fc` → exact GELU → `c_proj` → residual), final LayerNorm, LM head tied to the token
/// embedding, softmax cross-entropy over `vocab` bytes. No biases anywhere.
///
/// Parameters are packed in PyTorch's `named_parameters()` order (`wte.weight [V, C]`,
/// `wpe.weight [T, C]`, `h.{l}.ln_1.weight`, `h.{l}.attn.c_attn.weight [3C, C]`,
/// `h.{l}.attn.c_proj.weight [C, C]`, `h.{l}.ln_2.weight`, `h.{l}.c_fc.weight [4C, C]`,
/// `h.{l}.c_proj.weight [C, 4C]`, …, `ln_f.weight`); the tied LM head is stored once as `wte`.
/// Initialisation: N(0, 0.02) for embeddings and linear weights, N(0, 0.02/√(2L)) for both
/// `c_proj` weights, 1 for LayerNorm weights.
public final class GPT: TrainableModel {
    public static let kind = "gpt"

    public let config: GPTConfig
    public let layout: ParameterLayout
    public let params: FlatBuffer
    public let grads: FlatBuffer

    /// Offsets of one block's weights in `params`/`grads`.
    struct BlockOffsets {
        var ln1: Int, attn: Int, attnProj: Int, ln2: Int, fc: Int, proj: Int
    }

    let wte: Int, wpe: Int, lnf: Int
    let blocks: [BlockOffsets]
    var acts: GPTActivations?

    /// Builds the model and initialises its parameters from `seed`.
    /// - Precondition: `config.validate()` succeeds.
    public init(config: GPTConfig = GPTConfig(), seed: UInt64) {
        precondition((try? config.validate()) != nil, "invalid GPTConfig \(config)")
        self.config = config
        let layout = ParameterLayout(kind: Self.kind, tensors: Self.tensorSpec(config))
        self.layout = layout
        wte = layout["wte.weight"].offset
        wpe = layout["wpe.weight"].offset
        lnf = layout["ln_f.weight"].offset
        blocks = (0..<config.layers).map { l in
            BlockOffsets(
                ln1: layout["h.\(l).ln_1.weight"].offset, attn: layout["h.\(l).attn.c_attn.weight"].offset,
                attnProj: layout["h.\(l).attn.c_proj.weight"].offset, ln2: layout["h.\(l).ln_2.weight"].offset,
                fc: layout["h.\(l).c_fc.weight"].offset, proj: layout["h.\(l).c_proj.weight"].offset)
        }
        params = FlatBuffer(count: layout.count)
        grads = FlatBuffer(count: layout.count)
        var rng = SeededRNG(seed: seed)
        let p = params.base
        let projStd = 0.02 / Float(2 * config.layers).squareRoot()
        for t in layout.tensors {
            if t.name.hasSuffix("ln_1.weight") || t.name.hasSuffix("ln_2.weight") || t.name == "ln_f.weight" {
                for i in t.range { p[i] = 1 }
            } else {
                let std: Float = t.name.hasSuffix("c_proj.weight") ? projStd : 0.02
                for i in t.range { p[i] = std * rng.nextNormal() }
            }
        }
    }

    /// `(name, shape)` of every parameter tensor, in buffer order.
    static func tensorSpec(_ c: GPTConfig) -> [(String, [Int])] {
        let C = c.width
        var spec: [(String, [Int])] = [("wte.weight", [c.vocab, C]), ("wpe.weight", [c.block, C])]
        for l in 0..<c.layers {
            spec += [
                ("h.\(l).ln_1.weight", [C]), ("h.\(l).attn.c_attn.weight", [3 * C, C]),
                ("h.\(l).attn.c_proj.weight", [C, C]), ("h.\(l).ln_2.weight", [C]),
                ("h.\(l).c_fc.weight", [4 * C, C]), ("h.\(l).c_proj.weight", [C, 4 * C]),
            ]
        }
        spec.append(("ln_f.weight", [C]))
        return spec
    }

    /// 6 × multiply-accumulates per token: the weight matmuls of every block (12·C²), the dense
    /// attention products (2·T·C per block) and the LM head (V·C).
    public var flopsPerSample: Double {
        let c = config
        let macs = c.layers * (12 * c.width * c.width + 2 * c.block * c.width) + c.vocab * c.width
        return 6 * Double(macs)
    }

    public func configJSON() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return try enc.encode(config)
    }

    public func forwardBackward(_ batch: Batch) -> Float {
        guard case .tokens(let tb) = batch else { preconditionFailure("GPT trains on token batches, not images") }
        let a = activations(batch: tb.batch, time: tb.block)
        return tb.inputs.withUnsafeBufferPointer { inp in
            tb.targets.withUnsafeBufferPointer { tgt in
                forward(a, tokens: inp.baseAddress!)
                let loss = crossEntropy(a, targets: tgt.baseAddress!, correct: nil)
                grads.zero()
                backward(a, tokens: inp.baseAddress!, targets: tgt.baseAddress!)
                return loss
            }
        }
    }

    public func evaluate(_ batch: Batch) -> EvalSums {
        guard case .tokens(let tb) = batch else { preconditionFailure("GPT evaluates token batches, not images") }
        let a = activations(batch: tb.batch, time: tb.block)
        return tb.inputs.withUnsafeBufferPointer { inp in
            tb.targets.withUnsafeBufferPointer { tgt in
                forward(a, tokens: inp.baseAddress!)
                var correct = 0
                let mean = crossEntropy(a, targets: tgt.baseAddress!, correct: &correct)
                let n = tb.batch * tb.block
                return EvalSums(lossSum: Double(mean) * Double(n), correct: correct, count: n)
            }
        }
    }

    /// The activation buffers for a `[B, T]` batch, reallocated only when the shape changes. The
    /// engine's own loops (attention, GELU) use as many workers as `ComputeThreads.current` had
    /// when the buffers were allocated.
    func activations(batch B: Int, time T: Int) -> GPTActivations {
        precondition(B >= 1 && T >= 1 && T <= config.block, "batch shape [\(B), \(T)] exceeds block \(config.block)")
        if let a = acts, a.batch == B, a.time == T { return a }
        let a = GPTActivations(config: config, batch: B, time: T, workers: ComputeThreads.current)
        acts = a
        return a
    }
}
