import CCodecKernels
import Foundation

/// Error feedback for lossy codecs: what quantization drops now is added to the next update.
///
/// Each call encodes `v = Δ + r` and keeps `r ← v − decode(encode(v))`, so the sum of decoded updates
/// tracks the sum of true updates to within the current residual. The residual is part of a peer's
/// persistent state (Codable, or the compact binary form of `serialized()`).
public struct ErrorFeedback: Sendable, Codable {
    /// What has not been transmitted yet; one value per parameter.
    public var residual: [Float]

    /// A zero residual for `count` parameters.
    public init(count: Int) { residual = [Float](repeating: 0, count: count) }

    /// Encodes `delta + residual` and updates the residual.
    /// - Throws: `CodecError`; on error the residual is unchanged.
    public mutating func encode(_ delta: [Float], header: EnvelopeHeader, level: Int32 = 1) throws -> Data {
        let n = residual.count
        guard delta.count == n else {
            throw CodecError(
                .elementCountMismatch, "delta has \(delta.count) elements, the error-feedback residual has \(n)")
        }
        var v = [Float](repeating: 0, count: n)
        v.withUnsafeMutableBufferPointer { vp in
            delta.withUnsafeBufferPointer { d in
                residual.withUnsafeBufferPointer { ct_add_f32(d.baseAddress!, $0.baseAddress!, vp.baseAddress!, n) }
            }
        }
        var rec = [Float](repeating: 0, count: n)
        let data = try v.withUnsafeBufferPointer { vp in
            try rec.withUnsafeMutableBufferPointer { rp in
                try UpdateEnvelope.encode(values: vp, header: header, level: level, reconstruction: rp)
            }
        }
        v.withUnsafeMutableBufferPointer { vp in
            rec.withUnsafeBufferPointer { ct_sub_f32(vp.baseAddress!, $0.baseAddress!, vp.baseAddress!, n) }
        }
        residual = v
        return data
    }

    /// Resets the residual to zero (e.g. when the model layout changes).
    public mutating func reset() {
        for i in residual.indices { residual[i] = 0 }
    }

    /// Compact binary form: "CTEF", version u16 = 1, 2 reserved bytes, count u64, count × float32 (LE).
    public func serialized() -> Data {
        var d = Data(count: 16 + 4 * residual.count)
        d.withUnsafeMutableBytes { p in
            for (i, b) in "CTEF".utf8.enumerated() { p[i] = b }
            p.storeBytes(of: UInt16(1).littleEndian, toByteOffset: 4, as: UInt16.self)
            p.storeBytes(of: UInt64(residual.count).littleEndian, toByteOffset: 8, as: UInt64.self)
            residual.withUnsafeBytes { r in
                UnsafeMutableRawBufferPointer(rebasing: p[16...]).copyMemory(from: r)
            }
        }
        return d
    }

    /// Reads `serialized()` output, requiring exactly `count` finite values.
    public init(serialized d: Data, count: Int) throws {
        guard d.count == 16 + 4 * count, d.prefix(4).elementsEqual("CTEF".utf8) else {
            throw CodecError(.sizeMismatch, "error-feedback state is not a CTEF file for \(count) values; reset it")
        }
        let (version, stored) = d.withUnsafeBytes {
            (UInt16(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt16.self)),
             UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        }
        guard version == 1, stored == UInt64(count) else {
            throw CodecError(.sizeMismatch, "error-feedback state has version \(version), \(stored) values; expected 1, \(count)")
        }
        var r = [Float](repeating: 0, count: count)
        r.withUnsafeMutableBytes { dst in d.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[16...])) } }
        guard r.allSatisfy({ $0.isFinite }) else {
            throw CodecError(.nonFiniteValue, "error-feedback state contains NaN/Inf; reset it")
        }
        residual = r
    }
}
