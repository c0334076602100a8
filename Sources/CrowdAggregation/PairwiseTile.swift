/// Pairwise sums over the rows of a `CoordinateTile`, added into a K × K Double matrix (upper triangle, i ≤ j):
/// inner products Σ aᵢ·aⱼ or squared distances Σ (aᵢ − aⱼ)². Used by centered clipping (the Gram matrix of the
/// updates centred at the median) and nearest-neighbour mixing (the pairwise distances).
///
/// Fast path (`accumulate`): Float products in SIMD4 lanes, 2 × 4 rows at a time (8 accumulators in registers,
/// each loaded row used 2–4 times), 16 terms per lane, the lanes then summed into the Double matrix. It is exact
/// up to Float rounding of 16-term partial sums (relative error ≲ 1e-6, typically 1e-7) and cannot overflow when
/// every |value| ≤ `fastLimit`. Tiles with larger values take `accumulateExact` (Double throughout), so an
/// attacker's ±3e38 costs time in its tiles but never precision or finiteness.
enum PairwiseTile {
    /// Largest |value| the Float path accepts: (2·2⁶⁰)² · 16 < Float.greatestFiniteMagnitude.
    static let fastLimit: Float = 0x1p60

    /// Rows padded to a multiple of 4 (the tile must hold that many rows; rows ≥ k zero).
    static func paddedRows(_ k: Int) -> Int { (k + 3) & ~3 }

    protocol Term {
        static func step(_ s: SIMD4<Float>, _ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float>
        static func exact(_ a: Double, _ b: Double) -> Double
    }

    enum Dot: Term {
        @inline(__always) static func step(_ s: SIMD4<Float>, _ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
            s + a * b
        }
        @inline(__always) static func exact(_ a: Double, _ b: Double) -> Double { a * b }
    }

    enum SquaredDistance: Term {
        @inline(__always) static func step(_ s: SIMD4<Float>, _ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
            let d = a - b
            return s + d * d
        }
        @inline(__always) static func exact(_ a: Double, _ b: Double) -> Double { (a - b) * (a - b) }
    }

    /// acc[i·k + j] += Σ_c T(row i, row j) for 0 ≤ i ≤ j < k, over all `CoordinateTile.width` lanes of rows
    /// `first..<first + paddedRows(k)` (lanes past the data and rows ≥ k must be zero).
    static func accumulate<T: Term>(
        _ term: T.Type, _ tile: CoordinateTile, firstRow first: Int, k: Int, into acc: UnsafeMutablePointer<Double>
    ) {
        let kp = paddedRows(k)
        precondition(tile.rows >= first + kp, "tile lacks padding rows")
        let rowBytes = CoordinateTile.width * 4
        let base = UnsafeRawPointer(tile.row(first))
        var i = 0
        while i < kp {
            var j = i & ~3
            while j < kp {
                let a0 = base + i * rowBytes, a1 = a0 + rowBytes
                let b0 = base + j * rowBytes, b1 = b0 + rowBytes, b2 = b1 + rowBytes, b3 = b2 + rowBytes
                var s00 = SIMD4<Float>(), s01 = SIMD4<Float>(), s02 = SIMD4<Float>(), s03 = SIMD4<Float>()
                var s10 = SIMD4<Float>(), s11 = SIMD4<Float>(), s12 = SIMD4<Float>(), s13 = SIMD4<Float>()
                var off = 0
                while off < rowBytes {
                    let x0 = a0.load(fromByteOffset: off, as: SIMD4<Float>.self)
                    let x1 = a1.load(fromByteOffset: off, as: SIMD4<Float>.self)
                    let y0 = b0.load(fromByteOffset: off, as: SIMD4<Float>.self)
                    let y1 = b1.load(fromByteOffset: off, as: SIMD4<Float>.self)
                    let y2 = b2.load(fromByteOffset: off, as: SIMD4<Float>.self)
                    let y3 = b3.load(fromByteOffset: off, as: SIMD4<Float>.self)
                    s00 = T.step(s00, x0, y0)
                    s01 = T.step(s01, x0, y1)
                    s02 = T.step(s02, x0, y2)
                    s03 = T.step(s03, x0, y3)
                    s10 = T.step(s10, x1, y0)
                    s11 = T.step(s11, x1, y1)
                    s12 = T.step(s12, x1, y2)
                    s13 = T.step(s13, x1, y3)
                    off += 16
                }
                let sums = (s00, s01, s02, s03, s10, s11, s12, s13)
                withUnsafeBytes(of: sums) { raw in
                    let s = raw.bindMemory(to: SIMD4<Float>.self)
                    for r in 0..<2 where i + r < k {
                        for q in 0..<4 where j + q < k && j + q >= i + r {
                            let v = s[r * 4 + q]
                            acc[(i + r) * k + j + q] += (Double(v[0]) + Double(v[1])) + (Double(v[2]) + Double(v[3]))
                        }
                    }
                }
                j += 4
            }
            i += 2
        }
    }

    /// The same sums in Double over lanes 0..<count, optionally of (row − center) for each row.
    static func accumulateExact<T: Term>(
        _ term: T.Type, _ tile: CoordinateTile, k: Int, count: Int, center: UnsafePointer<Float>?,
        into acc: UnsafeMutablePointer<Double>
    ) {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: k * count) { d in
            for r in 0..<k {
                let x = tile.row(r)
                for c in 0..<count { d[r * count + c] = Double(x[c]) - (center.map { Double($0[c]) } ?? 0) }
            }
            for i in 0..<k {
                for j in i..<k {
                    var s = 0.0
                    for c in 0..<count { s += T.exact(d[i * count + c], d[j * count + c]) }
                    acc[i * k + j] += s
                }
            }
        }
    }
}
