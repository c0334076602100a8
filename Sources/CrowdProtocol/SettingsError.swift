/// A setting of a campaign file or a lease is out of range; the message says which and what to use instead.
public struct SettingsError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
