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
    /// lease, of another model, past its deadline, or corrupt is removed with one line saying why
    /// (`PeerWorkMachine.progressDropReason`).
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
        if let why = PeerWorkMachine.progressDropReason(
            saved: saved.lease, savedSteps: saved.steps, for: lease, now: now())
        {
            output("abandoned lease \(saved.lease.leaseID.prefix(8)) at \(saved.position): \(why)")
            LeaseProgressFile.remove(paths.progress)
            return nil
        }
        output("resuming lease \(lease.leaseID.prefix(8)) at \(saved.position)")
        return saved
    }

    /// Says where a lease whose training stopped for shutdown stands (a lease whose deadline passed is the
    /// machine's `abandonLease`).
    func reportStopped(_ lease: Lease, saver: LeaseProgressSaver, resumedAt: Int?) {
        guard now() < lease.deadline else { return }
        let id = lease.leaseID.prefix(8)
        if let saved = saver.lastSaved {
            output(
                "round \(lease.round): stopped lease \(id) at step \(saved.steps)/\(saved.of); progress saved, "
                    + "resumes on restart before the lease's deadline")
        } else if let resumedAt {
            output("round \(lease.round): stopped lease \(id) at step \(resumedAt)/\(lease.steps) (saved earlier)")
        } else {
            output("round \(lease.round): stopped before the first step of lease \(id)")
        }
    }

    /// The machine gave up `lease`: its progress cannot be resumed.
    func abandon(_ lease: Lease, _ loss: PeerWorkMachine.LeaseLoss) {
        dropProgress(ofLease: lease.leaseID)
        held.inputs = nil
        let why: String
        switch loss {
        case .deadlinePassed: why = "its deadline passed"
        case .notLeased: why = "the coordinator no longer leases it to this peer (shard_not_leased); asking for work again"
        }
        output("round \(lease.round): lease \(lease.leaseID.prefix(8)) abandoned: \(why)")
    }

    /// After a crash between writing `pending.bin` and removing `progress.bin`: the update is finished, so
    /// its saved progress is obsolete.
    func dropProgress(ofLease leaseID: String) {
        guard FileManager.default.fileExists(atPath: paths.progress) else { return }
        if let saved = try? LeaseProgressFile.read(from: paths.progress), saved.lease.leaseID != leaseID { return }
        LeaseProgressFile.remove(paths.progress)
    }
}
