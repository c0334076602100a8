/// The L2 norms of recently credited updates: the reference for clipping, refusing and "tiny" (a ring buffer).
public struct NormHistory: Sendable, Equatable {
    public private(set) var norms: [Double] = []
    public let capacity: Int
    private var next = 0

    public init(capacity: Int, norms: [Double] = []) {
        precondition(capacity >= 1, "NormHistory needs a capacity of at least 1")
        self.capacity = capacity
        for n in norms { append(n) }
    }

    /// Adds a credited update's norm (finite and positive only), evicting the oldest past `capacity`.
    public mutating func append(_ norm: Double) {
        guard norm.isFinite, norm > 0 else { return }
        if norms.count < capacity {
            norms.append(norm)
        } else {
            norms[next] = norm
            next = (next + 1) % capacity
        }
    }

    /// True once enough norms are known to serve as the reference.
    public var isTrusted: Bool { norms.count >= DefenceConfig.minHistory }

    /// The median of the history, nil while it is not trusted.
    public var reference: Double? { isTrusted ? Self.median(norms) : nil }

    /// The lower median: element ⌊(K − 1)/2⌋ of the sorted values; nil when empty.
    public static func lowerMedian(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        return values.sorted()[(values.count - 1) / 2]
    }

    /// Median of `values` (mean of the two middle ones when even); nil when empty.
    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}
