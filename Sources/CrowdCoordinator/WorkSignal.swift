import Synchronization

/// Wakes long-polling lease requests when work may have become available: a round closed (the next one opened),
/// leases expired (their slots are free), or — in async mode — an upload freed a slot. A request that found no
/// work waits here (bounded by its deadline) instead of the peer sleeping and polling, so a round's successor
/// starts as soon as it opens.
///
/// `generation` increases at every signal; a waiter passes the generation it saw *before* asking for a lease, so a
/// signal between that check and the wait is never lost. `close()` (graceful shutdown) wakes everyone for good.
public final class WorkSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var closed = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The current generation.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Long-polls currently waiting (tests, metrics).
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Wakes every waiter.
    public func signal() {
        let woken = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.generation &+= 1
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for c in woken { c.resume() }
    }

    /// Wakes every waiter and makes later waits return at once (shutdown).
    public func close() {
        state.withLock { $0.closed = true }
        signal()
    }

    /// How a wait ended.
    public enum Wake: Sendable, Equatable {
        case signalled, timedOut, closed
    }

    /// Returns when the generation moves past `seen`, after `timeout`, on `close()`, or when the task is cancelled
    /// (reported as `timedOut`).
    @discardableResult
    public func wait(after seen: UInt64, timeout: Duration) async -> Wake {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            return s.nextID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let resumeNow = self.state.withLock { s -> Bool in
                            if s.closed || s.generation != seen || Task.isCancelled { return true }
                            s.waiters[id] = c
                            return false
                        }
                        if resumeNow { c.resume() }
                    }
                } onCancel: {
                    self.wake(id)
                }
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return state.withLock { s in s.closed ? .closed : (s.generation != seen ? .signalled : .timedOut) }
    }

    private func wake(_ id: UInt64) {
        let c = state.withLock { $0.waiters.removeValue(forKey: id) }
        c?.resume()
    }
}
