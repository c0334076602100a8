/// Top-k sparsification: the k largest magnitudes, indices ascending and delta-coded as uint32
/// (first index, then gaps ≥ 1), followed by their float32 values.
enum TopK {
    static func encode(
        _ x: UnsafeBufferPointer<Float>, k: Int, into raw: UnsafeMutableRawBufferPointer,
        reconstruction: UnsafeMutableBufferPointer<Float>?
    ) throws {
        let n = x.count
        guard n <= Int(UInt32.max) else {
            throw CodecError(.invalidInput, "top-k indices are uint32; \(n) elements is too many")
        }
        let gaps = raw.baseAddress!.bindMemory(to: UInt32.self, capacity: k)
        let vals = (raw.baseAddress! + 4 * k).bindMemory(to: Float.self, capacity: k)
        // Threshold = k-th largest magnitude, by selection on a scratch copy (no full sort).
        let mags = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
        defer { mags.deallocate() }
        for i in 0..<n { mags[i] = abs(x[i]) }
        let t = Selection.select(mags, n - k)
        var above = 0
        for i in 0..<n where abs(x[i]) > t { above += 1 }
        var ties = k - above  // how many values equal to t to keep, first ones in index order
        // One scan in index order yields sorted indices without sorting.
        var j = 0
        var prev = 0
        for i in 0..<n {
            let m = abs(x[i])
            guard m > t || (m == t && ties > 0) else { continue }
            if m == t { ties -= 1 }
            gaps[j] = UInt32(truncatingIfNeeded: j == 0 ? i : i - prev)
            vals[j] = x[i]
            prev = i
            j += 1
        }
        precondition(j == k, "top-k selection kept \(j) of \(k)")
        if let r = reconstruction {
            r.update(repeating: 0)
            var idx = 0
            for j in 0..<k {
                idx += Int(gaps[j])
                r[idx] = vals[j]
            }
        }
    }

    static func decode(_ raw: UnsafeRawBufferPointer, k: Int, into out: UnsafeMutableBufferPointer<Float>) throws {
        let n = out.count
        let gaps = raw.baseAddress!.assumingMemoryBound(to: UInt32.self)
        let vals = raw.baseAddress!.advanced(by: 4 * k).assumingMemoryBound(to: Float.self)
        try PayloadCodec.checkDecodedFinite(UnsafeBufferPointer(start: vals, count: k))
        out.update(repeating: 0)
        var idx = -1
        for j in 0..<k {
            let g = Int(gaps[j])
            if j > 0 && g == 0 {
                throw CodecError(.badIndices, "top-k index #\(j) repeats index \(idx); indices must strictly increase")
            }
            idx = j == 0 ? g : idx + g
            guard idx < n else {
                throw CodecError(.badIndices, "top-k index #\(j) is \(idx), beyond the update's \(n) elements")
            }
            out[idx] = vals[j]
        }
    }
}
