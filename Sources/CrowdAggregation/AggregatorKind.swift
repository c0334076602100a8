/// Which aggregator a campaign uses, `campaign.json` key `aggregator` (and `--aggregator` of the benchmarks).
///
/// Textual forms (case-insensitive):
///
/// | form | aggregator |
/// |---|---|
/// | `mean` | sample-weighted mean (not robust; the control in `bench attack`) |
/// | `trimmed-mean[:β]` | coordinate-wise trimmed mean, dropping ⌊β·K⌋ values at each end (β default 0.25, 0 ≤ β < 0.5) |
/// | `median` | coordinate-wise median |
/// | `centered-clip[:τ]` | centered clipping (Karimireddy et al. 2021) started at the coordinate-wise median, radius τ (default: the median distance of the updates to that start), 3 iterations |
/// | `nnm-trimmed-mean[:β]` | nearest-neighbour mixing (each update replaced by the mean of its K − ⌊β·K⌋ nearest), then trimmed mean |
public enum AggregatorKind: Sendable, Hashable, CustomStringConvertible {
    case mean
    case trimmedMean(trim: Double)
    case median
    case centeredClip(radius: Double?)
    case nnmTrimmedMean(trim: Double)

    /// Default trimmed fraction β of each end.
    public static let defaultTrim = 0.25

    /// The aggregator of new campaigns (`CampaignConfig`) and the one `bench attack` sums up: chosen by the
    /// measured worst case of `crowdtrain bench attack` (Docs/ThreatModel.md).
    public static let campaignDefault = AggregatorKind.trimmedMean(trim: defaultTrim)

    /// Every kind once, with default parameters (benchmarks iterate this).
    public static let all: [AggregatorKind] = [
        .mean, .trimmedMean(trim: defaultTrim), .median, .centeredClip(radius: nil), .nnmTrimmedMean(trim: defaultTrim),
    ]

    /// Parses the textual form; throws an `AggregationError` listing the accepted forms.
    public init(parsing text: String) throws {
        let lower = text.lowercased().trimmingCharacters(in: [" ", "\t"])
        let parts = lower.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let arg = parts.count > 1 ? parts[1] : nil
        func fraction(_ a: String?) throws -> Double {
            guard let a else { return Self.defaultTrim }
            guard let f = Double(a), f.isFinite, f >= 0, f < 0.5 else {
                throw AggregationError("aggregator trim fraction '\(a)' must be a number in [0, 0.5), e.g. trimmed-mean:0.25")
            }
            return f
        }
        switch (parts[0], arg) {
        case ("mean", nil): self = .mean
        case ("median", nil): self = .median
        case ("trimmed-mean", let a): self = .trimmedMean(trim: try fraction(a))
        case ("nnm-trimmed-mean", let a): self = .nnmTrimmedMean(trim: try fraction(a))
        case ("centered-clip", nil): self = .centeredClip(radius: nil)
        case ("centered-clip", let a?):
            guard let r = Double(a), r.isFinite, r > 0 else {
                throw AggregationError("centered-clip radius '\(a)' must be a positive number, e.g. centered-clip:1.5")
            }
            self = .centeredClip(radius: r)
        default:
            throw AggregationError(
                "unknown aggregator '\(text)': use mean, trimmed-mean[:β], median, centered-clip[:τ] or nnm-trimmed-mean[:β]")
        }
    }

    public var description: String {
        switch self {
        case .mean: "mean"
        case .median: "median"
        case .trimmedMean(let t): t == Self.defaultTrim ? "trimmed-mean" : "trimmed-mean:\(t)"
        case .nnmTrimmedMean(let t): t == Self.defaultTrim ? "nnm-trimmed-mean" : "nnm-trimmed-mean:\(t)"
        case .centeredClip(let r): r.map { "centered-clip:\($0)" } ?? "centered-clip"
        }
    }

    /// True for every kind but `mean`.
    public var isRobust: Bool { self != .mean }
}

extension AggregatorKind: Codable {
    public init(from decoder: any Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
