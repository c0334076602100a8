import CrowdCodec

/// The upload-time check of a commitment's claims against the lease: the coordinator and `bench verify` run this.
public enum CommitmentCheck {
    /// The commitment's false claims (empty: it states what the lease asked). `allowedStarts` are the optimizer
    /// digests the lease allows to start from (a fresh optimizer's, and the peer's carried state if the lease names
    /// it).
    public static func lies(
        _ c: WorkCommitment, steps: Int, samples: Int, segmentSteps: Int, allowedStarts: [[UInt8]]
    ) -> [String] {
        var out: [String] = []
        if Int(c.steps) != steps { out.append("claims \(c.steps) steps; the lease has \(steps)") }
        if c.samples != UInt64(max(0, samples)) { out.append("claims \(c.samples) samples; the lease has \(samples)") }
        if Int(c.segmentSteps) != segmentSteps {
            out.append("commits every \(c.segmentSteps) steps; the lease asked \(segmentSteps)")
        }
        if !allowedStarts.contains(c.startInnerState) {
            out.append("starts from an inner optimizer state the lease did not allow")
        }
        return out
    }
}
