import CrowdProtocol
import Foundation

/// `progress.bin`: saving a lease in progress and resuming it after a stop, a pause or a crash.
///
/// Order of the peer's files for one lease: `progress.bin` while training (periodically, when a suspension
/// starts, and when stopping) → `pending.bin` once Δ is encoded → `progress.bin` removed → upload →
/// `residual.bin` replaced and `pending.bin` removed once the coordinator acknowledged.
extension PeerSession {
    /// Seconds of training between two periodic saves of `progress.bin` (a SIGKILL loses at most this much).
    static let progressSaveSeconds = 30.0

    /// The saved progress to continue `lease` from, or nil to train it from its start. Progress of another
    /// lease, of another model, past its deadline, or corrupt is removed with one line saying why.
    func savedProgress(for lease: Lease) -> LeaseProgress? {
        let saved: LeaseProgress?
        do {
            saved = try LeaseProgressFile.read(from: paths.progress)
        } catch {
            logger.warning("\(error)")
            output("ignored a damaged progress.bin: training lease \(lease.leaseID.prefix(8)) from its start")
            LeaseProgressFile.remove(paths.progress)
            return nil
        }
        guard let saved else { return nil }
        let old = "abandoned lease \(saved.lease.leaseID.prefix(8)) at \(saved.position)"
        let now = Date().timeIntervalSince1970
        var why: String?
        if saved.lease.leaseID != lease.leaseID {
            why = saved.lease.deadline <= now
                ? "expired" : "reissued (the coordinator handed lease \(lease.leaseID.prefix(8)) instead)"
        } else if saved.lease.modelVersion != lease.modelVersion || saved.lease.seed != lease.seed
            || saved.lease.steps != lease.steps || saved.lease.batch != lease.batch || saved.lease.inner != lease.inner
        {
            why = "the coordinator changed the lease's model or settings"
        } else if lease.deadline <= now {
            why = "expired"
        } else if saved.steps >= lease.steps {
            why = "the saved progress is already at its end"
        }
        if let why {
            output("\(old): \(why)")
            LeaseProgressFile.remove(paths.progress)
            return nil
        }
        output("resuming lease \(lease.leaseID.prefix(8)) at \(saved.position)")
        return saved
    }

    /// Says what became of a lease whose training stopped early, and drops progress that cannot be resumed.
    func reportStopped(_ lease: Lease, saver: LeaseProgressSaver, resumedAt: Int?) {
        let id = lease.leaseID.prefix(8)
        if Date().timeIntervalSince1970 >= lease.deadline {
            LeaseProgressFile.remove(paths.progress)
            output("round \(lease.round): lease \(id) abandoned: its deadline passed")
        } else if let saved = saver.lastSaved {
            output(
                "round \(lease.round): stopped lease \(id) at step \(saved.steps)/\(saved.of); progress saved, "
                    + "resumes on restart before the lease's deadline")
        } else if let resumedAt {
            output("round \(lease.round): stopped lease \(id) at step \(resumedAt)/\(lease.steps) (saved earlier)")
        } else {
            output("round \(lease.round): stopped before the first step of lease \(id)")
        }
    }

    /// After a crash between writing `pending.bin` and removing `progress.bin`: the update is finished, so
    /// its saved progress is obsolete.
    func dropProgress(ofLease leaseID: String) {
        guard FileManager.default.fileExists(atPath: paths.progress) else { return }
        if let saved = try? LeaseProgressFile.read(from: paths.progress), saved.lease.leaseID != leaseID { return }
        LeaseProgressFile.remove(paths.progress)
    }
}
