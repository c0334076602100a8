import CCodecKernels
@testable import CrowdCodec
import Foundation
import Testing

/// Every codec kernel variant this CPU can run (x86-64: avx512bw, avx2, sse2; arm64: neon) against a naive Swift
/// reference, at lengths that are not multiples of any vector width, and whole envelopes bit for bit across
/// variants. Serialized: the variant is process-wide (harmless to other suites, since all variants agree).
@Suite(.serialized)
struct CodecKernelTests {
    static let lengths = [0, 1, 3, 7, 15, 16, 17, 31, 33, 63, 65, 127, 255, 256, 257, 1000, 4099]

    /// Variants this CPU runs (forcing each; the original is restored).
    static func eachVariant(_ body: (String) throws -> Void) rethrows {
        let original = CodecKernels.name
        defer { CodecKernels.force(original) }
        var ran = 0
        for v in CodecKernels.known where CodecKernels.force(v) {
            #expect(CodecKernels.name == v)
            try body(v)
            ran += 1
        }
        #expect(ran >= 1)
    }

    static func input(_ n: Int, seed: UInt64) -> [Float] {
        var r = TestRNG(seed: seed)
        return (0..<n).map { i in
            switch i % 11 {
            case 0: return Float(r.int(255) - 127) + 0.5  // exact ties after a unit scale: round half to even
            case 1: return -0.0
            case 2: return 1e3 * r.normal()  // clamps
            default: return r.normal() * 40
            }
        }
    }

    static func referenceCode(_ x: Float, _ inv: Float) -> Int8 {
        let v = Swift.min(Swift.max(x * inv, -127), 127)
        return Int8(v.rounded(.toNearestOrEven))
    }

    @Test func absmaxMatchesTheReferenceAndFlagsNonFinite() {
        Self.eachVariant { v in
            for n in Self.lengths {
                let x = Self.input(n, seed: UInt64(n))
                let want = x.map { $0.bitPattern & 0x7FFF_FFFF }.max() ?? 0
                #expect(x.withUnsafeBufferPointer { ct_absmax_bits($0.baseAddress, n) } == want, "\(v) n=\(n)")
                for bad in [Float.nan, .infinity, -.infinity] where n > 0 {
                    var y = x
                    y[n - 1] = bad
                    #expect(y.withUnsafeBufferPointer { ct_absmax_bits($0.baseAddress, n) } >= 0x7F80_0000, "\(v) n=\(n)")
                }
            }
        }
    }

    @Test func quantizeRoundsHalfToEvenClampsAndReconstructs() {
        Self.eachVariant { v in
            for n in Self.lengths {
                let x = Self.input(n, seed: 7 &+ UInt64(n))
                for (inv, s) in [(Float(1), Float(1)), (Float(1) / 0.37, Float(0.37)), (0, 0)] {
                    var q = [Int8](repeating: 99, count: n)
                    var rec = [Float](repeating: .nan, count: n)
                    x.withUnsafeBufferPointer { xp in
                        q.withUnsafeMutableBufferPointer { qp in
                            rec.withUnsafeMutableBufferPointer { ct_quantize_i8(xp.baseAddress, n, inv, s, qp.baseAddress, $0.baseAddress) }
                        }
                    }
                    let want = x.map { Self.referenceCode($0, inv) }
                    #expect(q == want, "\(v) n=\(n) inv=\(inv)")
                    #expect(rec.map(\.bitPattern) == want.map { (Float($0) * s).bitPattern }, "\(v) n=\(n)")
                    var noRec = [Int8](repeating: 99, count: n)
                    x.withUnsafeBufferPointer { xp in
                        noRec.withUnsafeMutableBufferPointer { ct_quantize_i8(xp.baseAddress, n, inv, s, $0.baseAddress, nil) }
                    }
                    #expect(noRec == want)
                }
            }
        }
    }

    @Test func dequantizeScalesAndFlagsCodeMinus128() {
        Self.eachVariant { v in
            for n in Self.lengths {
                var r = TestRNG(seed: 99 &+ UInt64(n))
                var q = (0..<n).map { _ in Int8(r.int(255) - 127) }
                var out = [Float](repeating: .nan, count: n)
                let s: Float = 0.0123
                var bad = q.withUnsafeBufferPointer { qp in
                    out.withUnsafeMutableBufferPointer { ct_dequantize_i8(qp.baseAddress, n, s, $0.baseAddress) }
                }
                #expect(bad == 0 && out.map(\.bitPattern) == q.map { (Float($0) * s).bitPattern }, "\(v) n=\(n)")
                guard n > 0 else { continue }
                q[n / 2] = -128
                bad = q.withUnsafeBufferPointer { qp in
                    out.withUnsafeMutableBufferPointer { ct_dequantize_i8(qp.baseAddress, n, s, $0.baseAddress) }
                }
                #expect(bad == 1, "\(v) n=\(n): code −128 not flagged")
            }
        }
    }

    @Test func addAndSubtractMatchTheReferenceInPlace() {
        Self.eachVariant { v in
            for n in Self.lengths {
                let a = Self.input(n, seed: 1 &+ UInt64(n))
                let b = Self.input(n, seed: 2 &+ UInt64(n))
                var out = a
                out.withUnsafeMutableBufferPointer { o in
                    b.withUnsafeBufferPointer { ct_add_f32(o.baseAddress, $0.baseAddress, o.baseAddress, n) }
                }
                #expect(out.map(\.bitPattern) == zip(a, b).map { ($0 + $1).bitPattern }, "\(v) n=\(n)")
                out.withUnsafeMutableBufferPointer { o in
                    b.withUnsafeBufferPointer { ct_sub_f32(o.baseAddress, $0.baseAddress, o.baseAddress, n) }
                }
                #expect(out.map(\.bitPattern) == zip(a, b).map { (($0 + $1) - $1).bitPattern }, "\(v) n=\(n)")
            }
        }
    }

    @Test func envelopesAndErrorFeedbackAreBitwiseIdenticalAcrossVariants() throws {
        let x = Fixture.delta(100_003, seed: 5)
        var bodies: [String: Data] = [:]
        var residuals: [String: [UInt32]] = [:]
        try Self.eachVariant { v in
            for codec in [CodecSpec.int8(block: 256), .int8(block: 7)] {
                let data = try UpdateEnvelope.encode(x, header: Fixture.header(codec, n: x.count))
                if let first = bodies["\(codec)"] { #expect(first == data, "\(v) \(codec) differs") }
                bodies["\(codec)"] = data
            }
            var ef = ErrorFeedback(count: x.count)
            _ = try ef.encode(x, header: Fixture.header(.int8(block: 256), n: x.count))
            let r = ef.residual.map(\.bitPattern)
            if let first = residuals["ef"] { #expect(first == r, "\(v) residual differs") }
            residuals["ef"] = r
        }
    }

    @Test func theDefaultIsTheBestVariantThisCPUSupports() throws {
        // The first variant, best first, that this CPU accepts is the one chosen at start-up.
        let original = CodecKernels.name
        defer { CodecKernels.force(original) }
        let best = try #require(CodecKernels.known.first { CodecKernels.force($0) })
        #expect(original == best)
        #if arch(x86_64)
            let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
            if flags.contains(" avx2") { #expect(original != "sse2", "an AVX2 CPU runs the SSE2 baseline") }
        #endif
        #expect(!CodecKernels.force("no-such-variant"))
    }
}
