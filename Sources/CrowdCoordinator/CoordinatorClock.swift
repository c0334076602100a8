import Foundation

/// Where the coordinator reads time (Unix seconds). Injected so tests control it.
public protocol CoordinatorClock: Sendable {
    func now() -> Double
}

/// Wall-clock time.
public struct SystemCoordinatorClock: CoordinatorClock {
    public init() {}
    public func now() -> Double { Date().timeIntervalSince1970 }
}
