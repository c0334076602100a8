import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation
import Logging

/// Chooses the checkpoint a starting coordinator serves, falling back to the newest good one.
///
/// The checkpoint the current round needs is fully verified (file present, size, SHA-256 = the recorded version,
/// decodes); so are the `hashedHistory` checkpoints before it (the fallback candidates), while older ones get a
/// size check only, so start-up time does not grow with the campaign's history (hashing runs at ≈ 0.5 GB/s here:
/// a thousand 1 MB checkpoints would add two seconds to every restart). A fallback hashes further back as needed.
///
/// If the checkpoint the current round needs is unusable, the coordinator logs one line naming the file, the reason
/// and the checkpoint used instead, and — if a round is open — abandons that round and opens the next one from the
/// newest good checkpoint:
/// - accepted updates of the abandoned round stay in the database and in the ledger (credited, never folded);
/// - its open leases expire, so uploads for them get `lease_expired`;
/// - the outer optimizer's momentum restarts from zero: it was built from the lost rounds' steps, and applying
///   it to an older model would replay part of them without the updates that produced them;
/// - the bad file stays where it is, for inspection.
///
/// A finished campaign keeps its rounds and serves the newest good checkpoint. If no recorded checkpoint is
/// usable, opening fails: an existing campaign never silently starts over.
enum CheckpointRecovery {
    /// Why a recorded checkpoint cannot be used.
    struct Problem: Error, CustomStringConvertible, Sendable {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// The checkpoint to serve and the round to continue.
    struct Restored {
        var round: RoundRecord
        var version: String
        var checkpoint: Checkpoint
        var bytes: Data
        /// The problem with the checkpoint the round needed, if a fallback happened.
        var fallback: Problem?
    }

    /// The version the current state needs: the open round's base, or the last closed round's result.
    static func neededVersion(_ round: RoundRecord) -> String {
        round.closedAt == nil ? round.baseVersion : (round.resultVersion ?? round.baseVersion)
    }

    /// Checkpoints older than the one in use whose SHA-256 is checked at every start (the rest: size only).
    static let hashedHistory = 3

    /// Checks that a recorded checkpoint file exists with its recorded size (cheap: no read).
    static func checkSize(_ record: CheckpointRecord, paths: CampaignPaths) -> Problem? {
        let path = paths.join(record.path)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = (attributes[.size] as? NSNumber)?.intValue
        else { return Problem("the file is missing") }
        guard size == record.bytes else {
            return Problem(
                "the file has \(size) bytes, the database records \(record.bytes) (torn or truncated)")
        }
        return nil
    }

    /// Checks size and SHA-256 of a recorded checkpoint without decoding it.
    static func check(_ record: CheckpointRecord, paths: CampaignPaths) -> Result<Data, Problem> {
        let path = paths.join(record.path)
        if let problem = checkSize(record, paths: paths) { return .failure(problem) }
        guard let bytes = FileManager.default.contents(atPath: path) else {
            return .failure(Problem("the file cannot be read"))
        }
        guard ContentDigest.hex(bytes) == record.version else {
            return .failure(
                Problem("its SHA-256 does not match the recorded version: corrupted or modified"))
        }
        return .success(bytes)
    }

    /// `check`, then decodes the file and checks its model kind.
    static func verify(_ record: CheckpointRecord, paths: CampaignPaths, modelKind: String?)
        -> Result<(Checkpoint, Data), Problem>
    {
        switch check(record, paths: paths) {
        case .failure(let p): return .failure(p)
        case .success(let bytes):
            let checkpoint: Checkpoint
            do { checkpoint = try Checkpoint.decode(bytes, path: record.path) } catch {
                return .failure(Problem("it does not decode: \(error)"))
            }
            if let modelKind, checkpoint.kind != modelKind {
                return .failure(
                    Problem("it holds a \(checkpoint.kind) model, the campaign trains \(modelKind)"))
            }
            return .success((checkpoint, bytes))
        }
    }

