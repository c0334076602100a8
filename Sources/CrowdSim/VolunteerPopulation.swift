import CrowdEngine
import Foundation

/// Who volunteers, how fast, and when: the population of `bench crowd`'s simulated crowd.
///
/// A crowd of N has N *places*. Each place is held by a sequence of volunteers: volunteer g of place i has a compute
/// speed drawn log-uniformly in [`speedMin`, `speedMax`] (× this machine's measured speed), stays online for a time
/// drawn from an exponential distribution of mean `sessionSeconds`, then leaves (mid-lease if it is training: the work
/// is lost), and after an exponential gap of mean `rejoinSeconds` a new volunteer — new speed, empty cache, fresh
/// optimizer — takes the place. Every draw depends only on (seed, place, volunteer), so every strategy of one
/// invocation meets the same volunteers at the same virtual times.
public struct VolunteerPopulation: Sendable, Equatable {
    public var speedMin = 0.25
    public var speedMax = 2.0
    /// Mean online session (exponential), seconds.
    public var sessionSeconds = 7200.0
    /// Mean time before a departed volunteer's place is taken again (exponential), seconds.
    public var rejoinSeconds = 1800.0
    /// False: every volunteer stays online for the whole run.
    public var churn = true
    public var seed: UInt64

    public init(seed: UInt64) { self.seed = seed }

    /// One volunteer's session in a place.
    public struct Session: Sendable, Equatable {
        /// Compute speed relative to this machine (1 = as fast).
        public var speed: Double
        /// Seconds online (infinite without churn).
        public var length: Double
        /// Seconds offline after it before the next volunteer takes the place.
        public var gap: Double
    }

    /// Volunteer `generation` (0 first) of place `place`.
    public func session(place: Int, generation: Int) -> Session {
        var r = SeededRNG(seed: seed).derived(0x5EED_C0DE &+ UInt64(place) &* 1_000_003 &+ UInt64(generation))
        let u = Double(r.nextUniform())
        let speed = speedMin == speedMax ? speedMin : speedMin * pow(speedMax / speedMin, u)
        func exponential(_ mean: Double) -> Double { -log(1 - Double(r.nextUniform())) * mean }
        return Session(
            speed: speed, length: churn ? exponential(sessionSeconds) : .infinity, gap: churn ? exponential(rejoinSeconds) : 0)
    }

    /// The mean of the speed distribution: the "average peer" the speedups are measured against.
    public var meanSpeed: Double {
        speedMax == speedMin ? speedMin : (speedMax - speedMin) / log(speedMax / speedMin)
    }

    /// Throws unless the fields are usable.
    public func validate() throws {
        guard speedMin > 0, speedMax >= speedMin, speedMax.isFinite else {
            throw SimulationError("speeds must satisfy 0 < min ≤ max (got \(speedMin)…\(speedMax))")
        }
        guard sessionSeconds > 0, rejoinSeconds >= 0, sessionSeconds.isFinite, rejoinSeconds.isFinite else {
            throw SimulationError("the mean session must be positive and the mean rejoin gap non-negative")
        }
    }
}

/// The links of a simulated home peer: asymmetric bandwidth and a round-trip time per request.
public struct PeerLinks: Sendable, Equatable {
    public var uplinkMbit = 10.0
    public var downlinkMbit = 50.0
    public var rttSeconds = 0.05

    public init() {}

    /// One request that sends `bytes` up: a round trip plus the bytes at the uplink's rate.
    public func upload(_ bytes: Int) -> Double { rttSeconds + Double(bytes) * 8 / (uplinkMbit * 1e6) }
    /// One request that brings `bytes` down.
    public func download(_ bytes: Int) -> Double { rttSeconds + Double(bytes) * 8 / (downlinkMbit * 1e6) }

    public func validate() throws {
        guard uplinkMbit > 0, downlinkMbit > 0, rttSeconds >= 0, uplinkMbit.isFinite, downlinkMbit.isFinite,
              rttSeconds.isFinite
        else { throw SimulationError("links need positive bandwidths and a non-negative round-trip time") }
    }
}

/// A simulation that cannot run as asked, with what to change.
public struct SimulationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// Events of a virtual clock, earliest first; events at the same time in the order pushed (determinism).
struct EventQueue<Event> {
    private var heap: [(time: Double, seq: Int, event: Event)] = []
    private var seq = 0

    var isEmpty: Bool { heap.isEmpty }

    mutating func push(_ time: Double, _ event: Event) {
        heap.append((time, seq, event))
        seq += 1
        var i = heap.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard Self.before(heap[i], heap[p]) else { break }
            heap.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> (time: Double, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && Self.before(heap[l], heap[m]) { m = l }
            if r < heap.count && Self.before(heap[r], heap[m]) { m = r }
            guard m != i else { break }
            heap.swapAt(i, m)
            i = m
        }
        return (top.time, top.event)
    }

    private static func before(_ a: (time: Double, seq: Int, event: Event), _ b: (time: Double, seq: Int, event: Event)) -> Bool {
        a.time < b.time || (a.time == b.time && a.seq < b.seq)
    }
}
