import CrowdProtocol
import CrowdTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CrowdCoordinator

/// `POST /v1/join` and display names: refused names are 400 `invalid_name`, look-alikes of a taken name are
/// 409 `name_taken`, and neither uses the invite. The name-key migration keys names stored before it.
@Suite struct JoinNameTests {
    @Test func aConfusableNameIsTakenAndTheInviteStaysUsable() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(2)
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            _ = try await api.join(invites[0], "Alice")
            for impostor in ["Alice", "ALICE", "A1ice", "Al ice", "Ａｌｉｃｅ", "\u{0410}\u{0406}\u{0456}\u{0441}\u{0435}"] {
                let r = try await api.json(.post, APIPath.join, JoinRequest(invite: invites[1], name: impostor))
                expectRejected(r, .conflict, .nameTaken)
                #expect(text(r).contains("choose another name, for example"), "\(text(r))")
            }
            let taken = try await api.json(.post, APIPath.join, JoinRequest(invite: invites[1], name: "alice"))
            #expect(text(taken).contains("'alice 2'"), "the suggestion is free: \(text(taken))")
            // The same invite still joins, under a name of its own.
            #expect(try tc.count("invites WHERE used_at IS NULL") == 1)
            let bob = try await api.join(invites[1], "Bob")
            #expect(!bob.credential.isEmpty)
        }
        #expect(try tc.count("peers") == 2)
        #expect(try tc.count("invites WHERE used_at IS NULL") == 0)
    }

    @Test func invalidNamesAreRefusedBeforeTheInviteIsUsed() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invite = try tc.invite(1)[0]
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let bidi = try await api.json(.post, APIPath.join, JoinRequest(invite: invite, name: "\u{202E}ecilA"))
            expectRejected(bidi, .badRequest, .invalidName)
            #expect(text(bidi).contains("bidi control character (U+202E)"), "\(text(bidi))")
            let mixed = try await api.json(.post, APIPath.join, JoinRequest(invite: invite, name: "\u{0410}lice"))
            expectRejected(mixed, .badRequest, .invalidName)
            #expect(text(mixed).contains("U+0410 is Cyrillic"), "\(text(mixed))")
            let long = try await api.json(
                .post, APIPath.join, JoinRequest(invite: invite, name: String(repeating: "a", count: 41)))
            expectRejected(long, .badRequest, .invalidName)
            let zeroWidth = try await api.json(.post, APIPath.join, JoinRequest(invite: invite, name: "Ca\u{200B}rol"))
            expectRejected(zeroWidth, .badRequest, .invalidName)
            #expect(try tc.count("peers") == 0)
            // Stored normalised: NFC, trimmed, inner whitespace collapsed.
            _ = try await api.join(invite, "  Jose\u{0301}\u{00A0}\u{00A0}Carol ")
        }
        #expect(try tc.count("peers WHERE name = 'Jos\u{00E9} Carol'") == 1)
    }

    /// Names stored before the name-key migration (even duplicates by key, or names the rules now refuse) are kept
    /// and keyed oldest first with a suffix for later duplicates; new look-alikes of them are refused.
    @Test func theNameKeyMigrationKeysOldDuplicatesWithoutFailing() throws {
        let path = NSTemporaryDirectory() + "crowdtrain-names-\(UUID().uuidString).sqlite"
        defer {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        }
        let peers = ["Alice", "ALICE", "Al ice", "bob", "\u{202E}bob"]
        var sql = "INSERT INTO invites (hash, created_at, used_at) VALUES ('old', 0, 0);\n"
        for (i, name) in peers.enumerated() {
            sql += "INSERT INTO peers (id, name, credential_hash, invite_hash, created_at) "
                + "VALUES ('p\(i)', '\(name)', 'c\(i)', 'old', \(i));\n"
        }
        try SQLiteStore.createMigrated(path: path, upTo: "2026-12-08-verified-work", then: sql)
        let store = try SQLiteStore(path: path)
        #expect(try store.appliedMigrations().contains("2026-12-09-name-keys"))
        #expect(try store.count("peers") == 5)
        let alice = DisplayName.key(of: "Alice")
        for (id, key) in [("p0", alice), ("p1", alice + " #2"), ("p2", alice + " #3"), ("p3", "bob"), ("p4", "bob #2")] {
            #expect(try store.count("peers WHERE id = '\(id)' AND name_key = '\(key)'") == 1, "\(id)")
        }
        try store.insertInvites(hashes: ["new"], note: nil, at: 10)
        #expect(
            try store.redeemInvite(
                hash: "new", peerID: "p5", name: try DisplayName("a1ice"), credentialHash: "c5", at: 11)
                == .nameTaken(suggestion: "a1ice 2"))
        guard
            case .joined = try store.redeemInvite(
                hash: "new", peerID: "p5", name: try DisplayName("carol"), credentialHash: "c5", at: 12)
        else {
            Issue.record("the invite should still join after a refused name")
            return
        }
        #expect(try store.count("peers") == 6)
    }
}
