/// A count-sketch of an update: `dimension` signed bucket sums, a linear map, so a rescaled copy has exactly
/// the cosine ±1 with its original while two unrelated vectors' sketches stay near their true cosine
/// (standard deviation ≈ √(2/dimension)). Lets the coordinator remember recent updates in 8 KiB each.
public struct UpdateSketch: Sendable, Equatable {
    public static let dimension = 2048
    public var values: [Float]

    public init(values: [Float]) { self.values = values }

    /// Sketches `x`: coordinate i goes to bucket h(i) with sign s(i) (a fixed hash, identical on every host).
    public init(_ x: UnsafeBufferPointer<Float>) {
        // 2048 buckets: h % 2048 is its low 11 bits (a literal mask, so the loop reads no global), and the sign is
        // h's top bit moved onto v's (a branch on it would be mispredicted half the time: 4× slower).
        var acc = [Double](repeating: 0, count: 2048)
        acc.withUnsafeMutableBufferPointer { a in
            guard let a = a.baseAddress, let p = x.baseAddress else { return }
            for i in 0..<x.count {
                let h = Self.mix(UInt64(truncatingIfNeeded: i))
                a[Int(truncatingIfNeeded: h & 2047)] += Double(bitPattern: Double(p[i]).bitPattern ^ (h & (1 << 63)))
            }
        }
        values = acc.map { Float($0) }
    }

    public init(_ x: [Float]) { self = x.withUnsafeBufferPointer { UpdateSketch($0) } }

    /// cos between two sketches (0 when either is zero).
    public func cosine(_ other: UpdateSketch) -> Double { AggregationMath.cosine(values, other.values) }

    /// SplitMix64's finaliser: a fixed, well-mixed hash of the coordinate index.
    static func mix(_ z0: UInt64) -> UInt64 {
        var z = z0 &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
