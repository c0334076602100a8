/// Saved progress does not fit the lease it was offered for; the daemon discards it and starts the lease afresh.
public struct LeaseProgressMismatch: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
