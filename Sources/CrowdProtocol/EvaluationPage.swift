/// `GET /v1/evaluations?after=ROUND&limit=N` (public): one page of the evaluation history, oldest first.
public struct EvaluationPage: Codable, Sendable, Equatable {
    /// Largest page.
    public static let maxLimit = 500

    public var evaluations: [EvaluationPoint]
    /// Pass as `after` for the next page; nil on the last page.
    public var next: UInt64?

    public init(evaluations: [EvaluationPoint], next: UInt64?) {
        self.evaluations = evaluations
        self.next = next
    }
}
