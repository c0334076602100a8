/// A 64-bit unsigned integer that travels in JSON as a decimal string (`"18446744073709551615"`).
///
/// Decoding also accepts a JSON number, for hand-written clients.
public struct DecimalUInt64: Codable, Sendable, Hashable {
    public var value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) {
            guard let v = UInt64(s) else {
                throw DecodingError.dataCorruptedError(
                    in: c, debugDescription: "expected a decimal unsigned 64-bit integer string, got \"\(s)\"")
            }
            value = v
        } else {
            value = try c.decode(UInt64.self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(String(value))
    }
}
