/// A coordinator operation failed; the message says what happened and what to do.
public struct CoordinatorError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) { self.description = description }
}
