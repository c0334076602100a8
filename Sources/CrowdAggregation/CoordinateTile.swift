/// `rows` × `width` Floats, 64-byte aligned, on the stack: the working set of the fast aggregators.
///
/// Row r holds coordinates start..<start+width of one vector; lanes past the end of the vectors are zero. For
/// K = 32 updates a tile is 8 KB and stays in L1 while a sorting network, the pairwise distances or the mixing
/// run over it; the K source streams are read once, 256 bytes at a time.
struct CoordinateTile {
    /// Coordinates per tile (a multiple of 16, the SIMD lane count of `SortingNetwork`).
    static let width = 64

    let base: UnsafeMutablePointer<Float>
    let rows: Int

    func row(_ r: Int) -> UnsafeMutablePointer<Float> { base + r * Self.width }

    /// Runs `body(tile, start, count, magnitude)` for every tile of coordinates of `vectors` (each of length
    /// `n`), with rows 0..<K loaded from the vectors and `extraRows` zeroed scratch rows after them (the body
    /// may write them; they are not cleared between tiles). `magnitude` is the largest |value| of rows 0..<K
    /// when `trackMagnitude`, else 0.
    static func sweep(
        _ vectors: [UpdateSource], count n: Int, extraRows: Int = 0, trackMagnitude: Bool = false,
        _ body: (CoordinateTile, _ start: Int, _ count: Int, _ magnitude: Float) -> Void
    ) {
        let k = vectors.count
        let rows = k + extraRows
        let fp32: [UnsafeRawPointer]? = vectors.allSatisfy { if case .fp32 = $0 { true } else { false } }
            ? vectors.map { if case .fp32(let v) = $0 { UnsafeRawPointer(v.baseAddress!) } else { fatalError() } }
            : nil
        if fp32 == nil {
            sweepLoading(vectors, count: n, extraRows: extraRows, trackMagnitude: trackMagnitude, body)
            return
        }
        let bases = fp32!
        withUnsafeTemporaryAllocation(byteCount: rows * width * 4, alignment: 64) { raw in
            let tile = CoordinateTile(base: raw.baseAddress!.bindMemory(to: Float.self, capacity: rows * width), rows: rows)
            tile.base.initialize(repeating: 0, count: rows * width)
            let dst = UnsafeMutableRawPointer(tile.base)
            var start = 0
            while start < n {
                let count = Swift.min(width, n - start)
                var m = SIMD16<Float>()
                if count == width {
                    for r in 0..<k {
                        let src = bases[r] + start * 4
                        let d = dst + r * width * 4
                        for off in stride(from: 0, to: width * 4, by: 64) {
                            let x = src.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
                            d.storeBytes(of: x, toByteOffset: off, as: SIMD16<Float>.self)
                            if trackMagnitude {
                                let a = x.replacing(with: -x, where: x .< 0)
                                m = m.replacing(with: a, where: m .< a)
                            }
                        }
                    }
                } else {
                    for r in 0..<k {
                        let d = tile.row(r)
                        d.update(from: bases[r].assumingMemoryBound(to: Float.self) + start, count: count)
                        (d + count).update(repeating: 0, count: width - count)
                    }
                    if trackMagnitude { m = SIMD16(repeating: tile.maxMagnitude(rows: k)) }
                }
                body(tile, start, count, trackMagnitude ? m.max() : 0)
                start += count
            }
        }
    }

    /// `sweep` for sources that are not all fp32 (int8 codes): every row is loaded through `UpdateSource.load`,
    /// which dequantises the tile's 64 coordinates straight into it.
    static func sweepLoading(
        _ vectors: [UpdateSource], count n: Int, extraRows: Int, trackMagnitude: Bool,
        _ body: (CoordinateTile, _ start: Int, _ count: Int, _ magnitude: Float) -> Void
    ) {
        let k = vectors.count
        let rows = k + extraRows
        withUnsafeTemporaryAllocation(byteCount: rows * width * 4, alignment: 64) { raw in
            let tile = CoordinateTile(base: raw.baseAddress!.bindMemory(to: Float.self, capacity: rows * width), rows: rows)
            tile.base.initialize(repeating: 0, count: rows * width)
            var start = 0
            while start < n {
                let count = Swift.min(width, n - start)
                for r in 0..<k {
                    let d = tile.row(r)
                    vectors[r].load(start, count, into: d)
                    if count < width { (d + count).update(repeating: 0, count: width - count) }
                }
                body(tile, start, count, trackMagnitude ? tile.maxMagnitude(rows: k) : 0)
                start += count
            }
        }
    }

    /// The largest |value| in rows 0..<`rows` (+∞ if any is infinite, NaN never appears: inputs are finite).
    func maxMagnitude(rows r: Int) -> Float {
        var m = SIMD16<Float>()
        let p = UnsafeRawPointer(base)
        for off in stride(from: 0, to: r * Self.width * 4, by: 64) {
            let x = p.load(fromByteOffset: off, as: SIMD16<Float>.self)
            let a = x.replacing(with: -x, where: x .< 0)
            m = m.replacing(with: a, where: m .< a)
        }
        return m.max()
    }

    /// out[c] = Float(Σ_{r ∈ rows} Double(row r)[c] / divisor) for c < count.
    func writeRowMean(_ rows: Range<Int>, divisor: Double, to out: UnsafeMutablePointer<Float>, count: Int) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: Self.width) { acc in
            for c in 0..<Self.width { acc[c] = 0 }
            for r in rows {
                let x = row(r)
                for c in 0..<Self.width { acc[c] += Double(x[c]) }
            }
            for c in 0..<count { out[c] = Float(acc[c] / divisor) }
        }
    }
}
