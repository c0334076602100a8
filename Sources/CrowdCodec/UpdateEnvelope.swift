import Crypto
import Foundation

/// The update envelope: a fixed 120-byte header (magic, version, codec, schema hash, round, base model,
/// element count, raw and payload sizes, SHA-256 of header fields + payload) followed by one zstd frame.
///
/// Decoding treats its input as hostile: every size is checked against what the receiver expects before
/// a byte is inflated, and the decoder allocates at most the raw payload plus the output floats
/// (≤ 2 × 4 · elementCount bytes).
public enum UpdateEnvelope {
    /// Bytes before the payload.
    public static let headerSize = EnvelopeLayout.headerSize
    /// Current format version.
    public static let formatVersion = EnvelopeLayout.version

    /// Upper bound on an envelope's size, for HTTP body limits.
    public static func maxEnvelopeBytes(elementCount: Int, codec: CodecSpec) -> Int {
        headerSize + WorkCommitment.size + Zstd.compressBound(codec.rawPayloadSize(elements: elementCount))
    }

    /// Encodes `update` with `header.codec` and zstd at `level` (default 1).
    /// - Throws: `CodecError` (`.invalidInput` for NaN/Inf or unrepresentable values, `.badCodecParameters`,
    ///   `.elementCountMismatch` when `header.elementCount != update.count`).
    public static func encode(_ update: [Float], header: EnvelopeHeader, level: Int32 = 1) throws -> Data {
        try update.withUnsafeBufferPointer { try encode(values: $0, header: header, level: level, reconstruction: nil) }
    }

    /// Encodes and, if `reconstruction` is given, writes there exactly what `decode` will return.
    static func encode(
        values: UnsafeBufferPointer<Float>, header: EnvelopeHeader, level: Int32,
        reconstruction: UnsafeMutableBufferPointer<Float>?
    ) throws -> Data {
        try header.codec.validate()
        let n = values.count
        guard header.elementCount == n else {
            throw CodecError(
                .elementCountMismatch, "header says \(header.elementCount) elements but the update has \(n)")
        }
        guard n >= 1, n <= EnvelopeLayout.maxElements else {
            throw CodecError(.invalidInput, "an update must have 1…2⁴⁰ elements, not \(n)")
        }
        guard header.baseModel.count == 32 else {
            throw CodecError(.invalidInput, "base model id must be 32 bytes (SHA-256), got \(header.baseModel.count)")
        }
        try header.commitment?.validate()
        guard Zstd.levelRange.contains(level) else {
            throw CodecError(.badCodecParameters, "zstd level \(level) is outside \(Zstd.levelRange)")
        }
        let rawSize = header.codec.rawPayloadSize(elements: n)
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(rawSize, 1), alignment: 16)
        defer { raw.deallocate() }
        let rawView = UnsafeMutableRawBufferPointer(rebasing: raw[0..<rawSize])
        try PayloadCodec.encode(values, codec: header.codec, into: rawView, reconstruction: reconstruction)

