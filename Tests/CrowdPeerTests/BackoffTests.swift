import CrowdEngine
import CrowdProtocol
import Testing

/// The daemon's retry rule: min(cap, base·2ⁿ) × U(0.5, 1), with the uniform draw injected.
@Suite struct BackoffTests {
    @Test func ceilingDoublesUntilTheCap() {
        var b = Backoff(base: 1, cap: 60)
        // A draw of 1 gives the full ceiling, so the sequence shows the un-jittered ceilings.
        let delays = (0..<9).map { _ in b.next(random: 1) }
        #expect(delays == [1, 2, 4, 8, 16, 32, 60, 60, 60])
        #expect(b.failures == 9)
    }

    @Test func jitterStaysInTheUpperHalf() {
        var rng = SeededRNG(seed: 42)
        var b = Backoff(base: 2, cap: 30)
        for n in 0..<40 {
            let ceiling = min(30, 2 * Double(1 << min(n, 30)))
            let d = b.next(random: Double(rng.nextUniform()))
            #expect(d >= ceiling * 0.5 && d <= ceiling, "attempt \(n): \(d) outside [\(ceiling / 2), \(ceiling)]")
        }
    }

    @Test func jitterSpreadsPeersThatFailedTogether() {
        // 100 peers lose the coordinator at the same instant: their 5th retries must not coincide.
        var delays: [Double] = []
        for peer in 0..<100 {
            var rng = SeededRNG(seed: UInt64(peer))
            var b = Backoff(base: 1, cap: 300)
            var d = 0.0
            for _ in 0..<5 { d = b.next(random: Double(rng.nextUniform())) }
            delays.append(d)
        }
        #expect(Set(delays).count == 100)
        let lo = delays.min()!, hi = delays.max()!
        #expect(lo >= 8 && hi <= 16)
        #expect(hi - lo > 6, "jitter should spread retries over most of [8, 16] s, got \(lo)…\(hi)")
    }

    @Test func hugeFailureCountsDoNotOverflow() {
        var b = Backoff(base: 0.5, cap: 120)
        var last = 0.0
        for _ in 0..<200 { last = b.next(random: 0) }
        #expect(last == 60)
    }

    @Test func resetStartsOver() {
        var b = Backoff(base: 1, cap: 60)
        for _ in 0..<5 { _ = b.next(random: 1) }
        b.reset()
        #expect(b.failures == 0)
        #expect(b.next(random: 1) == 1)
    }
}
