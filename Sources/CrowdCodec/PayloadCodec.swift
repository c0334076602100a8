#if _endian(big)
#error("CrowdCodec's wire formats are little-endian and this code assumes a little-endian host")
#endif

/// Turns float32 values into a codec's raw payload (before zstd) and back. Layouts: Docs/WireFormats.md.
enum PayloadCodec {
    /// Encodes `x` into `raw` (exactly `codec.rawPayloadSize(elements: x.count)` bytes, 16-byte aligned).
    /// If `reconstruction` is given it receives exactly what `decode` will produce.
    static func encode(
        _ x: UnsafeBufferPointer<Float>, codec: CodecSpec, into raw: UnsafeMutableRawBufferPointer,
        reconstruction: UnsafeMutableBufferPointer<Float>?
    ) throws {
        let n = x.count
        switch codec {
        case .fp32:
            try checkFinite(x)
            raw.baseAddress!.copyMemory(from: x.baseAddress!, byteCount: 4 * n)
            if let r = reconstruction { r.baseAddress!.update(from: x.baseAddress!, count: n) }
        case .fp16:
            try checkFinite(x)
            let h = raw.baseAddress!.bindMemory(to: UInt16.self, capacity: n)
            var overflow: UInt16 = 0
            for i in 0..<n {
                let v = HalfFloat.fp16(fromFloatBits: x[i].bitPattern)
                overflow |= (v & 0x7C00) == 0x7C00 ? 1 : 0
                h[i] = v
            }
            if overflow != 0 {
                let i = (0..<n).first { abs(x[$0]) > 65504 } ?? 0
                throw CodecError(
                    .invalidInput, "value \(x[i]) at index \(i) is beyond fp16's range ±65504; use bf16 or fp32")
            }
            if let r = reconstruction { for i in 0..<n { r[i] = HalfFloat.float(fromFP16: h[i]) } }
        case .bf16:
            try checkFinite(x)
            let h = raw.baseAddress!.bindMemory(to: UInt16.self, capacity: n)
            var overflow: UInt16 = 0
            for i in 0..<n {
                let v = HalfFloat.bf16(fromFloatBits: x[i].bitPattern)
                overflow |= (v & 0x7F80) == 0x7F80 ? 1 : 0
                h[i] = v
            }
            if overflow != 0 {
                throw CodecError(.invalidInput, "a value rounds beyond bf16's largest finite value; use fp32")
            }
            if let r = reconstruction { for i in 0..<n { r[i] = HalfFloat.float(fromBF16: h[i]) } }
        case .int8(let block):
            try Int8Block.encode(x, block: block, into: raw, reconstruction: reconstruction)
        case .topk(let fraction):
            try checkFinite(x)
            try TopK.encode(x, k: CodecSpec.topKCount(elements: n, fraction: fraction), into: raw,
                            reconstruction: reconstruction)
        }
    }

    /// Decodes a raw payload (already exactly the expected size) into `out` (`n` values), validating every
    /// scale, code and index.
    static func decode(_ raw: UnsafeRawBufferPointer, codec: CodecSpec, into out: UnsafeMutableBufferPointer<Float>)
        throws
    {
        let n = out.count
        switch codec {
        case .fp32:
            out.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: 4 * n) {
                $0.update(from: raw.baseAddress!.assumingMemoryBound(to: UInt8.self), count: 4 * n)
            }
            try checkDecodedFinite(UnsafeBufferPointer(out))
        case .fp16:
            let h = raw.baseAddress!.assumingMemoryBound(to: UInt16.self)
            var bad: UInt16 = 0
            for i in 0..<n {
                bad |= (h[i] & 0x7C00) == 0x7C00 ? 1 : 0
                out[i] = HalfFloat.float(fromFP16: h[i])
            }
            if bad != 0 { throw CodecError(.nonFiniteValue, "fp16 payload contains NaN or Inf; the update is refused") }
        case .bf16:
            let h = raw.baseAddress!.assumingMemoryBound(to: UInt16.self)
            var bad: UInt16 = 0
            for i in 0..<n {
                bad |= (h[i] & 0x7F80) == 0x7F80 ? 1 : 0
                out[i] = HalfFloat.float(fromBF16: h[i])
            }
            if bad != 0 { throw CodecError(.nonFiniteValue, "bf16 payload contains NaN or Inf; the update is refused") }
        case .int8(let block):
            try Int8Block.decode(raw, block: block, into: out)
        case .topk(let fraction):
            try TopK.decode(raw, k: CodecSpec.topKCount(elements: n, fraction: fraction), into: out)
        }
    }

    /// Throws `.invalidInput` naming the first NaN/Inf.
    static func checkFinite(_ x: UnsafeBufferPointer<Float>) throws {
        if let i = firstNonFinite(x) {
            throw CodecError(.invalidInput, "update value \(x[i]) at index \(i) is not finite; refusing to encode it")
        }
    }

    static func checkDecodedFinite(_ x: UnsafeBufferPointer<Float>) throws {
        if let i = firstNonFinite(x) {
            throw CodecError(.nonFiniteValue, "decoded value at index \(i) is \(x[i]); the update is refused")
        }
    }

    /// Index of the first NaN/Inf, found with a vectorizable OR-reduction first.
    static func firstNonFinite(_ x: UnsafeBufferPointer<Float>) -> Int? {
        let acc = x.withMemoryRebound(to: UInt32.self) { u -> UInt32 in
            var acc: UInt32 = 0
            for v in u { acc |= ((v & 0x7F80_0000) == 0x7F80_0000) ? 1 : 0 }
            return acc
        }
        guard acc != 0 else { return nil }
        return x.firstIndex { !$0.isFinite }
    }
}
