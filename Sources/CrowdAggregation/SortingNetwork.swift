/// A comparator network over `wires` values per coordinate, run on `CoordinateTile`s: many coordinates at once,
/// one SIMD min/max per comparator and 16 lanes.
///
/// Built from Batcher's odd–even merge sort (which exists for every K: the network for the next power of two,
/// with the virtual wires ≥ K holding +∞ so their comparators never move anything), then pruned for what an
/// aggregator reads: after `apply`, the *multiset* of values on the wires `keep` equals the sorted positions
/// `keep` of the input (median: the one or two middle positions; trimmed mean: positions t..<K−t). The pruning
/// walks the network backwards with a label per wire ("the multiset of the wires carrying this label is
/// needed"): a comparator between two wires with the same label (or two unneeded wires) cannot change any
/// needed multiset and is dropped; a kept comparator gives both its wires one fresh label, because min and max
/// depend only on the pair's multiset. For K = 32 this keeps 164 of Batcher's 191 comparators for the trimmed mean
/// (β = 0.25) and 156 for the median; K = 64: 460 and 444 of 543.
///
/// Inputs must be finite or ±∞ (no NaN): `x < y` orders them, and equal values may be swapped, which keeps the
/// multiset (±0 included).
struct SortingNetwork: Sendable {
    let wires: Int
    /// Kept comparators as (lower wire, upper wire): the lower gets the minimum.
    let comparators: [(low: Int, high: Int)]

    init(wires: Int, keeping keep: Range<Int>) {
        precondition(wires >= 1 && keep.lowerBound >= 0 && keep.upperBound <= wires, "bad network shape")
        self.wires = wires
        let full = Self.oddEvenMergeSort(wires)
        // Backwards: -1 = not needed, 0 = the `keep` multiset, ≥ 1 = a pair multiset.
        var label = [Int](repeating: -1, count: wires)
        for w in keep { label[w] = 0 }
        var next = 1
        var kept: [(low: Int, high: Int)] = []
        for c in full.reversed() where label[c.low] != label[c.high] {
            kept.append(c)
            label[c.low] = next
            label[c.high] = next
            next += 1
        }
        comparators = kept.reversed()
    }

    /// Batcher's odd–even merge sort for `n` wires (the power-of-two network restricted to wires < n).
    static func oddEvenMergeSort(_ n: Int) -> [(low: Int, high: Int)] {
        var size = 1
        while size < n { size <<= 1 }
        var out: [(low: Int, high: Int)] = []
        var p = 1
        while p < size {
            var k = p
            while k >= 1 {
                var j = k % p
                while j + k < size {
                    for i in 0..<Swift.min(k, size - j - k) where (i + j) / (2 * p) == (i + j + k) / (2 * p) {
                        if i + j + k < n { out.append((i + j, i + j + k)) }
                    }
                    j += 2 * k
                }
                k /= 2
            }
            p *= 2
        }
        return out
    }

    /// Runs the network on every lane of a tile whose rows `first..<first + wires` are the wires.
    func apply(_ tile: CoordinateTile, firstRow first: Int = 0) {
        precondition(tile.rows >= first + wires, "tile has fewer rows than the network has wires")
        let base = UnsafeMutableRawPointer(tile.row(first))
        let rowBytes = CoordinateTile.width * MemoryLayout<Float>.stride
        for c in comparators {
            let a = base + c.low * rowBytes
            let b = base + c.high * rowBytes
            var off = 0
            while off < rowBytes {
                let x = a.load(fromByteOffset: off, as: SIMD16<Float>.self)
                let y = b.load(fromByteOffset: off, as: SIMD16<Float>.self)
                let swap = y .< x
                a.storeBytes(of: x.replacing(with: y, where: swap), toByteOffset: off, as: SIMD16<Float>.self)
                b.storeBytes(of: y.replacing(with: x, where: swap), toByteOffset: off, as: SIMD16<Float>.self)
                off += 64
            }
        }
    }
}
