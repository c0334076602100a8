/// A peer-side failure with a message that says what to do.
public struct PeerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
