/// Exponential backoff with jitter (BOINC): delay n = min(cap, base·2ⁿ) × U(0.5, 1).
///
/// A value type; `next(random:)` takes the uniform draw so callers inject their seeded RNG.
public struct Backoff: Sendable, Equatable {
    /// First delay before jitter, seconds.
    public var base: Double
    /// Largest delay before jitter, seconds.
    public var cap: Double
    /// Failures since the last success.
    public private(set) var failures: Int = 0

    public init(base: Double = 1, cap: Double = 60) {
        self.base = base
        self.cap = cap
    }

    /// Records a failure and returns the delay to wait, seconds.
    /// - Parameter random: a uniform draw in [0, 1).
    public mutating func next(random: Double) -> Double {
        let exp = min(failures, 30)
        failures += 1
        let raw = min(cap, base * Double(1 << exp))
        return raw * (0.5 + 0.5 * min(max(random, 0), 1))
    }

    /// Records a success: the next failure starts from `base` again.
    public mutating func reset() { failures = 0 }
}
