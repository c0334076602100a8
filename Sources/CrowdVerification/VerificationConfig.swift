/// campaign.json `verification`: how the coordinator checks that updates come from the leased work
/// (Docs/Protocol.md "Verified work", Docs/ThreatModel.md).
public struct VerificationConfig: Codable, Sendable, Equatable {
    /// Peers commit to their trajectories and a sample of updates is challenged (default true).
    public var enabled: Bool
    /// Inner steps per committed segment; nil: `localSteps / 10` rounded up (ten segments a lease), at most 25.
    public var segmentSteps: Int?
    /// A peer's first `newPeerUpdates` updates are all challenged.
    public var newPeerUpdates: Int
    /// After those, the challenge rate falls by `decay` per clean verification down to `floorRate`; any failed or
    /// unanswered challenge puts the peer back to 1.
    public var decay: Double
    public var floorRate: Double
    /// Credit of an unchallenged (or still unverified) update is held for this many rounds after its round closes;
    /// a peer caught cheating in that time loses it.
    public var windowRounds: Int
    /// Seconds a peer has to answer a challenge; an unanswered challenge forfeits that update's credit.
    public var challengeSeconds: Double
    /// Largest relative distance of a re-executed segment from the committed state that still passes (honest
    /// kernels and thread counts differ by far less; Docs/Architecture.md "Deterministic training").
    public var tolerance: Double
    /// Largest relative distance of the upload from θ_0 − θ_H (int8/fp16/bf16 error plus the error-feedback
    /// residual; not checked for top-k codecs).
    public var updateTolerance: Double
    /// Bytes of waiting proofs and uploads the coordinator's verifier queue keeps in memory; beyond it they wait on
    /// disk in `<dir>/verifier-queue/` (default 64 MiB; 0 spills every waiting job).
    public var queueMemoryBytes: Int

    public init(
        enabled: Bool = true, segmentSteps: Int? = nil, newPeerUpdates: Int = 5, decay: Double = 0.8,
        floorRate: Double = 0.2, windowRounds: Int = 3, challengeSeconds: Double = 120, tolerance: Double = 0.01,
        updateTolerance: Double = 0.1, queueMemoryBytes: Int = 64 << 20
    ) {
        self.enabled = enabled
        self.segmentSteps = segmentSteps
        self.newPeerUpdates = newPeerUpdates
        self.decay = decay
        self.floorRate = floorRate
        self.windowRounds = windowRounds
        self.challengeSeconds = challengeSeconds
        self.tolerance = tolerance
        self.updateTolerance = updateTolerance
        self.queueMemoryBytes = queueMemoryBytes
    }

    enum CodingKeys: String, CodingKey {
        case enabled, segmentSteps, newPeerUpdates, decay, floorRate, windowRounds, challengeSeconds, tolerance
        case updateTolerance, queueMemoryBytes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = VerificationConfig()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        segmentSteps = try c.decodeIfPresent(Int.self, forKey: .segmentSteps)
        newPeerUpdates = try c.decodeIfPresent(Int.self, forKey: .newPeerUpdates) ?? d.newPeerUpdates
        decay = try c.decodeIfPresent(Double.self, forKey: .decay) ?? d.decay
        floorRate = try c.decodeIfPresent(Double.self, forKey: .floorRate) ?? d.floorRate
        windowRounds = try c.decodeIfPresent(Int.self, forKey: .windowRounds) ?? d.windowRounds
        challengeSeconds = try c.decodeIfPresent(Double.self, forKey: .challengeSeconds) ?? d.challengeSeconds
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? d.tolerance
        updateTolerance = try c.decodeIfPresent(Double.self, forKey: .updateTolerance) ?? d.updateTolerance
        queueMemoryBytes = try c.decodeIfPresent(Int.self, forKey: .queueMemoryBytes) ?? d.queueMemoryBytes
    }

    /// Problems with the values, each naming the key (empty when valid).
    public func problems(localSteps: Int) -> [String] {
        var out: [String] = []
        if let s = segmentSteps, s < 1 || s > localSteps {
            out.append("verification.segmentSteps must be in 1…localSteps (\(localSteps)), not \(s)")
        }
        if newPeerUpdates < 0 { out.append("verification.newPeerUpdates must be ≥ 0") }
        if !(decay >= 0 && decay <= 1) { out.append("verification.decay must be in [0, 1]") }
        if !(floorRate >= 0 && floorRate <= 1) {
            out.append("verification.floorRate must be in [0, 1] (0: no challenges once a peer has a clean record)")
        }
        if windowRounds < 0 { out.append("verification.windowRounds must be ≥ 0") }
        if queueMemoryBytes < 0 { out.append("verification.queueMemoryBytes must be ≥ 0") }
        if !(challengeSeconds >= 1 && challengeSeconds.isFinite) {
            out.append("verification.challengeSeconds must be at least 1")
        }
        if !(tolerance >= 0 && tolerance < 1) { out.append("verification.tolerance must be in [0, 1)") }
        if !(updateTolerance >= 0 && updateTolerance < 1) { out.append("verification.updateTolerance must be in [0, 1)") }
        return out
    }

    /// Longest default segment: past 25 steps from a fresh byte GPT, honest kernels drift apart faster than the
    /// tolerance allows (Docs/Architecture.md "Deterministic training and the verification tolerance").
    public static let maxDefaultSegmentSteps = 25

    /// Steps per segment for a lease of `localSteps` steps: `segmentSteps`, or a tenth of the lease (at most 25).
    public func segmentSteps(localSteps: Int) -> Int {
        max(1, min(localSteps, segmentSteps ?? min(Self.maxDefaultSegmentSteps, (localSteps + 9) / 10)))
    }

    /// The challenge probability of a peer whose record holds `clean` consecutive clean verifications.
    public func challengeRate(clean: Int) -> Double {
        if clean < newPeerUpdates { return 1 }
        var r = 1.0
        for _ in 0..<min(clean - newPeerUpdates + 1, 200) { r *= decay }
        return max(floorRate, r)
    }
}
