/// One update as the aggregators read it: fp32 values, or the int8 codec's compact codes — `q[i] · scale[i / block]`,
/// exactly the floats the int8 codec decodes (`Int8Block`). Aggregating from codes needs 1 byte per parameter
/// (plus a scale per block) instead of 4, and the decoded fp32 vector never exists: the sweeps dequantise one tile
/// at a time into L1, and the mean accumulates straight from the codes.
///
/// Holds pointers: valid only while the caller keeps the storage alive (as `UnsafeBufferPointer` is).
public enum UpdateSource: @unchecked Sendable {
    case fp32(UnsafeBufferPointer<Float>)
    /// `q.count` values; `scales.count == ceil(q.count / block)`.
    case int8(q: UnsafeBufferPointer<Int8>, scales: UnsafeBufferPointer<Float>, block: Int)

    /// Number of values.
    public var count: Int {
        switch self {
        case .fp32(let v): v.count
        case .int8(let q, _, _): q.count
        }
    }

    /// Checks the int8 layout (scales per block) and returns the source.
    public static func codes(q: UnsafeBufferPointer<Int8>, scales: UnsafeBufferPointer<Float>, block: Int) -> Self {
        precondition(block >= 1 && scales.count == (q.count + block - 1) / block, "int8 codes need one scale per block")
        return .int8(q: q, scales: scales, block: block)
    }

    /// Writes values `start..<start+count` to `dst`.
    @inline(__always)
    func load(_ start: Int, _ count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch self {
        case .fp32(let v):
            dst.update(from: v.baseAddress! + start, count: count)
        case .int8(let q, let scales, let block):
            var i = 0
            while i < count {
                let at = start + i
                let blockEnd = Swift.min(start + count, (at / block + 1) * block)
                Self.dequantize(q.baseAddress! + at, blockEnd - at, scales[at / block], dst + i)
                i = blockEnd - start
            }
        }
    }

    /// `dst[j] = Float(q[j]) * s`, 16 lanes at a time (the codec's formula, so the values are bit-identical).
    @inline(__always)
    static func dequantize(_ q: UnsafePointer<Int8>, _ n: Int, _ s: Float, _ dst: UnsafeMutablePointer<Float>) {
        var j = 0
        let raw = UnsafeRawPointer(q)
        let out = UnsafeMutableRawPointer(dst)
        let scale = SIMD16<Float>(repeating: s)
        while j + 16 <= n {
            let b = raw.loadUnaligned(fromByteOffset: j, as: SIMD16<Int8>.self)
            out.storeBytes(of: SIMD16<Float>(b) * scale, toByteOffset: j * 4, as: SIMD16<Float>.self)
            j += 16
        }
        while j < n {
            dst[j] = Float(q[j]) * s
            j += 1
        }
    }
}

extension Array where Element == UnsafeBufferPointer<Float> {
    /// The fp32 sources of these buffers.
    var sources: [UpdateSource] { map { .fp32($0) } }
}
