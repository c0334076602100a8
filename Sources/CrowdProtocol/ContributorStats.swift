/// `GET /v1/stats?top=N` (public): contributors sorted by credit, highest first.
public struct ContributorStats: Codable, Sendable, Equatable {
    public var contributors: [ContributorRow]
    /// Credit unit, always `GFLOP`.
    public var creditUnit: String

    public init(contributors: [ContributorRow], creditUnit: String = "GFLOP") {
        self.contributors = contributors
        self.creditUnit = creditUnit
    }
}
