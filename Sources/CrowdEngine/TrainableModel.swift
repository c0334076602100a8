import Foundation

/// A model whose parameters and gradients are flat buffers sharing one `ParameterLayout`.
///
/// Everything above the engine (trainer, peer, coordinator) works through this protocol, so a
/// model update is always `params` before minus `params` after — one contiguous vector.
public protocol TrainableModel: AnyObject {
    /// Model family name stored in checkpoints (`mlp`, `gpt`).
    static var kind: String { get }
    /// Names, shapes and offsets of the parameters.
    var layout: ParameterLayout { get }
    /// θ, `layout.count` values.
    var params: FlatBuffer { get }
    /// ∂loss/∂θ, same layout; `forwardBackward` overwrites it.
    var grads: FlatBuffer { get }
    /// Forward + backward floating-point operations per training sample (image or token),
    /// computed from the layout (2·MACs forward, 4·MACs backward). The unit of volunteer credit.
    var flopsPerSample: Double { get }
    /// The model's configuration as JSON, stored in checkpoints.
    func configJSON() throws -> Data
    /// Zeroes `grads`, runs forward and backward on `batch` and returns the mean loss.
    /// - Precondition: the batch kind matches the model (images for MLP, tokens for GPT).
    func forwardBackward(_ batch: Batch) -> Float
    /// Forward only; returns loss sums and correct counts.
    func evaluate(_ batch: Batch) -> EvalSums
}
