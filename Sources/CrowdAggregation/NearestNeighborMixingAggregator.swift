/// Nearest-neighbour mixing followed by the coordinate-wise trimmed mean (Allouah et al. 2023), as
/// `NaiveAggregators.nnmTrimmedMean` defines it: each xᵢ is replaced by the mean of its K − f nearest updates by
/// L2 distance (itself included, ties by index), f = `NaiveAggregators.trimCount(K, β)`; then the trimmed mean
/// with the same β.
///
/// Weights are ignored (as in `TrimmedMeanAggregator`).
///
/// Pass 1 adds every tile's part of the K × K squared distances (`PairwiseTile`, direct differences, so there is
/// no cancellation); pass 2 forms the mixed rows of each tile in L1 — rows with the same neighbour set share one
/// sum, which is common when attackers stand apart — and runs the trimmed-mean network on them. Mixed rows are
/// Float sums of Floats (relative error ≲ K·2⁻²⁴ of the largest neighbour value) in tiles whose values are at
/// most `PairwiseTile.fastLimit`, and Double sums in the others. A near-tie of two distances (relative gap below
/// ~1e-6) may be broken differently from the naive twin; exact ties (duplicate updates) are broken the same way.
public struct NearestNeighborMixingAggregator: Aggregator {
    /// β: the trimmed fraction of each end, which also sets f = ⌊β·K⌋ (capped) for the mixing.
    public let trim: Double

    public init(trim: Double = AggregatorKind.defaultTrim) {
        precondition(trim >= 0 && trim < 0.5, "trim fraction must be in [0, 0.5)")
        self.trim = trim
    }

    public func aggregate(
        _ vectors: [UpdateSource], weights: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        let k = vectors.count
        precondition(k >= 1, "aggregate needs at least one vector")
        precondition(vectors.allSatisfy { $0.count == out.count }, "vectors differ in length")
        let f = NaiveAggregators.trimCount(k, trim: trim)
        let neighbours = Self.neighbourSets(Self.squaredDistances(vectors, count: out.count), k: k, keep: k - f)
        Self.mixAndTrim(vectors, neighbours: neighbours, trim: f, into: out)
    }

    /// Pass 1: the full symmetric matrix of ‖xᵢ − xⱼ‖².
    static func squaredDistances(_ vectors: [UpdateSource], count n: Int) -> [Double] {
        let k = vectors.count
        var d = [Double](repeating: 0, count: k * k)
        d.withUnsafeMutableBufferPointer { g in
            let acc = g.baseAddress!
            CoordinateTile.sweep(
                vectors, count: n, extraRows: PairwiseTile.paddedRows(k) - k, trackMagnitude: true
            ) { tile, _, count, magnitude in
                if magnitude <= PairwiseTile.fastLimit {
                    PairwiseTile.accumulate(PairwiseTile.SquaredDistance.self, tile, firstRow: 0, k: k, into: acc)
                } else {
                    PairwiseTile.accumulateExact(PairwiseTile.SquaredDistance.self, tile, k: k, count: count,
                                                 center: nil, into: acc)
                }
            }
            for i in 0..<k {
                acc[i * k + i] = 0
                for j in 0..<i { acc[i * k + j] = acc[j * k + i] }
            }
        }
        return d
    }

    /// For each i, its `keep` nearest indices by (distance, index), sorted by index.
    static func neighbourSets(_ d2: [Double], k: Int, keep: Int) -> [[Int]] {
        (0..<k).map { i in
            let order = (0..<k).sorted { a, b in
                let da = d2[i * k + a].squareRoot(), db = d2[i * k + b].squareRoot()
                return da < db || (da == db && a < b)
            }
            return order.prefix(keep).sorted()
        }
    }

    /// Pass 2: per tile, the mixed rows (rows k..<2k) and the trimmed mean of them.
    static func mixAndTrim(
        _ vectors: [UpdateSource], neighbours: [[Int]], trim f: Int,
        into out: UnsafeMutableBufferPointer<Float>
    ) {
        let k = vectors.count
        let middle = f..<(k - f)
        let network = SortingNetwork(wires: k, keeping: middle)
        // Each distinct neighbour set is summed once; `source[i]` is the first row with i's set.
        var firstWith: [[Int]: Int] = [:]
        let source = (0..<k).map { i in
            if let s = firstWith[neighbours[i]] { return s }
            firstWith[neighbours[i]] = i
            return i
        }
        let width = CoordinateTile.width
        let rowBytes = width * 4
        let keep = neighbours[0].count
        let offsets = neighbours.flatMap { $0.map { $0 * rowBytes } }  // row i's neighbours at i·keep..<(i+1)·keep
        let inv = Float(1 / Double(keep))
        let o = out.baseAddress!
        offsets.withUnsafeBufferPointer { near in
            CoordinateTile.sweep(vectors, count: out.count, extraRows: k, trackMagnitude: true) {
                tile, start, count, magnitude in
                let base = UnsafeMutableRawPointer(tile.base)
                for i in 0..<k {
                    let dst = tile.row(k + i)
                    if source[i] != i {
                        dst.update(from: tile.row(k + source[i]), count: width)
                        continue
                    }
                    let mine = UnsafeBufferPointer(rebasing: near[(i * keep)..<((i + 1) * keep)])
                    if magnitude <= PairwiseTile.fastLimit {
                        var off = 0
                        while off < rowBytes {
                            var s = SIMD16<Float>()
                            for j in mine { s += base.load(fromByteOffset: j + off, as: SIMD16<Float>.self) }
                            UnsafeMutableRawPointer(dst).storeBytes(of: s * inv, toByteOffset: off, as: SIMD16<Float>.self)
                            off += 64
                        }
                    } else {
                        for c in 0..<width {
                            var s = 0.0
                            for j in mine { s += Double(base.load(fromByteOffset: j + 4 * c, as: Float.self)) }
                            dst[c] = Float(s / Double(keep))
                        }
                    }
                }
                network.apply(tile, firstRow: k)
                tile.writeRowMean((k + f)..<(k + f + middle.count), divisor: Double(middle.count), to: o + start,
                                  count: count)
            }
        }
    }
}
