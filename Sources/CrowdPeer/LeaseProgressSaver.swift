import Foundation
import Logging
import Synchronization

/// Writes the training thread's `LeaseProgress` snapshots to `progress.bin` and remembers the last one
/// written, so the daemon can say where a stopped lease will resume. Thread-safe.
final class LeaseProgressSaver: Sendable {
    let path: String
    let logger: Logger
    private let saved = Mutex<(steps: Int, of: Int)?>(nil)

    init(path: String, logger: Logger) {
        self.path = path
        self.logger = logger
    }

    /// Writes `progress` atomically; a failure (disk full) is logged and training goes on.
    func save(_ progress: LeaseProgress) {
        do {
            try LeaseProgressFile.write(progress, to: path)
            saved.withLock { $0 = (progress.steps, progress.lease.steps) }
            logger.debug("saved lease \(progress.lease.leaseID.prefix(8)) at \(progress.position)")
        } catch {
            logger.warning("cannot save the lease's progress (\(error)); a restart would train it from its start")
        }
    }

    /// Steps done and lease steps of the last snapshot written by this saver; nil before the first.
    var lastSaved: (steps: Int, of: Int)? { saved.withLock { $0 } }
}
