/// How updates are screened, clipped and credited, `campaign.json` key `defence`.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `maxNorm` | float? | null | absolute ceiling on an update's L2 norm; above it the upload is refused (`update_norm_too_large`). null: only the adaptive bound applies |
/// | `rejectMultiplier` | float | 50 | an upload whose norm exceeds this × the reference norm is refused (`update_norm_too_large`) |
/// | `clipMultiplier` | float | 2 | every update is clipped to this × the reference norm before aggregation (recorded per update) |
/// | `tinyFraction` | float | 0.02 | an update whose norm is below this × the reference norm earns nothing (`tiny_update`) |
/// | `copyCosine` | float | 0.999 | an update whose cosine with an earlier update of the round (or a recent round) is at least this earns nothing and is not aggregated (`copied_update`); above 1 disables the check |
/// | `probe` | bool | true | each update must lower the coordinator's probe loss (held-out batch) when applied alone; otherwise it earns nothing and is not aggregated (`no_progress`) |
/// | `minImprovement` | float | 0.0001 | relative probe-loss drop an update must reach (`probe`) |
/// | `progressFraction` | float | 0.1 | and at least this fraction of the round's lower-median probe-loss drop (`probe`): noise that lowers the loss by chance does a tenth of real work at best |
/// | `explodeFactor` | float | 2 | an aggregate whose probe loss exceeds this × the base model's (or that is not finite) is unusable: the round is re-aggregated without the most distant updates |
/// | `historyLength` | int | 64 | accepted norms kept for the reference norm |
///
/// The *reference norm* is the median norm of the last `historyLength` credited updates; while fewer than
/// `minHistory` (8) are known, the median of the round's own candidates is used (and no upload is refused on
/// the relative bound).
public struct DefenceConfig: Codable, Sendable, Equatable {
    public var maxNorm: Double?
    public var rejectMultiplier: Double
    public var clipMultiplier: Double
    public var tinyFraction: Double
    public var copyCosine: Double
    public var probe: Bool
    public var minImprovement: Double
    public var progressFraction: Double
    public var explodeFactor: Double
    public var historyLength: Int
    /// True only for `off`: an unusable aggregate is applied anyway (no fallback). Not settable from JSON.
    public var undefended = false
    /// Fewest norms in the history before it is trusted as the reference.
    public static let minHistory = 8

    public init(
        maxNorm: Double? = nil, rejectMultiplier: Double = 50, clipMultiplier: Double = 2, tinyFraction: Double = 0.02,
        copyCosine: Double = 0.999, probe: Bool = true, minImprovement: Double = 1e-4, progressFraction: Double = 0.1,
        explodeFactor: Double = 2, historyLength: Int = 64
    ) {
        self.maxNorm = maxNorm
        self.rejectMultiplier = rejectMultiplier
        self.clipMultiplier = clipMultiplier
        self.tinyFraction = tinyFraction
        self.copyCosine = copyCosine
        self.probe = probe
        self.minImprovement = minImprovement
        self.progressFraction = progressFraction
        self.explodeFactor = explodeFactor
        self.historyLength = historyLength
    }

    /// The defaults.
    public static let standard = DefenceConfig()

    /// No screening, clipping or fallback at all: the undefended control of `bench attack`. Never for campaigns.
    public static let off: DefenceConfig = {
        var c = DefenceConfig(
            maxNorm: nil, rejectMultiplier: .infinity, clipMultiplier: .infinity, tinyFraction: 0,
            copyCosine: .infinity, probe: false, minImprovement: 0, progressFraction: 0, explodeFactor: .infinity,
            historyLength: 64)
        c.undefended = true
        return c
    }()

    enum CodingKeys: String, CodingKey {
        case maxNorm, rejectMultiplier, clipMultiplier, tinyFraction, copyCosine, probe, minImprovement, explodeFactor
        case historyLength, progressFraction
    }

    /// Decodes with defaults for missing keys.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        maxNorm = try c.decodeIfPresent(Double.self, forKey: .maxNorm)
        rejectMultiplier = try c.decodeIfPresent(Double.self, forKey: .rejectMultiplier) ?? rejectMultiplier
        clipMultiplier = try c.decodeIfPresent(Double.self, forKey: .clipMultiplier) ?? clipMultiplier
        tinyFraction = try c.decodeIfPresent(Double.self, forKey: .tinyFraction) ?? tinyFraction
        copyCosine = try c.decodeIfPresent(Double.self, forKey: .copyCosine) ?? copyCosine
        probe = try c.decodeIfPresent(Bool.self, forKey: .probe) ?? probe
        minImprovement = try c.decodeIfPresent(Double.self, forKey: .minImprovement) ?? minImprovement
        progressFraction = try c.decodeIfPresent(Double.self, forKey: .progressFraction) ?? progressFraction
        explodeFactor = try c.decodeIfPresent(Double.self, forKey: .explodeFactor) ?? explodeFactor
        historyLength = try c.decodeIfPresent(Int.self, forKey: .historyLength) ?? historyLength
    }

    /// Throws an `AggregationError` naming the first invalid key.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw AggregationError("defence.\(message)") } }
        try check(maxNorm.map { $0 > 0 && $0.isFinite } ?? true, "maxNorm must be a positive number or null")
        try check(rejectMultiplier > 1, "rejectMultiplier must be greater than 1")
        try check(clipMultiplier >= 1, "clipMultiplier must be at least 1")
        try check(clipMultiplier <= rejectMultiplier, "clipMultiplier must not exceed rejectMultiplier")
        try check(tinyFraction >= 0 && tinyFraction < 1, "tinyFraction must be in [0, 1)")
        try check(copyCosine > 0.9, "copyCosine must be above 0.9 (honest updates of one round can be that alike)")
        try check(minImprovement >= 0 && minImprovement < 0.5, "minImprovement must be in [0, 0.5)")
        try check(progressFraction >= 0 && progressFraction < 1, "progressFraction must be in [0, 1)")
        try check(explodeFactor > 1, "explodeFactor must be greater than 1")
        try check(!undefended, "an undefended configuration is for the benchmark's control runs only")
        try check((Self.minHistory...100_000).contains(historyLength), "historyLength must be \(Self.minHistory)…100000")
    }
}
