/// A count-sketch of an update: `dimension` signed bucket sums, a linear map, so a rescaled copy has exactly
/// the cosine ±1 with its original while two unrelated vectors' sketches stay near their true cosine
/// (standard deviation ≈ √(2/dimension)). Lets the coordinator remember recent updates in 8 KiB each.
public struct UpdateSketch: Sendable, Equatable {
    public static let dimension = 2048
    public var values: [Float]

    public init(values: [Float]) { self.values = values }

    /// Sketches `x`: coordinate i goes to bucket h(i) with sign s(i) (a fixed hash, identical on every host).
    public init(_ x: UnsafeBufferPointer<Float>) {
        var acc = [Double](repeating: 0, count: Self.dimension)
        acc.withUnsafeMutableBufferPointer { a in
            for i in 0..<x.count {
                let h = Self.mix(UInt64(truncatingIfNeeded: i))
                let bucket = Int(truncatingIfNeeded: h % UInt64(Self.dimension))
                let v = Double(x[i])
                a[bucket] += (h >> 63) == 0 ? v : -v
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
