/// The self-describing fields of an update envelope (see Docs/WireFormats.md).
public struct EnvelopeHeader: Sendable, Equatable {
    /// `ParameterLayout.schemaHash` of the model the update applies to.
    public var schemaHash: UInt64
    /// Coordinator round the update belongs to.
    public var round: UInt64
    /// 32-byte SHA-256 of the base checkpoint the delta was computed from.
    public var baseModel: [UInt8]
    /// Representation of the payload.
    public var codec: CodecSpec
    /// Number of float32 values in the update.
    public var elementCount: Int
    /// The peer's commitment to its training trajectory (flag bit 0 and a 128-byte block after the header).
    public var commitment: WorkCommitment?

    public init(
        schemaHash: UInt64, round: UInt64, baseModel: [UInt8], codec: CodecSpec, elementCount: Int,
        commitment: WorkCommitment? = nil
    ) {
        self.schemaHash = schemaHash
        self.round = round
        self.baseModel = baseModel
        self.codec = codec
        self.elementCount = elementCount
        self.commitment = commitment
    }

    /// Bytes before the compressed payload: the fixed header and, if present, the commitment block.
    public var prefixSize: Int { EnvelopeLayout.headerSize + (commitment == nil ? 0 : WorkCommitment.size) }
}

/// What a receiver knows before it reads an envelope; every field must match exactly.
public struct EnvelopeExpectation: Sendable {
    /// Schema hash of the model layout.
    public var schemaHash: UInt64
    /// Current round.
    public var round: UInt64
    /// 32-byte SHA-256 of the round's base checkpoint.
    public var baseModel: [UInt8]
    /// Parameter count of the layout; bounds every allocation of the decoder.
    public var elementCount: Int
    /// The codec the receiver asked for (codec, int8 block size, top-k density all must match); nil accepts any.
    public var codec: CodecSpec?

    public init(schemaHash: UInt64, round: UInt64, baseModel: [UInt8], elementCount: Int, codec: CodecSpec? = nil) {
        self.schemaHash = schemaHash
        self.round = round
        self.baseModel = baseModel
        self.elementCount = elementCount
        self.codec = codec
    }
}
