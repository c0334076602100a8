import Foundation
import NIOCore
import Synchronization

/// A token bucket in bytes: `take` returns how long to wait before `bytes` may go, so that over any span
/// the bytes sent stay within `rate × span + burst`. Pure: the time is passed in.
///
/// The bucket may go into debt (a chunk larger than the tokens waits for the shortfall), so pacing holds
/// for chunks of any size; it starts empty, so even the first chunk is paced.
public struct TokenBucket: Sendable, Equatable {
    /// Bytes that may go without waiting (negative: debt).
    public private(set) var tokens: Double = 0
    /// Time of the last refill (nil: never used).
    public private(set) var last: Double?

    public init() {}

    /// Accounts for `bytes` at time `now` and returns the seconds to wait before sending them (≥ 0).
    /// - Parameters:
    ///   - rate: bytes per second (read at every call, so a reload applies at once).
    ///   - burst: most tokens kept while idle, bytes.
    public mutating func take(_ bytes: Int, now: Double, rate: Double, burst: Double) -> Double {
        precondition(rate > 0)
        if let last, now > last { tokens = min(burst, tokens + (now - last) * rate) }
        last = max(now, last ?? now)
        tokens -= Double(bytes)
        return tokens >= 0 ? 0 : -tokens / rate
    }
}

/// Paces one direction of the coordinator traffic to a bytes-per-second cap read at each chunk.
final class BandwidthPacer: Sendable {
    /// The chunk size for a cap: about a tenth of a second of traffic, between 1 KiB and 64 KiB.
    static func chunkSize(rate: Int?) -> Int {
        guard let rate else { return 64 << 10 }
        return min(64 << 10, max(1 << 10, rate / 10))
    }

    let rate: @Sendable () -> Int?
    let now: @Sendable () -> Double
    private let bucket = Mutex(TokenBucket())

    /// - Parameter rate: the cap in bytes per second, nil for none (asked at every chunk).
    init(
        rate: @escaping @Sendable () -> Int?,
        now: @escaping @Sendable () -> Double = { BandwidthPacer.monotonicSeconds() }
    ) {
        self.rate = rate
        self.now = now
    }

    /// Seconds to wait before `bytes` go (and accounts for them); 0 without a cap.
    func delay(for bytes: Int) -> Double {
        guard let r = rate(), r > 0 else { return 0 }
        let t = now()
        let burst = Double(Self.chunkSize(rate: r))
        return bucket.withLock { $0.take(bytes, now: t, rate: Double(r), burst: burst) }
    }

    /// Seconds on the monotonic clock (never jumps with the wall clock).
    static func monotonicSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// Waits until `bytes` may go under the cap.
    func acquire(_ bytes: Int) async throws {
        let wait = delay(for: bytes)
        if wait > 0 { try await Task.sleep(nanoseconds: UInt64(wait * 1e9)) }
    }
}

/// An upload body as small `ByteBuffer`s, each released by the pacer (re-iterable, so a retried request
/// sends it again from the start).
struct PacedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let data: Data
    let pacer: BandwidthPacer

    struct AsyncIterator: AsyncIteratorProtocol {
        let data: Data
        let pacer: BandwidthPacer
        var offset: Int

        mutating func next() async throws -> ByteBuffer? {
            guard offset < data.count else { return nil }
            let n = Swift.min(BandwidthPacer.chunkSize(rate: pacer.rate()), data.count - offset)
            try await pacer.acquire(n)
            let start = data.startIndex + offset
            offset += n
            return ByteBuffer(bytes: data[start..<(start + n)])
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(data: data, pacer: pacer, offset: 0) }
}
