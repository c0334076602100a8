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

    public func redeemInvite(hash: String, peerID: String, name: String, credentialHash: String, at time: Double)
        throws -> InviteRedemption
    {
        try pool.write { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT used_at, revoked_at FROM invites WHERE hash = ?", arguments: [hash])
            else { return .unknown }
            if (row["revoked_at"] as Double?) != nil { return .revoked }
            if (row["used_at"] as Double?) != nil { return .used }
            try db.execute(
                sql: "UPDATE invites SET used_at = ?, used_by = ? WHERE hash = ? AND used_at IS NULL",
                arguments: [time, peerID, hash])
            guard db.changesCount == 1 else { return .used }
            try db.execute(
                sql: """
                    INSERT INTO peers (id, name, credential_hash, invite_hash, created_at, last_seen)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """, arguments: [peerID, name, credentialHash, hash, time, time])
            return .joined(PeerRecord(id: peerID, name: name, createdAt: time, lastSeen: time, revokedAt: nil))
        }
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

    public func touchPeer(id: String, at time: Double) throws { try touchPeers([id: time]) }

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
            return db.changesCount == 1
        }
    }
}
