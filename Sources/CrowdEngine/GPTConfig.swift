/// Shape of a byte-level GPT (nanoGPT semantics: pre-LayerNorm blocks without biases, tied LM head).
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `layers` | int | 4 | transformer blocks |
/// | `heads` | int | 4 | attention heads per block; must divide `width` |
/// | `width` | int | 128 | embedding width C |
/// | `block` | int | 64 | context length T (positions) |
/// | `vocab` | int | 256 | vocabulary size (bytes) |
public struct GPTConfig: Codable, Sendable, Hashable, CustomStringConvertible {
    public var layers: Int
    public var heads: Int
    public var width: Int
    public var block: Int
    public var vocab: Int

    public init(layers: Int = 4, heads: Int = 4, width: Int = 128, block: Int = 64, vocab: Int = 256) {
        self.layers = layers; self.heads = heads; self.width = width; self.block = block; self.vocab = vocab
    }

    /// Width of one attention head (`width / heads`).
    public var headSize: Int { width / heads }

    /// Parameter count: `V·C + T·C + L·(12·C² + 2·C) + C` (the tied LM head counted once).
    public var parameterCount: Int {
        vocab * width + block * width + layers * (12 * width * width + 2 * width) + width
    }

    /// Throws a `GPTConfigError` naming the first invalid field.
    public func validate() throws {
        guard layers >= 1 else { throw GPTConfigError("layers must be at least 1 (got \(layers))") }
        guard heads >= 1 else { throw GPTConfigError("heads must be at least 1 (got \(heads))") }
        guard width >= 1, width % heads == 0 else {
            throw GPTConfigError("width (\(width)) must be a positive multiple of heads (\(heads))")
        }
        guard block >= 1 else { throw GPTConfigError("block must be at least 1 (got \(block))") }
        guard (1...65536).contains(vocab) else { throw GPTConfigError("vocab must be in 1…65536 (got \(vocab))") }
        // Bounds that keep every size computed from the shape far inside Int, checked without relying on overflow
        // traps (the engine is built with -Ounchecked): a configuration read from a file or the network cannot
        // make a buffer's size wrap around.
        guard layers <= 1024, heads <= 1024, width <= 65536, block <= 65536 else {
            throw GPTConfigError("layers and heads must be at most 1024, width and block at most 65536 (got \(self))")
        }
        guard parameterCount <= Self.maxParameters else {
            throw GPTConfigError("\(parameterCount) parameters is more than the engine's limit of \(Self.maxParameters)")
        }
    }

    /// The most parameters a GPT may have (2^32: 16 GiB of float32, beyond any volunteer's machine).
    public static let maxParameters = 1 << 32

    /// The fields in which `other` differs from `self`, e.g. `["layers 2 ≠ 4"]` (other first).
    public func differences(from other: GPTConfig) -> [String] {
        var out: [String] = []
        let fields: [(String, Int, Int)] = [
            ("layers", other.layers, layers), ("heads", other.heads, heads), ("width", other.width, width),
            ("block", other.block, block), ("vocab", other.vocab, vocab),
        ]
        for (name, a, b) in fields where a != b { out.append("\(name) \(a) ≠ \(b)") }
        return out
    }

    public var description: String {
        "layers \(layers), heads \(heads), width \(width), block \(block), vocab \(vocab)"
    }
}

/// A GPT configuration is invalid or does not match; the message says which field.
public struct GPTConfigError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
