/// Byte layout of the update envelope header (little-endian; Docs/WireFormats.md has the table).
enum EnvelopeLayout {
    /// "CTUP".
    static let magic: [UInt8] = Array("CTUP".utf8)
    /// Current envelope format version.
    static let version: UInt16 = 1
    /// Header bytes before the payload.
    static let headerSize = 120
    /// Largest element count a header may declare (keeps size arithmetic far from overflow).
    static let maxElements = 1 << 40

    // Field offsets.
    static let versionOffset = 4
    static let codecOffset = 6
    static let flagsOffset = 7
    static let paramOffset = 8
    static let schemaOffset = 16
    static let roundOffset = 24
    static let baseModelOffset = 32
    static let elementsOffset = 64
    static let rawSizeOffset = 72
    static let payloadLengthOffset = 80
    static let checksumOffset = 88

    /// Flag bit 0: a `WorkCommitment` block of `WorkCommitment.size` bytes follows the header.
    static let commitmentFlag: UInt8 = 1

    /// Codec ids on the wire.
    enum CodecID: UInt8 {
        case fp32 = 1, fp16 = 2, bf16 = 3, int8 = 4, topk = 5
    }

    static func wire(_ c: CodecSpec) -> (id: UInt8, param: UInt64) {
        switch c {
        case .fp32: return (CodecID.fp32.rawValue, 0)
        case .fp16: return (CodecID.fp16.rawValue, 0)
        case .bf16: return (CodecID.bf16.rawValue, 0)
        case .int8(let b): return (CodecID.int8.rawValue, UInt64(b))
        case .topk(let f): return (CodecID.topk.rawValue, f.bitPattern)
        }
    }

    static func codec(id: UInt8, param: UInt64) throws -> CodecSpec {
        guard let cid = CodecID(rawValue: id) else {
            throw CodecError(.unknownCodec, "codec id \(id) is unknown to this build (known: 1…5); upgrade crowdtrain")
        }
        let spec: CodecSpec
        switch cid {
        case .fp32, .fp16, .bf16:
            guard param == 0 else {
                throw CodecError(.badCodecParameters, "codec id \(id) takes no parameter but the header carries \(param)")
            }
            spec = cid == .fp32 ? .fp32 : cid == .fp16 ? .fp16 : .bf16
        case .int8:
            guard param >= 1, param <= UInt64(CodecSpec.int8BlockRange.upperBound) else {
                throw CodecError(.badCodecParameters, "int8 block size \(param) in the header is outside 1…65536")
            }
            spec = .int8(block: Int(param))
        case .topk:
            spec = .topk(fraction: Double(bitPattern: param))
        }
        try spec.validate()
        return spec
    }

    static func store<T: FixedWidthInteger>(_ v: T, _ p: UnsafeMutableRawBufferPointer, _ off: Int) {
        p.storeBytes(of: v.littleEndian, toByteOffset: off, as: T.self)
    }

    static func load<T: FixedWidthInteger>(_ p: UnsafeRawBufferPointer, _ off: Int, as: T.Type) -> T {
        T(littleEndian: p.loadUnaligned(fromByteOffset: off, as: T.self))
    }
}
