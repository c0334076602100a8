import CrowdProtocol
import Foundation
import GRDB

/// The coordinator's SQLite database (GRDB `DatabasePool`, WAL), behind the repository protocols.
///
/// Migrations are forward-only and named; never edit a released migration, add a new one.
/// The `ledger` table is append-only: triggers abort any UPDATE or DELETE.
public final class SQLiteStore: Sendable {
    let pool: DatabasePool
    /// Rows of evidence kept in `rejections` (the totals are counters; see `rejectionCounts`).
    let rejectionRowsKept: Int

    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    /// - Parameter rejectionRowsKept: newest rows kept in the `rejections` table (tests lower it).
    public init(path: String, rejectionRowsKept: Int = SQLiteStore.defaultRejectionRowsKept) throws {
        self.rejectionRowsKept = max(1, rejectionRowsKept)
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw CoordinatorError("cannot open the database \(path): \(error)")
        }
    }

    /// Writes a consistent snapshot of the live database to a new SQLite file at `path` (SQLite's online backup),
    /// safe while the coordinator is writing. A file copy of the database and its `-wal` is not: the WAL can be
    /// checkpointed and removed half-way through the copy.
    public func backup(to path: String) throws {
        do {
            let destination = try DatabaseQueue(path: path)
            try pool.backup(to: destination)
            try destination.close()
        } catch {
            throw CoordinatorError("cannot back up the database to \(path): \(error)")
        }
    }

    /// Names of the applied migrations, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try Array(Self.migrator.appliedMigrations(db)) }
    }

    /// `PRAGMA integrity_check` result (`ok` when healthy).
    public func integrityCheck() throws -> String {
        try pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") ?? "no result" }
    }

    /// Runs raw SQL (tests and maintenance only).
    func execute(_ sql: String) throws {
        try pool.write { db in try db.execute(sql: sql) }
    }

    /// Creates a database at `path` with the migrations up to `last` only, then runs `sql` in it (tests of a later
    /// migration on data written before it).
    static func createMigrated(path: String, upTo last: String, then sql: String) throws {
        let queue = try DatabaseQueue(path: path)
        try migrator.migrate(queue, upTo: last)
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("2026-11-26-initial") { db in
            try db.execute(
                sql: """
                    CREATE TABLE invites (
                        hash TEXT PRIMARY KEY, note TEXT, created_at REAL NOT NULL,
                        used_at REAL, used_by TEXT, revoked_at REAL);
                    CREATE TABLE peers (
                        id TEXT PRIMARY KEY, name TEXT NOT NULL, credential_hash TEXT NOT NULL UNIQUE,
                        invite_hash TEXT NOT NULL REFERENCES invites(hash), created_at REAL NOT NULL,
                        last_seen REAL, revoked_at REAL);
                    CREATE TABLE checkpoints (
                        version TEXT PRIMARY KEY, round INTEGER NOT NULL, path TEXT NOT NULL,
                        bytes INTEGER NOT NULL, created_at REAL NOT NULL);
                    CREATE TABLE rounds (
                        number INTEGER PRIMARY KEY, base_version TEXT NOT NULL REFERENCES checkpoints(version),
                        seed INTEGER NOT NULL, opened_at REAL NOT NULL, closed_at REAL,
                        result_version TEXT REFERENCES checkpoints(version),
                        updates INTEGER NOT NULL DEFAULT 0, samples INTEGER NOT NULL DEFAULT 0,
                        leases_issued INTEGER NOT NULL DEFAULT 0);
                    CREATE TABLE evaluations (
                        round INTEGER PRIMARY KEY, version TEXT NOT NULL REFERENCES checkpoints(version),
                        metric TEXT NOT NULL, value REAL NOT NULL, loss REAL NOT NULL,
                        samples INTEGER NOT NULL, created_at REAL NOT NULL);
                    CREATE TABLE leases (
                        id TEXT PRIMARY KEY, round INTEGER NOT NULL REFERENCES rounds(number),
                        peer_id TEXT NOT NULL REFERENCES peers(id), slot INTEGER NOT NULL, shard_ids TEXT NOT NULL,
                        seed INTEGER NOT NULL, samples INTEGER NOT NULL, issued_at REAL NOT NULL,
                        deadline REAL NOT NULL, status TEXT NOT NULL DEFAULT 'open');
                    CREATE INDEX leases_round ON leases(round);
                    CREATE TABLE updates (
                        lease_id TEXT PRIMARY KEY REFERENCES leases(id), round INTEGER NOT NULL,
                        peer_id TEXT NOT NULL REFERENCES peers(id), samples INTEGER NOT NULL, bytes INTEGER NOT NULL,
                        sha256 TEXT NOT NULL, train_loss REAL, envelope BLOB NOT NULL,
                        receipt_id TEXT NOT NULL UNIQUE, credit REAL NOT NULL, accepted_at REAL NOT NULL);
                    CREATE INDEX updates_round ON updates(round);
                    CREATE TABLE ledger (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, peer_id TEXT NOT NULL REFERENCES peers(id),
                        lease_id TEXT NOT NULL UNIQUE REFERENCES leases(id), round INTEGER NOT NULL,
                        samples INTEGER NOT NULL, gflop REAL NOT NULL, receipt_id TEXT NOT NULL,
                        created_at REAL NOT NULL);
                    CREATE INDEX ledger_peer ON ledger(peer_id);
                    CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
                        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
                    CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
                        BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;
                    CREATE TABLE rejections (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, peer_id TEXT, lease_id TEXT, code TEXT NOT NULL,
                        bytes INTEGER NOT NULL, created_at REAL NOT NULL);
                    CREATE INDEX rejections_peer ON rejections(peer_id);
                    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                    CREATE TABLE outer_state (
                        id INTEGER PRIMARY KEY CHECK (id = 1), round INTEGER NOT NULL, momentum BLOB NOT NULL);
                    """)
        }
        // Async aggregation: an update is folded into the round that was collecting when it was accepted, which
        // may be later than its lease's round. Existing rows were folded into their lease's round.
        m.registerMigration("2026-11-27-folded-round") { db in
            try db.execute(
                sql: """
                    ALTER TABLE updates ADD COLUMN folded_round INTEGER;
                    UPDATE updates SET folded_round = round;
                    CREATE INDEX updates_folded_round ON updates(folded_round);
                    CREATE INDEX updates_peer ON updates(peer_id, accepted_at);
                    CREATE INDEX leases_status_round ON leases(status, round);
                    """)
        }
        // Credit on aggregation (issue 13): an upload is stored `pending` and earns its ledger entry only when its
        // round's defence accepts it into the aggregate. Existing rows were credited on upload.
        m.registerMigration("2026-12-05-credit-on-aggregation") { db in
            try db.execute(
                sql: """
                    ALTER TABLE updates ADD COLUMN status TEXT NOT NULL DEFAULT 'credited';
                    ALTER TABLE updates ADD COLUMN reason TEXT;
                    ALTER TABLE updates ADD COLUMN norm REAL;
                    ALTER TABLE updates ADD COLUMN clip_scale REAL;
                    ALTER TABLE updates ADD COLUMN values_sha256 TEXT;
                    ALTER TABLE updates ADD COLUMN sketch BLOB;
                    CREATE INDEX updates_values_sha256 ON updates(values_sha256);
                    CREATE INDEX updates_status ON updates(status, accepted_at);
                    ALTER TABLE ledger ADD COLUMN clip_scale REAL;
                    ALTER TABLE ledger ADD COLUMN norm REAL;
                    ALTER TABLE outer_state ADD COLUMN broadcast_sketch BLOB;
                    """)
        }
        // Crowd scale (issue 15): rejection totals become counters (per code, and per peer), the rejections table
        // keeps only recent evidence, and the status board's start-up read of recent uploads has an index.
        m.registerMigration("2026-12-07-bounded-rejections") { db in
            try db.execute(
                sql: """
                    INSERT INTO counters (name, value)
                        SELECT 'rejected:' || code, COUNT(*) FROM rejections GROUP BY code
                        ON CONFLICT(name) DO UPDATE SET value = excluded.value;
                    ALTER TABLE peers ADD COLUMN rejected INTEGER NOT NULL DEFAULT 0;
                    UPDATE peers SET rejected = (SELECT COUNT(*) FROM rejections r WHERE r.peer_id = peers.id);
                    CREATE INDEX updates_accepted_at ON updates(accepted_at);
                    """)
        }
        // Verified work (issue 16): trajectory commitments, challenges and proofs with each update, the evidence of
        // every verification, per-peer audit records and suspension, and the inner-optimizer state a lease allows.
        m.registerMigration("2026-12-08-verified-work") { db in
            try db.execute(
                sql: """
                    ALTER TABLE peers ADD COLUMN suspended_at REAL;
                    ALTER TABLE peers ADD COLUMN suspension TEXT;
                    ALTER TABLE peers ADD COLUMN audit_clean INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE peers ADD COLUMN inner_state TEXT;
                    ALTER TABLE leases ADD COLUMN inner_state TEXT;
                    ALTER TABLE updates ADD COLUMN commitment BLOB;
                    ALTER TABLE updates ADD COLUMN challenge_segment INTEGER;
                    ALTER TABLE updates ADD COLUMN challenge_deadline REAL;
                    ALTER TABLE updates ADD COLUMN verification TEXT;
                    ALTER TABLE updates ADD COLUMN proof_at REAL;
                    ALTER TABLE updates ADD COLUMN proof BLOB;
                    CREATE INDEX updates_verification ON updates(verification, challenge_deadline);
                    CREATE TABLE verifications (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, lease_id TEXT NOT NULL, peer_id TEXT NOT NULL,
                        round INTEGER NOT NULL, segment INTEGER NOT NULL, verifier TEXT NOT NULL, result TEXT NOT NULL,
                        report TEXT NOT NULL, created_at REAL NOT NULL);
                    CREATE INDEX verifications_peer ON verifications(peer_id);
                    """)
        }
        // Display names (issue 17): one peer per `DisplayName.key` (case, accents, spaces and look-alikes folded),
        // enforced by a unique index. Names stored before keep their text; their keys are backfilled oldest first,
        // and a later duplicate gets the suffix " #2", " #3", … (keys never contain a space, so no new name can
        // collide with a suffixed one) — the migration cannot fail on the names already there.
        m.registerMigration("2026-12-09-name-keys") { db in
            try db.execute(sql: "ALTER TABLE peers ADD COLUMN name_key TEXT")
            var taken = Set<String>()
            for row in try Row.fetchAll(db, sql: "SELECT id, name FROM peers ORDER BY created_at, id") {
                let base = DisplayName.key(of: row["name"])
                var key = base
                var n = 2
                while !taken.insert(key).inserted {
                    key = "\(base) #\(n)"
                    n += 1
                }
                try db.execute(sql: "UPDATE peers SET name_key = ? WHERE id = ?", arguments: [key, row["id"] as String])
            }
            try db.execute(sql: "CREATE UNIQUE INDEX peers_name_key ON peers(name_key)")
        }
        // A peer's open leases are read on every shard download (only a leased shard is served) and when the operator
        // revokes a peer (its open leases are expired at once): one index lookup instead of a scan of every lease.
        m.registerMigration("2026-12-10-lease-holder") { db in
            try db.execute(sql: "CREATE INDEX leases_peer_status ON leases(peer_id, status)")
        }
        // Model retention (`distribution.keepVersions`): the checkpoint files of old versions are removed; their rows
        // stay (rounds and evaluations name them) and this table says the file is gone on purpose.
        m.registerMigration("2026-12-11-removed-checkpoints") { db in
            try db.execute(
                sql: "CREATE TABLE removed_checkpoints (version TEXT PRIMARY KEY REFERENCES checkpoints(version), removed_at REAL NOT NULL)")
        }
        return m
    }
}

extension UInt64 {
    /// SQLite stores signed 64-bit integers: round-trip through the bit pattern.
    var sqlValue: Int64 { Int64(bitPattern: self) }
    init(sql: Int64) { self = UInt64(bitPattern: sql) }
}

extension SQLiteStore {
    /// Row count of `table` (tests and diagnostics; `table` is never user input).
    package func count(_ table: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0 }
    }
}
