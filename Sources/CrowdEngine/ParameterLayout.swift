/// One named tensor inside a flat parameter buffer.
public struct TensorSpec: Sendable, Hashable, Codable {
    /// Dotted name, e.g. `fc1.weight` or `h.0.attn.c_attn.weight`.
    public var name: String
    /// Shape, outermost first (row-major). `[out, in]` for linear weights, as in PyTorch.
    public var shape: [Int]
    /// Offset of the first element in the flat buffer.
    public var offset: Int
    /// Whether AdamW's decoupled weight decay applies (PyTorch/nanoGPT: tensors with ≥ 2 dimensions).
    public var decay: Bool

    /// Element count (product of the shape).
    public var count: Int { shape.reduce(1, *) }
    /// Half-open element range inside the flat buffer.
    public var range: Range<Int> { offset..<(offset + count) }
}

/// Names, shapes and offsets of every tensor of a model inside one flat buffer.
///
/// Parameters, gradients and each optimizer moment share the same layout, so a tensor's view is
/// the same offset in each buffer. The `schemaHash` identifies the layout (names, shapes, order and
/// the model kind); nothing is averaged or loaded unless schema hashes match.
public struct ParameterLayout: Sendable, Hashable {
    /// Model family, e.g. `mlp` or `gpt`; part of the schema hash.
    public let kind: String
    /// Tensors in buffer order, without gaps.
    public let tensors: [TensorSpec]
    /// Total element count.
    public let count: Int
    /// FNV-1a 64-bit hash of the canonical description (see `canonicalDescription`).
    public let schemaHash: UInt64
    private let index: [String: Int]

    /// Builds a layout by packing `(name, shape)` pairs back to back. Names must be unique.
    /// - Parameter decay: decides whether weight decay applies; defaults to "rank ≥ 2".
    public init(kind: String, tensors spec: [(String, [Int])], decay: (String, [Int]) -> Bool = { $1.count >= 2 }) {
        var out: [TensorSpec] = []
        var offset = 0
        var index: [String: Int] = [:]
        for (name, shape) in spec {
            precondition(index[name] == nil, "duplicate tensor name \(name)")
            precondition(shape.allSatisfy { $0 > 0 }, "tensor \(name) has a non-positive dimension \(shape)")
            index[name] = out.count
            let t = TensorSpec(name: name, shape: shape, offset: offset, decay: decay(name, shape))
            out.append(t)
            offset += t.count
        }
        self.kind = kind
        self.tensors = out
        self.count = offset
        self.index = index
        self.schemaHash = FNV1a64.hash(Self.describe(kind: kind, tensors: out))
    }

    /// The string the schema hash is computed over: `kind|name:d0xd1;…`.
    public var canonicalDescription: String { Self.describe(kind: kind, tensors: tensors) }

    private static func describe(kind: String, tensors: [TensorSpec]) -> String {
        kind + "|" + tensors.map { "\($0.name):" + $0.shape.map(String.init).joined(separator: "x") }.joined(separator: ";")
    }

    /// The tensor named `name`; traps if absent (layouts are built by the engine, not from input).
    public subscript(name: String) -> TensorSpec {
        guard let i = index[name] else { preconditionFailure("no tensor named \(name) in layout \(kind)") }
        return tensors[i]
    }

    /// Whether a tensor named `name` exists.
    public func contains(_ name: String) -> Bool { index[name] != nil }

    /// Schema hash as 16 lowercase hex digits.
    public var schemaHashHex: String { hex64(schemaHash) }
}

/// Formats a 64-bit value as 16 lowercase hex digits.
public func hex64(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}

/// FNV-1a, 64 bit. Used for schema hashes and checkpoint checksums inside the engine, which has no
/// dependency on a crypto library. Not a security boundary: the coordinator additionally records
/// SHA-256 digests of every file it serves or accepts.
public enum FNV1a64 {
    public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    public static let prime: UInt64 = 0x0000_0100_0000_01b3

    /// Hash of the UTF-8 bytes of `s`.
    public static func hash(_ s: String) -> UInt64 { hash(Array(s.utf8)) }

    /// Hash of `bytes`, continuing from `seed`.
    public static func hash<C: Collection>(_ bytes: C, seed: UInt64 = offsetBasis) -> UInt64 where C.Element == UInt8 {
        var h = seed
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }

    /// Hash of raw memory, continuing from `seed`.
    public static func hash(_ raw: UnsafeRawBufferPointer, seed: UInt64 = offsetBasis) -> UInt64 {
        var h = seed
        for b in raw { h = (h ^ UInt64(b)) &* prime }
        return h
    }
}