        let prefix = header.prefixSize
        var out = Data(count: prefix + Zstd.compressBound(rawSize))
        let payloadLength = try out.withUnsafeMutableBytes { p -> Int in
            let dst = UnsafeMutableRawBufferPointer(rebasing: p[prefix...])
            let c = try Zstd.withCompressionContext {
                try Zstd.compress(UnsafeRawBufferPointer(rawView), into: dst, level: level, context: $0)
            }
            writeHeader(header, rawSize: rawSize, payloadLength: c, digest: nil, into: p)
            let digest = checksum(
                UnsafeRawBufferPointer(p), prefix: prefix, payload: UnsafeRawBufferPointer(rebasing: dst[0..<c]))
            for i in 0..<32 { p[EnvelopeLayout.checksumOffset + i] = digest[i] }
            return c
        }
        out.count = prefix + payloadLength
        return out
    }

    /// Writes the header fields (everything but the payload) into the first `headerSize` bytes of `p`.
    static func writeHeader(
        _ h: EnvelopeHeader, rawSize: Int, payloadLength: Int, digest: [UInt8]?, into p: UnsafeMutableRawBufferPointer
    ) {
        let L = EnvelopeLayout.self
        let (id, param) = L.wire(h.codec)
        for (i, b) in L.magic.enumerated() { p[i] = b }
        L.store(L.version, p, L.versionOffset)
        p[L.codecOffset] = id
        p[L.flagsOffset] = h.commitment == nil ? 0 : L.commitmentFlag
        L.store(param, p, L.paramOffset)
        L.store(h.schemaHash, p, L.schemaOffset)
        L.store(h.round, p, L.roundOffset)
        for i in 0..<32 { p[L.baseModelOffset + i] = h.baseModel[i] }
        L.store(UInt64(h.elementCount), p, L.elementsOffset)
        L.store(UInt64(rawSize), p, L.rawSizeOffset)
        L.store(UInt64(payloadLength), p, L.payloadLengthOffset)
        for i in 0..<32 { p[L.checksumOffset + i] = digest?[i] ?? 0 }
        h.commitment?.write(into: p, at: L.headerSize)
    }

    /// SHA-256 over the 88 header bytes before the checksum field, the commitment block (if any), then the
    /// payload: any flipped bit in the header, commitment or payload is detected, including codec parameters that
    /// would otherwise decode "validly".
    static func checksum(_ header: UnsafeRawBufferPointer, prefix: Int, payload: UnsafeRawBufferPointer) -> [UInt8] {
        var h = SHA256()
        h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: header[0..<EnvelopeLayout.checksumOffset]))
        if prefix > EnvelopeLayout.headerSize {
            h.update(bufferPointer: UnsafeRawBufferPointer(rebasing: header[EnvelopeLayout.headerSize..<prefix]))
        }
        h.update(bufferPointer: payload)
        return Array(h.finalize())
    }

    /// Builds an envelope around an arbitrary payload (the fuzzer and tests use this to reach the deep checks).
    static func assemble(_ header: EnvelopeHeader, rawSize: Int, payload: [UInt8]) -> Data {
        var h = header
        h.commitment = nil
        var out = Data(count: headerSize + payload.count)
        out.withUnsafeMutableBytes { p in
            writeHeader(h, rawSize: rawSize, payloadLength: payload.count, digest: nil, into: p)
            let digest = payload.withUnsafeBytes {
                checksum(UnsafeRawBufferPointer(p), prefix: headerSize, payload: $0)
            }
            for i in 0..<32 { p[EnvelopeLayout.checksumOffset + i] = digest[i] }
            for (i, b) in payload.enumerated() { p[headerSize + i] = b }
        }
        return out
    }

    /// Reads and structurally validates the header without touching the payload: magic, version, codec,
    /// sizes consistent with the codec and with `data.count`.
    public static func peekHeader(_ data: Data) throws -> EnvelopeHeader {
        try data.withUnsafeBytes { try parseHeader($0).header }
    }

    struct Parsed {
        var header: EnvelopeHeader
        var rawSize: Int
        var digest: [UInt8]
    }

    static func parseHeader(_ p: UnsafeRawBufferPointer) throws -> Parsed {
        let L = EnvelopeLayout.self
        guard p.count >= 4, Array(p[0..<4]) == L.magic else {
            throw CodecError(.badMagic, "not a CrowdTrain update envelope (expected magic \"CTUP\")")
        }
        guard p.count >= headerSize else {
            throw CodecError(.truncated, "envelope is \(p.count) bytes, shorter than its \(headerSize)-byte header")
        }
        let version = L.load(p, L.versionOffset, as: UInt16.self)
        guard version == L.version else {
            throw CodecError(
                .unsupportedVersion, "envelope version \(version) is not supported (this build reads \(L.version))")
        }
        let flags = p[L.flagsOffset]
        guard flags & ~L.commitmentFlag == 0 else {
            throw CodecError(.unknownCodec, "flags byte is \(flags); only bit 0 (commitment block) is defined")
        }
        let prefix = headerSize + (flags & L.commitmentFlag != 0 ? WorkCommitment.size : 0)
        guard p.count >= prefix else {
            throw CodecError(.truncated, "envelope is \(p.count) bytes, shorter than its header and commitment block")
        }
        let commitment = flags & L.commitmentFlag != 0 ? try WorkCommitment.read(p, at: headerSize) : nil
        let codec = try L.codec(id: p[L.codecOffset], param: L.load(p, L.paramOffset, as: UInt64.self))
        let elements = L.load(p, L.elementsOffset, as: UInt64.self)
        guard elements >= 1, elements <= UInt64(L.maxElements) else {
            throw CodecError(.elementCountMismatch, "envelope declares \(elements) elements (allowed 1…2⁴⁰)")
        }
        let n = Int(elements)
        let rawSize = codec.rawPayloadSize(elements: n)
        let declaredRaw = L.load(p, L.rawSizeOffset, as: UInt64.self)
        guard declaredRaw == UInt64(rawSize) else {
            throw CodecError(
                .sizeMismatch, "envelope declares a \(declaredRaw)-byte raw payload; \(codec) × \(n) is \(rawSize)")
        }
        let payloadLength = L.load(p, L.payloadLengthOffset, as: UInt64.self)
        guard payloadLength <= UInt64(Zstd.compressBound(rawSize)) else {
            throw CodecError(
                .sizeMismatch, "payload of \(payloadLength) bytes exceeds zstd's bound for \(rawSize) raw bytes")
        }
        let actual = p.count - prefix
        if payloadLength > UInt64(actual) {
            throw CodecError(.truncated, "envelope declares a \(payloadLength)-byte payload but only \(actual) follow")
        }
        if payloadLength < UInt64(actual) {
            throw CodecError(
                .trailingBytes, "\(UInt64(actual) - payloadLength) bytes follow the declared \(payloadLength)-byte payload")
        }
        let header = EnvelopeHeader(
            schemaHash: L.load(p, L.schemaOffset, as: UInt64.self),
            round: L.load(p, L.roundOffset, as: UInt64.self),
            baseModel: Array(p[L.baseModelOffset..<(L.baseModelOffset + 32)]),
            codec: codec, elementCount: n, commitment: commitment)
        return Parsed(header: header, rawSize: rawSize, digest: Array(p[L.checksumOffset..<(L.checksumOffset + 32)]))
    }

    /// Decodes an envelope, refusing anything that does not match `expecting` exactly.
    /// - Returns: the header and `expecting.elementCount` finite values.
    /// - Throws: `CodecError`; nothing is inflated before all header checks and the SHA-256 pass.
    public static func decode(_ data: Data, expecting e: EnvelopeExpectation) throws -> (
        header: EnvelopeHeader, values: [Float]
    ) {
        try data.withUnsafeBytes { p in
            let parsed = try parseHeader(p)
            let h = parsed.header
            guard h.schemaHash == e.schemaHash else {
                throw CodecError(
                    .schemaMismatch,
                    "update is for model layout \(hex(h.schemaHash)), this round's layout is \(hex(e.schemaHash))")
            }
            guard h.round == e.round else {
                throw CodecError(.roundMismatch, "update is for round \(h.round), expected round \(e.round)")
            }
            guard h.baseModel == e.baseModel else {
                throw CodecError(
                    .baseModelMismatch, "update was computed from a different base model; fetch the current checkpoint")
            }
            if let want = e.codec, want != h.codec {
                throw CodecError(
                    .codecMismatch, "update is encoded as \(h.codec), the lease asked for \(want); encode it as the lease says")
            }
            guard h.elementCount == e.elementCount else {
                throw CodecError(
                    .elementCountMismatch, "update has \(h.elementCount) elements, the layout has \(e.elementCount)")
            }
            let prefix = h.prefixSize
            let payload = UnsafeRawBufferPointer(rebasing: p[prefix...])
            guard checksum(p, prefix: prefix, payload: payload) == parsed.digest else {
                throw CodecError(
                    .checksumMismatch, "SHA-256 of header and payload does not match the envelope; the upload is corrupt")
            }
            let n = h.elementCount
            let values = try [Float](unsafeUninitializedCapacity: n) { buf, initialized in
                try Zstd.withDecompressionContext { ctx in
                    if case .fp32 = h.codec {
                        // Inflate straight into the output: no intermediate buffer.
                        try Zstd.decompressExactly(payload, into: UnsafeMutableRawBufferPointer(buf), context: ctx)
                        try PayloadCodec.checkDecodedFinite(UnsafeBufferPointer(buf))
                    } else {
                        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: parsed.rawSize, alignment: 16)
                        defer { raw.deallocate() }
                        try Zstd.decompressExactly(payload, into: raw, context: ctx)
                        try PayloadCodec.decode(UnsafeRawBufferPointer(raw), codec: h.codec, into: buf)
                    }
                }
                initialized = n
            }
            return (h, values)
        }
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
