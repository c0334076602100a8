import Foundation

/// Measures a codec on one update vector: size ratio, relative L2 error and single-thread throughput.
/// Used by `crowdtrain bench codec`.
public enum CodecBenchmark {
    /// One codec's figures. Throughput is in MB (10⁶ bytes) of float32 input per second.
    public struct Result: Sendable, Codable {
        public var codec: String
        /// `4 · n / envelope bytes` (header included).
        public var ratio: Double
        /// `‖x − decode(encode(x))‖₂ / ‖x‖₂`.
        public var rel_error: Double
        public var encode_mb_s: Double
        public var decode_mb_s: Double
        /// Envelope bytes.
        public var bytes: Int
        public var elements: Int
        public var level: Int32
        /// The codec kernel variant that ran (`CodecKernels.name`: avx512bw, avx2, sse2, neon, generic).
        public var kernels: String
    }

    /// Runs `repeats` timed encodes and decodes (after one warm-up) and reports medians.
    public static func run(_ x: [Float], codec: CodecSpec, level: Int32 = 1, repeats: Int = 20) throws -> Result {
        let header = EnvelopeHeader(
            schemaHash: 0x1234, round: 1, baseModel: [UInt8](repeating: 7, count: 32), codec: codec,
            elementCount: x.count)
        let expect = EnvelopeExpectation(
            schemaHash: 0x1234, round: 1, baseModel: header.baseModel, elementCount: x.count)
        var data = try UpdateEnvelope.encode(x, header: header, level: level)
        var decoded = try UpdateEnvelope.decode(data, expecting: expect).values
        var encodeTimes: [Double] = []
        var decodeTimes: [Double] = []
        for _ in 0..<Swift.max(1, repeats) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            data = try UpdateEnvelope.encode(x, header: header, level: level)
            let t1 = DispatchTime.now().uptimeNanoseconds
            decoded = try UpdateEnvelope.decode(data, expecting: expect).values
            let t2 = DispatchTime.now().uptimeNanoseconds
            encodeTimes.append(Double(t1 - t0) * 1e-9)
            decodeTimes.append(Double(t2 - t1) * 1e-9)
        }
        var num = 0.0
        var den = 0.0
        for i in 0..<x.count {
            let d = Double(x[i]) - Double(decoded[i])
            num += d * d
            den += Double(x[i]) * Double(x[i])
        }
        let mb = Double(4 * x.count) / 1e6
        return Result(
            codec: codec.description, ratio: Double(4 * x.count) / Double(data.count),
            rel_error: den > 0 ? (num / den).squareRoot() : (num > 0 ? .infinity : 0),
            encode_mb_s: mb / median(encodeTimes), decode_mb_s: mb / median(decodeTimes),
            bytes: data.count, elements: x.count, level: level, kernels: CodecKernels.name)
    }

    /// Reads raw little-endian float32 values (the `.f32` files of `ref_mlp_fmnist.py --dump-deltas`).
    public static func readF32(path: String) throws -> [Float] {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw CodecError(.invalidInput, "cannot read \(path); pass a raw little-endian float32 file")
        }
        guard d.count % 4 == 0, d.count > 0 else {
            throw CodecError(.invalidInput, "\(path) is \(d.count) bytes, not a non-empty multiple of 4 (float32)")
        }
        var x = [Float](repeating: 0, count: d.count / 4)
        x.withUnsafeMutableBytes { dst in d.withUnsafeBytes { dst.copyMemory(from: $0) } }
        return x
    }

    static func median(_ v: [Double]) -> Double {
        let s = v.sorted()
        return s[s.count / 2]
    }
}
