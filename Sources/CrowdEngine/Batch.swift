/// A batch of labelled feature vectors (images flattened to `features` values in [0, 1]).
public struct ImageBatch: Sendable {
    /// Samples in the batch.
    public var count: Int
    /// Values per sample (784 for 28×28 images).
    public var features: Int
    /// `count × features` values, row-major.
    public var inputs: [Float]
    /// `count` class indices.
    public var labels: [Int32]

    public init(count: Int, features: Int, inputs: [Float], labels: [Int32]) {
        precondition(inputs.count == count * features && labels.count == count, "ImageBatch shape mismatch")
        self.count = count; self.features = features; self.inputs = inputs; self.labels = labels
    }
}

/// A batch of token sequences with next-token targets (byte-level: tokens are 0…255).
public struct TokenBatch: Sendable {
    /// Sequences in the batch (B).
    public var batch: Int
    /// Tokens per sequence (T).
    public var block: Int
    /// `B × T` input tokens.
    public var inputs: [Int32]
    /// `B × T` targets: `inputs` shifted by one position.
    public var targets: [Int32]

    public init(batch: Int, block: Int, inputs: [Int32], targets: [Int32]) {
        precondition(inputs.count == batch * block && targets.count == batch * block, "TokenBatch shape mismatch")
        self.batch = batch; self.block = block; self.inputs = inputs; self.targets = targets
    }
}

/// Any batch a model can train on.
public enum Batch: Sendable {
    case images(ImageBatch)
    case tokens(TokenBatch)

    /// Training samples the batch represents: images, or predicted tokens (B·T).
    public var samples: Int {
        switch self {
        case .images(let b): return b.count
        case .tokens(let b): return b.batch * b.block
        }
    }
}

/// Sums produced by evaluating a model on a batch without gradients.
public struct EvalSums: Sendable {
    /// Sum of per-sample cross-entropy losses (nats).
    public var lossSum: Double
    /// Correct top-1 predictions.
    public var correct: Int
    /// Samples (images or tokens) evaluated.
    public var count: Int

    public init(lossSum: Double = 0, correct: Int = 0, count: Int = 0) {
        self.lossSum = lossSum; self.correct = correct; self.count = count
    }

    public static func + (a: EvalSums, b: EvalSums) -> EvalSums {
        EvalSums(lossSum: a.lossSum + b.lossSum, correct: a.correct + b.correct, count: a.count + b.count)
    }

    /// Mean loss per sample.
    public var meanLoss: Double { count == 0 ? .nan : lossSum / Double(count) }
    /// Top-1 accuracy.
    public var accuracy: Double { count == 0 ? .nan : Double(correct) / Double(count) }
}