    /// Verifies the campaign's checkpoints and returns the one to serve, abandoning the open round if its base is
    /// unusable (see the type's documentation).
    static func restore(
        store: SQLiteStore, paths: CampaignPaths, config: CampaignConfig, now: Double, logger: Logger
    ) throws -> Restored {
        guard let round = try store.currentRound() else {
            throw CoordinatorError(
                "the database has no rounds; re-create the campaign with `coordinator init`")
        }
        let needed = neededVersion(round)
        let started = Date()
        let records = try store.checkpoints()
        var problems: [(record: CheckpointRecord, problem: Problem)] = []
        var usable: (record: CheckpointRecord, checkpoint: Checkpoint, bytes: Data)?
        var hashed = 0
        var read = 0
        var neededProblem: Problem? =
            records.contains { $0.version == needed }
            ? nil : Problem("the database names it (\(needed.prefix(12))…) but records no file for it")
        for record in records {
            if usable != nil {
                // Older than the one used: warn early about damaged history, without reading all of it every start.
                if hashed < hashedHistory {
                    hashed += 1
                    read += 1
                    if case .failure(let p) = check(record, paths: paths) { problems.append((record, p)) }
                } else if let p = checkSize(record, paths: paths) {
                    problems.append((record, p))
                }
                continue
            }
            read += 1
            switch verify(record, paths: paths, modelKind: config.modelKind) {
            case .success(let (checkpoint, bytes)):
                if record.version == needed || neededProblem != nil { usable = (record, checkpoint, bytes) }
            case .failure(let p):
                problems.append((record, p))
                if record.version == needed { neededProblem = p }
            }
        }
        logger.info(
            "checkpoints verified",
            metadata: [
                "count": "\(records.count)", "hashed": "\(read)",
                "unusable": "\(problems.count)", "ms": "\(Int(Date().timeIntervalSince(started) * 1000))",
            ])
        for (record, problem) in problems where record.version != needed {
            let line =
                "checkpoint \(record.path) (round \(record.round)) is unusable: \(problem); "
                + "it is not needed to continue"
            logger.warning("\(line)")
        }
        guard let neededProblem else {
            guard let usable else { throw CoordinatorError("checkpoint \(needed) was not verified") }
            return Restored(
                round: round, version: needed, checkpoint: usable.checkpoint, bytes: usable.bytes,
                fallback: nil)
        }
        let neededPath =
            records.first { $0.version == needed }?.path ?? "checkpoint \(needed.prefix(12))…"
        guard let good = usable else {
            let list = problems.map { "\($0.record.path): \($0.problem)" }.joined(separator: "; ")
            throw CoordinatorError(
                "no checkpoint of this campaign is usable (\(list.isEmpty ? "none recorded" : list)); restore "
                    + "\(paths.checkpoints) from a backup. Refusing to start over on an existing campaign.")
        }
        var message =
            "checkpoint fallback: \(neededPath) is unusable (\(neededProblem)); using \(good.record.path) "
            + "(round \(good.record.round)) instead"
        var current = round
        if round.closedAt == nil {
            let seed = SeedMixer.roundSeed(campaign: config.seed, round: round.number + 1)
            let flops = try ModelFactory.make(
                kind: good.checkpoint.kind, configJSON: good.checkpoint.configJSON, seed: 0
            ).flopsPerSample
            current = try store.abandonRound(
                round.number, restartFrom: good.record, nextSeed: seed, gflopPerSample: flops / 1e9, at: now)
            message +=
                " — round \(round.number) abandoned (its \(round.updates) stored updates are credited), round "
                + "\(current.number) opened from it, outer momentum reset"
        } else {
            message += " — the campaign is finished; the final model is lost and this one is served"
        }
        logger.error("\(message)")
        return Restored(
            round: current, version: good.record.version, checkpoint: good.checkpoint, bytes: good.bytes,
            fallback: neededProblem)
    }
}
