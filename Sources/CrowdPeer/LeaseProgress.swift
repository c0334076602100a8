import CrowdEngine
import CrowdProtocol

/// A lease's local training stopped part-way: everything needed to continue it bit for bit.
///
/// Resuming restores `params` and the inner optimizer's `optimizer` state and skips the first `steps`
/// batches of the lease-seeded sampler, so the finished Δ is exactly the one an uninterrupted run
/// produces at the same thread count. Persisted in `P/progress.bin` by `LeaseProgressFile`.
public struct LeaseProgress: Sendable {
    /// The lease being trained (its id, model version and deadline decide whether a restart may resume).
    public var lease: Lease
    /// Optimizer steps finished, `0 ≤ steps ≤ lease.steps`.
    public var steps: Int
    /// Sum of the finished steps' mean losses (the lease's mean loss is `lossSum / steps`).
    public var lossSum: Double
    /// Samples trained on so far.
    public var samples: Int
    /// Seconds of local compute so far.
    public var seconds: Double
    /// θ after `steps` steps, the model's flat parameter vector.
    public var params: [Float]
    /// The inner optimizer's state after `steps` steps (SGD momentum, AdamW moments and step count).
    public var optimizer: OptimizerState
    /// Unix seconds of the snapshot.
    public var savedAt: Double
    /// Under verification: the trajectory's state digests recorded so far (`Trajectory.digestBytes`, 64 bytes a
    /// leaf), so the resumed lease commits to its whole trajectory.
    public var trajectoryDigests: [UInt8]

    public init(
        lease: Lease, steps: Int, lossSum: Double, samples: Int, seconds: Double, params: [Float],
        optimizer: OptimizerState, savedAt: Double, trajectoryDigests: [UInt8] = []
    ) {
        self.lease = lease; self.steps = steps; self.lossSum = lossSum; self.samples = samples
        self.seconds = seconds; self.params = params; self.optimizer = optimizer; self.savedAt = savedAt
        self.trajectoryDigests = trajectoryDigests
    }

    /// "step k/H", as shown in the daemon's lines.
    public var position: String { "step \(steps)/\(lease.steps)" }
}

extension LeaseProgress: Equatable {
    public static func == (a: LeaseProgress, b: LeaseProgress) -> Bool {
        a.lease == b.lease && a.steps == b.steps && a.lossSum.bitPattern == b.lossSum.bitPattern
            && a.samples == b.samples && a.seconds.bitPattern == b.seconds.bitPattern
            && a.trajectoryDigests == b.trajectoryDigests
            && a.params.map(\.bitPattern) == b.params.map(\.bitPattern) && a.savedAt.bitPattern == b.savedAt.bitPattern
            && a.optimizer.kind == b.optimizer.kind && a.optimizer.step == b.optimizer.step
            && a.optimizer.buffers.map { $0.map(\.bitPattern) } == b.optimizer.buffers.map { $0.map(\.bitPattern) }
    }
}
