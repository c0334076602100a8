import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation
import GRDB

/// `crowdtrain coordinator export` (through `GET /v1/admin/export`): the open release of a campaign — the current
/// model, its recorded evaluation and the credits of every contributor — which the CLI writes to a fresh directory
/// (`ExportWriter`).
///
/// Read-only on the campaign: the database is opened read-only (WAL lets a running coordinator go on
/// writing), the checkpoint is copied after its SHA-256 is checked against the database record.
/// The coordinator evaluates a round's model after the round commits (`CoordinatorEvaluator`); if the current
/// model has no evaluation row yet, the export evaluates it here the same way (same held-out set) instead of
/// waiting for the coordinator, and records nothing.
///
/// ```
/// OUT/model.ckpt        the current global model (copy)
/// OUT/evaluation.json   the current model's evaluation as recorded (ExportedEvaluation)
/// OUT/credits.json      every contributor with accepted updates (Credits)
/// OUT/CREDITS.md        the same as a Markdown table
/// ```
public enum CampaignExporter {
    public typealias ExportedEvaluation = CrowdProtocol.ExportedEvaluation
    public typealias Contributor = ExportedContributor
    public typealias Credits = ExportedCredits

    /// What an export holds, read from the campaign (read-only; safe while the coordinator runs): the model's bytes
    /// (checked against the SHA-256 the database records), its evaluation, and the credits (sums of the ledger).
    public static func bundle(directory: String) throws -> (bundle: ExportBundle, model: Data) {
        let paths = CampaignPaths(directory: directory)
        let config = try CampaignConfig.load(paths: paths)
        let fm = FileManager.default
        guard fm.fileExists(atPath: paths.database) else {
            throw CoordinatorError(
                "\(paths.database) is missing; \(directory) is not a campaign created by `coordinator init`")
        }
        var dbConfig = Configuration()
        dbConfig.readonly = true
        dbConfig.busyMode = .timeout(10)
        let db: DatabaseQueue
        do { db = try DatabaseQueue(path: paths.database, configuration: dbConfig) } catch {
            throw CoordinatorError("cannot open the database \(paths.database) read-only: \(error)")
        }
        let (checkpoint, evaluation, rows, acceptedTotal) = try db.read { db in
            // The model the campaign serves: the newest round's base while it is open, else its result. After a
            // checkpoint fallback that is the newest good checkpoint, not the newest file by round.
            let current = try Row.fetchOne(
                db,
                sql: """
                    SELECT c.* FROM checkpoints c WHERE c.version = (
                        SELECT CASE WHEN closed_at IS NULL THEN base_version
                                    ELSE COALESCE(result_version, base_version) END
                        FROM rounds ORDER BY number DESC LIMIT 1)
                    """)
            guard let c = try current ?? Row.fetchOne(db, sql: "SELECT * FROM checkpoints ORDER BY round DESC LIMIT 1")
            else {
                throw CoordinatorError("the database records no checkpoint; the campaign was not initialised")
            }
            let e = try Row.fetchOne(
                db, sql: "SELECT * FROM evaluations WHERE version = ? ORDER BY round DESC LIMIT 1",
                arguments: [c["version"] as String]
            ).map {
                EvaluationRecord(
                    round: UInt64(sql: $0["round"]), version: $0["version"], metric: $0["metric"],
                    value: $0["value"], loss: $0["loss"], samples: $0["samples"])
            }
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT p.id, p.name,
                        (SELECT COUNT(*) FROM ledger l WHERE l.peer_id = p.id) AS accepted,
                        p.rejected AS rejected,
                        (SELECT COALESCE(SUM(samples), 0) FROM ledger l WHERE l.peer_id = p.id) AS samples,
                        (SELECT COALESCE(SUM(gflop), 0) FROM ledger l WHERE l.peer_id = p.id) AS credit
                    FROM peers p ORDER BY credit DESC, samples DESC, p.created_at
                    """)
            let accepted = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM ledger") ?? 0
            return (SQLiteStore.checkpoint(c), e, rows, accepted)
        }
        let source = (paths.directory as NSString).appendingPathComponent(checkpoint.path)
        guard let bytes = fm.contents(atPath: source) else { throw CoordinatorError("checkpoint \(source) is missing") }
        guard ContentDigest.hex(bytes) == checkpoint.version else {
            throw CoordinatorError(
                "checkpoint \(source) does not match the SHA-256 the database records; not exporting it")
        }
        let decoded = try Checkpoint.decode(bytes, path: source)
        let recorded = try evaluation ?? evaluate(decoded, record: checkpoint, paths: paths, config: config)

        let exported = ExportedEvaluation(
            campaign: config.name, workload: config.workload, round: recorded.round,
            modelVersion: checkpoint.version, metric: recorded.metric, value: recorded.value,
            loss: recorded.loss, samples: recorded.samples)
        let credits = makeCredits(
            rows: rows.map {
                (id: $0["id"], name: $0["name"], accepted: $0["accepted"], rejected: $0["rejected"],
                 samples: $0["samples"], credit: $0["credit"])
            }, config: config, checkpoint: checkpoint, acceptedUpdates: acceptedTotal)

        return (
            ExportBundle(
                evaluation: exported, credits: credits, creditsMarkdown: markdown(credits, evaluation: exported),
                modelBytes: bytes.count),
            bytes
        )
    }

    /// Evaluates a checkpoint the coordinator has not evaluated yet, on the campaign's held-out set.
    static func evaluate(
        _ checkpoint: Checkpoint, record: CheckpointRecord, paths: CampaignPaths, config: CampaignConfig
    ) throws -> EvaluationRecord {
        let set = try EvaluationSet.load(
            paths: paths, manifest: try ShardManifest.load(directory: paths.shards), config: config)
        let model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: 0)
        try checkpoint.load(into: model)
        let r = set.evaluate(model)
        return EvaluationRecord(
            round: record.round, version: record.version, metric: set.metric, value: r.value, loss: r.loss,
            samples: r.samples)
    }

    static func makeCredits(
        rows: [(id: String, name: String, accepted: Int, rejected: Int, samples: Int, credit: Double)],
        config: CampaignConfig, checkpoint: CheckpointRecord, acceptedUpdates: Int
    ) -> Credits {
        let backers = rows.filter { $0.accepted > 0 }
        let total = backers.reduce(0.0) { $0 + $1.credit }
        let contributors = backers.enumerated().map { i, r in
            Contributor(
                rank: i + 1, name: r.name, peerID: r.id, acceptedUpdates: r.accepted, rejectedUpdates: r.rejected,
                samples: r.samples, credit: r.credit, share: total > 0 ? 100 * r.credit / total : 0)
        }
        return Credits(
            campaign: config.name, workload: config.workload, modelVersion: checkpoint.version, round: checkpoint.round,
            creditUnit: "GFLOP", totalCredit: total, totalSamples: backers.reduce(0) { $0 + $1.samples },
            acceptedUpdates: acceptedUpdates, contributors: contributors)
    }

    /// `CREDITS.md`: who trained the model, with how much compute.
    public static func markdown(_ c: Credits, evaluation e: ExportedEvaluation) -> String {
        func f(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
        var s = "# Credits — \(c.campaign)\n\n"
        s += "Model `\(c.modelVersion)` (\(c.workload)), after round \(c.round): "
        s += "\(e.metric) \(f(e.value, 4)) (loss \(f(e.loss, 4)), \(e.samples) held-out samples).\n\n"
        s += "Trained by \(c.contributors.count) contributor\(c.contributors.count == 1 ? "" : "s") with "
        s += "\(c.acceptedUpdates) accepted updates, \(c.totalSamples) samples, "
        s += "\(f(c.totalCredit, 1)) \(c.creditUnit) of compute "
        s += "(credit = samples × the model's forward+backward FLOPs per sample; rejected updates earn none).\n\n"
        s += "| # | Contributor | Accepted updates | Samples | Credit (\(c.creditUnit)) | Share |\n"
        s += "|---:|---|---:|---:|---:|---:|\n"
        for r in c.contributors {
            let name = r.name.replacingOccurrences(of: "|", with: "\\|")
            s += "| \(r.rank) | \(name) | \(r.acceptedUpdates) | \(r.samples) | \(f(r.credit, 1)) "
            s += "| \(f(r.share, 2)) % |\n"
        }
        return s
    }
}
