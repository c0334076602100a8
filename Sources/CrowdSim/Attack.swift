import CrowdAggregation
import CrowdEngine
import Foundation

/// The attacks of `bench attack` (the ByzFL grid): what the f hostile peers of a round upload. Attackers are
/// omniscient (they see the honest updates of the round), the strongest model of the literature.
public enum Attack: String, Sendable, CaseIterable, Codable {
    /// −1000 × the honest mean.
    case signFlip = "sign-flip"
    /// Gaussian noise whose L2 norm is 100 × the honest median norm (each attacker its own draw).
    case gaussian
    /// Inner-product manipulation, −ε × the honest mean, ε = 0.1 and ε = 100 (Xie et al. 2020).
    case ipmSmall = "ipm-0.1"
    case ipmLarge = "ipm-100"
    /// A little is enough (Baruch et al. 2019): μ − z·σ per coordinate, z from n and f.
    case alie
    /// Values near Float's largest, ±3e38 (finite; used to overflow the outer step).
    case maxFloat = "max-float"
    /// All zeros: a free-rider.
    case zero
    /// Trains honestly, but on labels shuffled at random (each attacker on its own slice).
    case labelFlip = "label-flip"

    /// The updates of `hostile` peers for one round.
    public func craft(_ view: SimulatedCrowd.RoundView, hostile: [Int], peers: Int, seed: UInt64) -> [Int: [Float]] {
        let h = view.honest
        let n = view.params.count
        guard !h.isEmpty else { return [:] }
        let mean = NaiveAggregators.mean(h, weights: [Double](repeating: 1, count: h.count))
        func scaled(_ s: Float) -> [Float] { mean.map { $0 * s } }
        var out: [Int: [Float]] = [:]
        switch self {
        case .signFlip:
            for p in hostile { out[p] = scaled(-1000) }
        case .ipmSmall:
            for p in hostile { out[p] = scaled(-0.1) }
        case .ipmLarge:
            for p in hostile { out[p] = scaled(-100) }
        case .gaussian:
            let norms = h.map { AggregationMath.l2Norm($0) }.sorted()
            let target = 100 * norms[norms.count / 2]
            for p in hostile {
                var rng = SeededRNG(seed: seed).derived(UInt64(view.round * 1000 + p))
                var v = (0..<n).map { _ in rng.nextNormal() }
                AggregationMath.scale(&v, by: Float(target / AggregationMath.l2Norm(v)))
                out[p] = v
            }
        case .alie:
            let f = hostile.count
            let s = peers / 2 + 1 - f
            let z = Self.inverseNormalCDF(Double(peers - s) / Double(peers))
            var v = [Float](repeating: 0, count: n)
            for j in 0..<n {
                var m = 0.0, q = 0.0
                for u in h { m += Double(u[j]) }
                m /= Double(h.count)
                for u in h { q += (Double(u[j]) - m) * (Double(u[j]) - m) }
                let sd = (q / Double(max(1, h.count - 1))).squareRoot()
                v[j] = Float(m - z * sd)
            }
            for p in hostile { out[p] = v }
        case .maxFloat:
            let v = (0..<n).map { Float(3e38) * ($0 % 2 == 0 ? 1 : -1) }
            for p in hostile { out[p] = v }
        case .zero:
            for p in hostile { out[p] = [Float](repeating: 0, count: n) }
        case .labelFlip:
            for p in hostile { out[p] = view.trainShuffled(p) }
        }
        return out
    }

    /// Φ⁻¹(p) by bisection on the error function (|error| < 1e-9; p in (0, 1)).
    static func inverseNormalCDF(_ p: Double) -> Double {
        var lo = -10.0, hi = 10.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if 0.5 * (1 + erf(mid / 2.squareRoot())) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}
