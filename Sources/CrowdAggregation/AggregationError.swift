/// An aggregation setting or input is invalid; the message says what was wrong and what to do.
public struct AggregationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
