/// What a burst of local training steps did.
public struct LocalRun: Sendable {
    /// Mean of the per-step mean losses.
    public var meanLoss: Float
    /// Optimizer steps taken.
    public var steps: Int
    /// Samples (images or tokens) trained on.
    public var samples: Int
    /// Wall-clock seconds spent in forward, backward and optimizer steps (batch gathering included).
    public var seconds: Double

    public init(meanLoss: Float, steps: Int, samples: Int, seconds: Double) {
        self.meanLoss = meanLoss; self.steps = steps; self.samples = samples; self.seconds = seconds
    }

    /// Samples per second (0 when no time elapsed).
    public var samplesPerSecond: Double { seconds > 0 ? Double(samples) / seconds : 0 }
}
