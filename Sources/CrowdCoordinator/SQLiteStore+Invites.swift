import CrowdProtocol
import Foundation
import GRDB

extension SQLiteStore: InviteRepository {
    public func insertInvites(hashes: [String], note: String?, at time: Double) throws {
        try pool.write { db in
            for h in hashes {
                try db.execute(
                    sql: "INSERT INTO invites (hash, note, created_at) VALUES (?, ?, ?)", arguments: [h, note, time])
            }
        }
    }

    public func revokeInvite(hash: String, at time: Double) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE invites SET revoked_at = ? WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL",
                arguments: [time, hash])
            return db.changesCount == 1
        }
    }

    public func revokeUnusedInvites(at time: Double) throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE invites SET revoked_at = ? WHERE used_at IS NULL AND revoked_at IS NULL", arguments: [time]
            )
            return db.changesCount
        }
    }

    public func redeemInvite(hash: String, peerID: String, name: DisplayName, credentialHash: String, at time: Double)
        throws -> InviteRedemption
    {
        try pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT used_at, revoked_at FROM invites WHERE hash = ?", arguments: [hash])
            else { return .unknown }
            if (row["revoked_at"] as Double?) != nil { return .revoked }
            if (row["used_at"] as Double?) != nil { return .used }
            // The name is checked before the invite is touched: a refused name leaves the invite usable. Names of
            // revoked and suspended peers stay taken (their credit is still theirs).
            if try Self.nameKeyTaken(db, name.key) {
                var suggestion: String?
                for n in 2...99 {
                    guard let candidate = name.numbered(n) else { break }
                    if try !Self.nameKeyTaken(db, candidate.key) {
                        suggestion = candidate.value
                        break
                    }
                }
                return .nameTaken(suggestion: suggestion)
            }
            try db.execute(
                sql: "UPDATE invites SET used_at = ?, used_by = ? WHERE hash = ? AND used_at IS NULL",
                arguments: [time, peerID, hash])
            guard db.changesCount == 1 else { return .used }
            try db.execute(
                sql: """
                    INSERT INTO peers (id, name, name_key, credential_hash, invite_hash, created_at, last_seen)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [peerID, name.value, name.key, credentialHash, hash, time, time])
            return .joined(PeerRecord(id: peerID, name: name.value, createdAt: time, lastSeen: time, revokedAt: nil))
        }
    }

    static func nameKeyTaken(_ db: Database, _ key: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM peers WHERE name_key = ?)", arguments: [key]) ?? false
    }
}

extension SQLiteStore: PeerRepository {
    static func peer(_ row: Row) -> PeerRecord {
        PeerRecord(
            id: row["id"], name: row["name"], createdAt: row["created_at"], lastSeen: row["last_seen"],
            revokedAt: row["revoked_at"], suspendedAt: row["suspended_at"], suspension: row["suspension"],
            auditClean: row["audit_clean"], innerState: row["inner_state"])
    }

    public func peer(credentialHash: String) throws -> PeerRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM peers WHERE credential_hash = ?", arguments: [credentialHash])
                .map(Self.peer)
        }
    }

    public func peer(id: String) throws -> PeerRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM peers WHERE id = ?", arguments: [id]).map(Self.peer)
        }
    }

    public func touchPeers(_ seen: [String: Double]) throws {
        guard !seen.isEmpty else { return }
        try pool.write { db in
            let statement = try db.cachedStatement(
                sql: "UPDATE peers SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?")
            for (id, time) in seen { try statement.execute(arguments: [time, id]) }
        }
    }

    public func revokePeer(id: String, at time: Double) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE peers SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", arguments: [time, id])
            guard db.changesCount == 1 else { return false }
            // Its open leases end with the credential, in the same transaction (the round's slots are freed in memory
            // by the caller, so a restart restores the same picture).
            try db.execute(sql: "UPDATE leases SET status = 'expired' WHERE peer_id = ? AND status = 'open'", arguments: [id])
            return true
        }
    }
}
