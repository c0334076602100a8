/// Lowercase hexadecimal text of bytes (digests, ids). A table lookup: `String(format: "%02x")` per byte costs a
/// Foundation format parse each time, which showed up at 6% of the coordinator's busiest thread under load.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func lowercase<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
