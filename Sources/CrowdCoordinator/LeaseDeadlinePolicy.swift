/// How long a peer gets to return a lease: from its measured throughput, times a safety factor.
///
/// `seconds = clamp(safetyFactor × samples / throughput + allowance, min(minSeconds, maxSeconds), maxSeconds)`.
/// The throughput is preferably the coordinator's own measurement of this peer's recent accepted leases
/// (samples / (accepted − issued), which includes its downloads, queueing and upload); else the peer's
/// `LeaseRequest.samplesPerSecond` hint, which is untrusted but harmless: `maxSeconds` caps it, so a peer
/// can only shorten its own deadline; else `maxSeconds` (`leaseSeconds`).
public struct LeaseDeadlinePolicy: Sendable, Equatable {
    public var safetyFactor: Double
    public var minSeconds: Double
    public var maxSeconds: Double
    public var allowanceSeconds: Double

    /// What the deadline was computed from.
    public enum Basis: String, Sendable, Equatable {
        case measured, hint, none
    }

    public init(safetyFactor: Double, minSeconds: Double, maxSeconds: Double, allowanceSeconds: Double) {
        self.safetyFactor = safetyFactor
        self.minSeconds = minSeconds
        self.maxSeconds = maxSeconds
        self.allowanceSeconds = allowanceSeconds
    }

    public init(_ c: CampaignConfig) {
        self.init(
            safetyFactor: c.leaseSafetyFactor, minSeconds: c.minLeaseSeconds, maxSeconds: c.leaseSeconds,
            allowanceSeconds: c.leaseAllowanceSeconds)
    }

    /// Seconds until the deadline of a lease worth `samples`, and what it was based on.
    public func duration(samples: Int, measured: Double?, hint: Double?) -> (seconds: Double, basis: Basis) {
        func usable(_ x: Double?) -> Double? { x.flatMap { $0.isFinite && $0 > 0 ? $0 : nil } }
        let basis: Basis
        let rate: Double
        if let m = usable(measured) {
            (basis, rate) = (.measured, m)
        } else if let h = usable(hint) {
            (basis, rate) = (.hint, h)
        } else {
            return (maxSeconds, .none)
        }
        let raw = safetyFactor * Double(samples) / rate + allowanceSeconds
        return (min(maxSeconds, max(min(minSeconds, maxSeconds), raw)), basis)
    }
}
