import Foundation

/// Which representation an update is quantized to before zstd.
///
/// The textual form (`description`, `init(parsing:)`, and the Codable encoding) is what users type
/// and what configuration files hold: `fp32`, `fp16`, `bf16`, `int8` (block 256), `int8:128`, `topk:0.01`.
public enum CodecSpec: Sendable, Hashable, CustomStringConvertible {
    /// Raw IEEE float32, lossless.
    case fp32
    /// IEEE binary16, round-to-nearest-even. Values beyond ±65504 cannot be encoded.
    case fp16
    /// bfloat16 (upper 16 bits of float32), round-to-nearest-even.
    case bf16
    /// Block-wise int8: one bf16 scale per `block` values, `q = round(x / scale)` in −127…127.
    case int8(block: Int)
    /// Top-k by magnitude, `k = ceil(fraction · n)`: sorted, delta-coded uint32 indices and float32 values.
    case topk(fraction: Double)

    /// Default int8 block size.
    public static let defaultInt8Block = 256
    /// Allowed int8 block sizes.
    public static let int8BlockRange = 1...65_536
    /// Largest top-k fraction: above one half, top-k costs more bytes than fp32.
    public static let maxTopKFraction = 0.5

    /// Parses `fp32`, `fp16`, `bf16`, `int8`, `int8:BLOCK`, `topk:FRACTION` (case-insensitive).
    /// - Throws: `CodecError` with code `.badCodecParameters` naming the accepted forms.
    public init(parsing text: String) throws {
        let lower = text.lowercased().trimmingCharacters(in: .whitespaces)
        let parts = lower.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let arg = parts.count > 1 ? parts[1] : nil
        switch (parts[0], arg) {
        case ("fp32", nil): self = .fp32
        case ("fp16", nil): self = .fp16
        case ("bf16", nil): self = .bf16
        case ("int8", nil): self = .int8(block: Self.defaultInt8Block)
        case ("int8", let a?):
            guard let b = Int(a), Self.int8BlockRange.contains(b) else {
                throw CodecError(.badCodecParameters, "int8 block size '\(a)' is not an integer in 1…65536, e.g. int8:256")
            }
            self = .int8(block: b)
        case ("topk", let a?):
            guard let f = Double(a), f.isFinite, f > 0, f <= Self.maxTopKFraction else {
                throw CodecError(.badCodecParameters, "top-k fraction '\(a)' must be a number in (0, 0.5], e.g. topk:0.01")
            }
            self = .topk(fraction: f)
        default:
            throw CodecError(
                .badCodecParameters,
                "unknown codec '\(text)': use fp32, fp16, bf16, int8, int8:BLOCK or topk:FRACTION (e.g. topk:0.01)")
        }
    }

    public var description: String {
        switch self {
        case .fp32: return "fp32"
        case .fp16: return "fp16"
        case .bf16: return "bf16"
        case .int8(let b): return b == Self.defaultInt8Block ? "int8" : "int8:\(b)"
        case .topk(let f): return "topk:\(f)"
        }
    }

    /// Checks the parameters (block range, fraction range). Encoders and decoders call this first.
    public func validate() throws {
        switch self {
        case .fp32, .fp16, .bf16: return
        case .int8(let b):
            guard Self.int8BlockRange.contains(b) else {
                throw CodecError(.badCodecParameters, "int8 block size \(b) is outside 1…65536")
            }
        case .topk(let f):
            guard f.isFinite, f > 0, f <= Self.maxTopKFraction else {
                throw CodecError(.badCodecParameters, "top-k fraction \(f) is outside (0, 0.5]")
            }
        }
    }

    /// Number of values top-k keeps out of `n`: `ceil(fraction · n)` clamped to 1…n.
    public static func topKCount(elements n: Int, fraction: Double) -> Int {
        guard n > 0 else { return 0 }
        let k = (fraction * Double(n)).rounded(.up)
        return Swift.max(1, Swift.min(n, Int(k)))
    }

    /// Size in bytes of the payload before zstd for `n` elements (see Docs/WireFormats.md).
    public func rawPayloadSize(elements n: Int) -> Int {
        switch self {
        case .fp32: return 4 * n
        case .fp16, .bf16: return 2 * n
        case .int8(let b): return 2 * ((n + b - 1) / b) + n
        case .topk(let f): return 8 * Self.topKCount(elements: n, fraction: f)
        }
    }
}

extension CodecSpec: Codable {
    /// Encoded as its textual form, e.g. `"int8"` or `"topk:0.01"`.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
