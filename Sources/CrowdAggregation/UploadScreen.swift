/// The checks an update passes at upload, before it joins a round: finite values and a norm within the bound.
///
/// A refusal here is a 4xx with a clear code and no credit; the deeper checks (tiny, copies, probe) need the
/// whole round and run in `RoundDefence`.
public enum UploadScreen {
    /// Returns ‖Δ‖₂, or the reason the upload is refused.
    public static func check(_ delta: [Float], config: DefenceConfig, history: NormHistory) -> Result<Double, ExclusionReason> {
        guard AggregationMath.allFinite(delta) else { return .failure(.nonFinite) }
        let n = AggregationMath.l2Norm(delta)
        if let m = config.maxNorm, n > m { return .failure(.normTooLarge) }
        if let r = history.reference, n > config.rejectMultiplier * r { return .failure(.normTooLarge) }
        return .success(n)
    }
}
