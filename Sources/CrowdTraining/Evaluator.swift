import CrowdEngine

/// Evaluation without gradients: sums losses and correct predictions over batches.
public enum Evaluator {
    /// Loss and accuracy sums of `model` over `batches`.
    public static func evaluate(model: any TrainableModel, batches: [Batch]) -> EvalSums {
        batches.reduce(EvalSums()) { $0 + model.evaluate($1) }
    }
}
