/// A codec failure: encoding bad input, or refusing a malformed or hostile envelope.
///
/// `code` is stable (snake_case raw values) so the network layer can map it to protocol errors;
/// `message` says what was wrong and what to do.
public struct CodecError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable failure categories.
    public enum Code: String, Sendable, CaseIterable {
        /// The codec string or envelope codec parameters are invalid.
        case badCodecParameters = "bad_codec_parameters"
        /// Encode-side: the update contains NaN/Inf or a value the codec cannot represent.
        case invalidInput = "invalid_input"
        /// The envelope is shorter than its header or declared payload.
        case truncated
        /// Bytes follow the declared payload.
        case trailingBytes = "trailing_bytes"
        /// Not an update envelope.
        case badMagic = "bad_magic"
        /// Envelope format version not supported by this build.
        case unsupportedVersion = "unsupported_version"
        /// Unknown codec id or non-zero reserved flags.
        case unknownCodec = "unknown_codec"
        /// Model layout schema hash differs from the expected one.
        case schemaMismatch = "schema_mismatch"
        /// Round differs from the expected one.
        case roundMismatch = "round_mismatch"
        /// Base model id differs from the expected one.
        case baseModelMismatch = "base_model_mismatch"
        /// Codec, int8 block size or top-k fraction differs from the expected one.
        case codecMismatch = "codec_mismatch"
        /// Element count differs from the layout's parameter count.
        case elementCountMismatch = "element_count_mismatch"
        /// Declared raw payload size (or zstd frame content size) differs from what the codec implies.
        case sizeMismatch = "size_mismatch"
        /// SHA-256 of the payload does not match.
        case checksumMismatch = "checksum_mismatch"
        /// The zstd frame is malformed, lacks a content size, uses too large a window, or is not exactly one frame.
        case badFrame = "bad_frame"
        /// zstd reported an error while inflating.
        case decompressionFailed = "decompression_failed"
        /// A decoded value or scale is NaN/Inf or out of range.
        case nonFiniteValue = "non_finite_value"
        /// An int8 code is −128 (outside the symmetric −127…127 range).
        case quantOutOfRange = "quant_out_of_range"
        /// A top-k index is out of range or not strictly increasing.
        case badIndices = "bad_indices"
        /// zstd could not compress (should not happen; reports the zstd error).
        case compressionFailed = "compression_failed"
    }

    /// The category.
    public let code: Code
    /// What was wrong, with a hint.
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "update codec error [\(code.rawValue)]: \(message)" }
}
