/// The inner learning rate as a function of the campaign's progress `p` ∈ [0, 1] — the fraction of its planned
/// training units (tokens or samples) already scheduled — not of the steps of one lease, so it does not restart
/// every lease (DiLoCo workers follow one schedule over the whole run).
///
/// `cosine`: linear warm-up over the first `warmup` of the run, then a half cosine from the peak down to
/// `peak × floor` at p = 1 (and held there past the goal). `const`: the peak throughout.
public struct LRSchedule: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case const
        case cosine
    }

    public var kind: Kind
    /// Warm-up as a fraction of the run (cosine only).
    public var warmup: Double
    /// Final learning rate as a fraction of the peak (cosine only).
    public var floor: Double

    public static let constant = LRSchedule(kind: .const)
    /// Warm-up over the first 5 % of the run, decay to a tenth of the peak.
    public static let cosine = LRSchedule(kind: .cosine)

    /// Defaults of `warmup` and `floor` (campaign files and leases that leave them out).
    public static let defaultWarmup = 0.05
    public static let defaultFloor = 0.1

    public init(kind: Kind, warmup: Double = LRSchedule.defaultWarmup, floor: Double = LRSchedule.defaultFloor) {
        self.kind = kind
        self.warmup = warmup
        self.floor = floor
    }

    enum CodingKeys: String, CodingKey { case kind, warmup, floor }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let text = try c.decode(String.self, forKey: .kind)
        guard let kind = Kind(rawValue: text) else {
            throw SettingsError("unknown learning-rate schedule '\(text)'; use const or cosine")
        }
        self.init(
            kind: kind, warmup: try c.decodeIfPresent(Double.self, forKey: .warmup) ?? Self.defaultWarmup,
            floor: try c.decodeIfPresent(Double.self, forKey: .floor) ?? Self.defaultFloor)
        try validate()
    }

    /// Throws unless the fields are usable (warm-up in [0, 0.5], floor in [0, 1]).
    public func validate() throws {
        guard warmup.isFinite, (0...0.5).contains(warmup), floor.isFinite, (0...1).contains(floor) else {
            throw SettingsError(
                "learning-rate schedule: warmup must be in 0…0.5 and floor in 0…1 (got \(warmup), \(floor))")
        }
    }
}
