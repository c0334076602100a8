import Foundation

/// One fuzzing step for the envelope decoder, shared by the `CrowdCodecFuzz` target (libFuzzer or the
/// built-in mutation loop) and tests. Any crash, any non-`CodecError` failure, or any accepted update that
/// is not exactly `elementCount` finite values is a bug.
///
/// The first input byte picks how the rest is used, so mutations reach every layer despite the checksum:
/// - `0`: the bytes are an envelope, decoded as received (exercises header checks and the checksum);
/// - `1`: the bytes are a zstd payload, wrapped in a valid header and checksum (exercises frame checks);
/// - `2`: the bytes are a raw codec payload, compressed and wrapped (exercises scale/code/index checks).
/// - `3`: the bytes are a round delta (`ModelDelta`), decoded and applied to a zero model of its size (≤ 65536).
/// For modes 1 and 2, byte 1 picks the codec and bytes 2–3 the element count (1…4096).
public enum CodecFuzzHarness {
    static let codecs: [CodecSpec] = [
        .fp32, .fp16, .bf16, .int8(block: 256), .int8(block: 16), .int8(block: 1), .topk(fraction: 0.01),
        .topk(fraction: 0.5),
    ]

    /// Runs one input. Traps (so the fuzzer reports it) if an invariant breaks.
    public static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 1 else { return }
        let mode = input[0] % 4
        let rest = UnsafeRawBufferPointer(rebasing: input[1...])
        switch mode {
        case 0:
            let data = Data(rest)
            let peeked = try? UpdateEnvelope.peekHeader(data)
            // A receiver that expects exactly what the header says (capped), and one that expects 1000 elements.
            if let h = peeked, h.elementCount <= 1 << 20 {
                check(data, EnvelopeExpectation(
                    schemaHash: h.schemaHash, round: h.round, baseModel: h.baseModel, elementCount: h.elementCount))
            }
            check(data, EnvelopeExpectation(
                schemaHash: 0, round: 0, baseModel: [UInt8](repeating: 0, count: 32), elementCount: 1000))
        case 3:
            checkDelta(Data(rest))
        default:
            guard rest.count >= 3 else { return }
            let codec = codecs[Int(rest[0]) % codecs.count]
            let n = 1 + (Int(rest[1]) | Int(rest[2]) << 8) % 4096
            let body = Array(rest[3...])
            let rawSize = codec.rawPayloadSize(elements: n)
            let payload: [UInt8]
            if mode == 1 {
                payload = body
            } else {
                var raw = [UInt8](repeating: 0, count: rawSize)
                for i in 0..<Swift.min(rawSize, body.count) { raw[i] = body[i] }
                // Repeat the input to fill large payloads so every region gets fuzzed bytes.
                if !body.isEmpty { for i in body.count..<Swift.max(body.count, rawSize) { raw[i] = body[i % body.count] } }
                payload = Zstd.frame(raw)
            }
            let header = EnvelopeHeader(
                schemaHash: 1, round: 2, baseModel: [UInt8](repeating: 3, count: 32), codec: codec, elementCount: n)
            let data = UpdateEnvelope.assemble(header, rawSize: rawSize, payload: payload)
            check(data, EnvelopeExpectation(schemaHash: 1, round: 2, baseModel: header.baseModel, elementCount: n))
        }
    }

    static func check(_ data: Data, _ e: EnvelopeExpectation) {
        do {
            let (_, values) = try UpdateEnvelope.decode(data, expecting: e)
            precondition(values.count == e.elementCount, "decoder returned \(values.count) values")
            precondition(values.allSatisfy { $0.isFinite }, "decoder accepted a non-finite value")
        } catch is CodecError {
            return
        } catch {
            preconditionFailure("decoder threw a non-CodecError: \(error)")
        }
    }

    static func checkDelta(_ data: Data) {
        do {
            let delta = try ModelDelta.decode(data)
            guard delta.count <= 1 << 16 else { return }
            let rebuilt = try delta.apply(to: [Float](repeating: 0, count: delta.count))
            precondition(rebuilt.count == delta.count, "a delta rebuilt \(rebuilt.count) of \(delta.count) parameters")
        } catch is CodecError {
            return
        } catch {
            preconditionFailure("the delta decoder threw a non-CodecError: \(error)")
        }
    }

    /// Seed inputs: one valid envelope per codec (mode 0), matching payloads (modes 1 and 2), and a grid and an
    /// XOR delta (mode 3).
    public static func seeds() -> [[UInt8]] {
        var out: [[UInt8]] = []
        let base = (0..<300).map { Float(($0 * 31) % 97) * 1e-2 }
        let moved = base.map { $0 + 1e-3 }
        let versions = ([UInt8](repeating: 1, count: 32), [UInt8](repeating: 2, count: 32))
        if let grid = try? ModelDelta.grid(
            GridStep.nearest(from: base, to: moved), baseVersion: versions.0, targetVersion: versions.1,
            targetPrefix: Data("prefix".utf8)),
            let xor = try? ModelDelta.xor(
                base: base, target: moved, baseVersion: versions.0, targetVersion: versions.1, targetPrefix: Data())
        {
            out.append([3] + Array(grid.encoded()))
            out.append([3] + Array(xor.encoded()))
        }
        for (ci, codec) in codecs.enumerated() {
            let n = 300
            let x = (0..<n).map { Float(($0 * 7919) % 201 - 100) * 1e-3 }
            let h = EnvelopeHeader(
                schemaHash: 1, round: 2, baseModel: [UInt8](repeating: 3, count: 32), codec: codec, elementCount: n)
            guard let env = try? UpdateEnvelope.encode(x, header: h) else { continue }
            out.append([0] + Array(env))
            let payload = Array(env[UpdateEnvelope.headerSize...])
            out.append([1, UInt8(ci), UInt8(n & 0xFF), UInt8(n >> 8)] + payload)
            var raw = [UInt8](repeating: 0, count: codec.rawPayloadSize(elements: n))
            payload.withUnsafeBytes { p in
                raw.withUnsafeMutableBytes { r in
                    try? Zstd.decompressExactly(p, into: r, context: Zstd.DecompressionContext())
                }
            }
            out.append([2, UInt8(ci), UInt8(n & 0xFF), UInt8(n >> 8)] + raw)
        }
        return out
    }
}
