/// How updates are screened, clipped and credited, `campaign.json` key `defence`.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `maxNorm` | float? | null | absolute ceiling on an update's L2 norm; above it the upload is refused (`update_norm_too_large`). null: only the adaptive bound applies |
/// | `rejectMultiplier` | float | 50 | an upload whose norm exceeds this × the reference norm is refused (`update_norm_too_large`) |
/// | `clipMultiplier` | float | 1 | every update is clipped to this × the lower median norm of the round's surviving updates (with fewer than 3, the smaller of that and the reference norm) before aggregation (recorded per update). 1 was chosen by `bench attack`: with 2, seven label-flipping peers of 16 (norms 7× honest) cost 10–16 points |
/// | `tinyFraction` | float | 0.02 | an update whose norm is below this × the reference norm earns nothing (`tiny_update`) |
/// | `copyCosine` | float | 0.999 | an update whose cosine with an earlier update of the round (or a recent round) is at least this earns nothing and is not aggregated (`copied_update`); above 1 disables the check |
/// | `minAgreement` | float | 0.02 | with 3+ updates in a round, each one's cosine with the coordinate-wise median of the round's clipped updates must be at least this; otherwise it earns nothing and is not aggregated (`no_progress`). Pure noise scores ≈ 0 ± 1/√n; −1 disables |
/// | `agreementFraction` | float | 0.25 | and at least this fraction of the round's lower-median cosine (honest updates of a round agree about equally; measured 0.43–0.56 in the 4-peer demo, noise ≈ 0) |
/// | `probe` | bool | true | the aggregate's loss on the coordinator's probe batch is checked against `explodeFactor` |
/// | `explodeFactor` | float | 2 | an aggregate that is not finite, or (`probe`) whose probe loss exceeds this × the base model's, is unusable: the round is re-aggregated without the most distant update |
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
    public var minAgreement: Double
    public var agreementFraction: Double
    public var explodeFactor: Double
    public var historyLength: Int
    /// True only for `off`: an unusable aggregate is applied anyway (no fallback). Not settable from JSON.
    public var undefended = false
    /// Fewest norms in the history before it is trusted as the reference.
    public static let minHistory = 8

    public init(
        maxNorm: Double? = nil, rejectMultiplier: Double = 50, clipMultiplier: Double = 1, tinyFraction: Double = 0.02,
        copyCosine: Double = 0.999, minAgreement: Double = 0.02, agreementFraction: Double = 0.25, probe: Bool = true,
        explodeFactor: Double = 2, historyLength: Int = 64
    ) {
        self.maxNorm = maxNorm
        self.rejectMultiplier = rejectMultiplier
        self.clipMultiplier = clipMultiplier
        self.tinyFraction = tinyFraction
        self.copyCosine = copyCosine
        self.probe = probe
        self.minAgreement = minAgreement
        self.agreementFraction = agreementFraction
        self.explodeFactor = explodeFactor
        self.historyLength = historyLength
    }

    /// The defaults.
    public static let standard = DefenceConfig()

    /// No screening, clipping or fallback at all: the undefended control of `bench attack`. Never for campaigns.
    public static let off: DefenceConfig = {
        var c = DefenceConfig(
            maxNorm: nil, rejectMultiplier: .infinity, clipMultiplier: .infinity, tinyFraction: 0,
            copyCosine: .infinity, minAgreement: -1, agreementFraction: 0, probe: false, explodeFactor: .infinity,
            historyLength: 64)
        c.undefended = true
        return c
    }()

    enum CodingKeys: String, CodingKey {
        case maxNorm, rejectMultiplier, clipMultiplier, tinyFraction, copyCosine, minAgreement, probe, explodeFactor
        case historyLength, agreementFraction
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
        minAgreement = try c.decodeIfPresent(Double.self, forKey: .minAgreement) ?? minAgreement
        agreementFraction = try c.decodeIfPresent(Double.self, forKey: .agreementFraction) ?? agreementFraction
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
        try check(minAgreement >= -1 && minAgreement < 0.5, "minAgreement must be in [-1, 0.5) (-1 disables it)")
        try check(agreementFraction >= 0 && agreementFraction < 1, "agreementFraction must be in [0, 1)")
        try check(explodeFactor > 1, "explodeFactor must be greater than 1")
        try check(!undefended, "an undefended configuration is for the benchmark's control runs only")
        try check((Self.minHistory...100_000).contains(historyLength), "historyLength must be \(Self.minHistory)…100000")
    }
}
