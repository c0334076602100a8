/// Header names and content types used by the API.
public enum ProtocolHeaders {
    /// Optional on `PUT /v1/updates/{leaseID}`: the peer's mean local training loss (decimal float). Informational.
    public static let trainLoss = "X-Crowd-Train-Loss"
    /// Binary bodies: checkpoints, shards, update envelopes.
    public static let octetStream = "application/octet-stream"
    /// Control messages.
    public static let json = "application/json"
}
