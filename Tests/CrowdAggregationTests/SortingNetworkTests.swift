import Testing

@testable import CrowdAggregation

/// The comparator networks behind the order statistics, run on plain arrays.
@Suite struct SortingNetworkTests {
    static func run(_ comparators: [(low: Int, high: Int)], _ v: inout [Float]) {
        for c in comparators where v[c.high] < v[c.low] { v.swapAt(c.low, c.high) }
    }

    /// 0–1 principle: a network sorts every input iff it sorts every 0/1 input.
    @Test(arguments: 1...14)
    func batcherSortsEveryZeroOneInput(k: Int) {
        let net = SortingNetwork.oddEvenMergeSort(k)
        #expect(net.allSatisfy { $0.low < $0.high && $0.high < k })
        for bits in 0..<(1 << k) {
            var v = (0..<k).map { Float((bits >> $0) & 1) }
            Self.run(net, &v)
            #expect(v == v.sorted(), "K \(k) input \(bits)")
            if v != v.sorted() { return }
        }
    }

    /// After the pruned network the kept wires hold exactly the sorted positions' multiset.
    @Test(arguments: [2, 3, 5, 8, 16, 17, 31, 32, 33, 48, 64, 65, 100])
    func prunedNetworksKeepTheRequestedMultiset(k: Int) {
        var rng = SplitMix64(seed: UInt64(k))
        let t = NaiveAggregators.trimCount(k, trim: 0.25)
        for keep in [t..<(k - t), MedianAggregator.middle(k), 0..<1, (k - 1)..<k] {
            let net = SortingNetwork(wires: k, keeping: keep)
            #expect(net.comparators.count <= SortingNetwork.oddEvenMergeSort(k).count)
            for trial in 0..<200 {
                // Few distinct values on some trials, so ties are exercised.
                var v = (0..<k).map { _ in trial % 2 == 0 ? rng.nextSymmetric() : Float(rng.next() % 4) }
                let want = Array(v.sorted()[keep]).sorted()
                Self.run(net.comparators, &v)
                #expect(Array(v[keep]).sorted() == want, "K \(k) keep \(keep)")
                if Array(v[keep]).sorted() != want { return }
            }
        }
    }

    /// Pruning removes work: the median of 32 needs fewer comparators than a full sort.
    @Test func pruningDropsComparators() {
        #expect(SortingNetwork.oddEvenMergeSort(32).count == 191)
        #expect(SortingNetwork(wires: 32, keeping: MedianAggregator.middle(32)).comparators.count < 191)
        #expect(SortingNetwork(wires: 32, keeping: 0..<32).comparators.isEmpty)  // the whole multiset is the input
    }
}
