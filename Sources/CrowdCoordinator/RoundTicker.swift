import Foundation
import ServiceLifecycle

/// Drives round deadlines and lease expiry: calls `Coordinator.tick()` every `interval` until graceful shutdown.
public struct RoundTicker: Service {
    let coordinator: Coordinator
    let interval: Duration

    public init(coordinator: Coordinator, interval: Duration = .seconds(1)) {
        self.coordinator = coordinator
        self.interval = interval
    }

    public func run() async throws {
        let coordinator = self.coordinator
        let interval = self.interval
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                await coordinator.tickLogged()
            }
        }
        // Long-polls end now rather than holding the graceful shutdown for their whole wait.
        coordinator.work.close()
        await coordinator.flushPending()
    }
}
