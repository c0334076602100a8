import Foundation
import NIOCore
import Synchronization
import Testing

@testable import CrowdClient
@testable import CrowdPeer

/// The bandwidth caps' token bucket with a simulated clock, and the paced upload body.
@Suite struct BandwidthPacerTests {
    /// Sends `total` bytes in `chunk`-byte pieces at `rate`, waiting what the bucket asks; the elapsed time.
    func send(_ total: Int, chunk: Int, rate: Double, bucket: inout TokenBucket, now: inout Double) -> Double {
        let start = now
        var sent = 0
        while sent < total {
            let n = min(chunk, total - sent)
            now += bucket.take(n, now: now, rate: rate, burst: Double(chunk))
            sent += n
        }
        return now - start
    }

    @Test(arguments: [1024, 20_000, 65_536])
    func aFewMegabytesTakeTheirTimeAtTheCap(chunk: Int) {
        var bucket = TokenBucket()
        var now = 50.0
        let total = 3_000_000
        let seconds = send(total, chunk: chunk, rate: 200_000, bucket: &bucket, now: &now)
        let rate = Double(total) / seconds
        #expect(rate <= 200_000 * 1.001 && rate >= 200_000 * 0.99, "\(rate) B/s")
    }

    @Test func idleTimeBuysAtMostOneBurst() {
        var bucket = TokenBucket()
        var now = 0.0
        _ = send(100_000, chunk: 10_000, rate: 100_000, bucket: &bucket, now: &now)
        now += 60  // a minute of silence
        #expect(bucket.take(10_000, now: now, rate: 100_000, burst: 10_000) == 0)
        #expect(abs(bucket.take(10_000, now: now, rate: 100_000, burst: 10_000) - 0.1) < 1e-9)
    }

    @Test func aRateChangeAppliesToTheNextChunk() {
        var bucket = TokenBucket()
        var now = 0.0
        _ = send(200_000, chunk: 10_000, rate: 100_000, bucket: &bucket, now: &now)
        let fast = send(1_000_000, chunk: 10_000, rate: 1_000_000, bucket: &bucket, now: &now)
        #expect(abs(fast - 1.0) < 0.02, "\(fast)")
    }

    @Test func chunksAreATenthOfASecondOfTraffic() {
        #expect(BandwidthPacer.chunkSize(rate: nil) == 65_536)
        #expect(BandwidthPacer.chunkSize(rate: 200_000) == 20_000)
        #expect(BandwidthPacer.chunkSize(rate: 1024) == 1024)
        #expect(BandwidthPacer.chunkSize(rate: 100_000_000) == 65_536)
    }

    @Test func pacerWaitsOnlyUnderACap() {
        let rate = Mutex<Int?>(nil)
        let clock = Mutex(0.0)
        let pacer = BandwidthPacer(rate: { rate.withLock { $0 } }, now: { clock.withLock { $0 } })
        #expect(pacer.delay(for: 1 << 20) == 0)
        rate.withLock { $0 = 100_000 }
        #expect(abs(pacer.delay(for: 50_000) - 0.5) < 1e-9)
        clock.withLock { $0 += 0.5 }
        #expect(abs(pacer.delay(for: 10_000) - 0.1) < 1e-9)
    }

    @Test func pacedBodyYieldsEveryByteInSmallChunksAndRestarts() async throws {
        let data = Data((0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let pacer = BandwidthPacer(rate: { 100_000_000 })
        let body = PacedBody(data: data.dropFirst(3), pacer: pacer)
        for _ in 0..<2 {
            var out = Data()
            var sizes: [Int] = []
            for try await var chunk in body {
                sizes.append(chunk.readableBytes)
                out.append(contentsOf: chunk.readBytes(length: chunk.readableBytes) ?? [])
            }
            #expect(out == data.dropFirst(3))
            #expect(sizes.allSatisfy { $0 <= 65_536 } && sizes.count == 2)
        }
    }
}
