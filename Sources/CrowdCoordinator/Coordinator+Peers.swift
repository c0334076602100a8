import Synchronization
import CrowdProtocol
import Foundation

extension Coordinator {
    /// Redeems an invite: creates the peer and returns its one-time-shown credential.
    ///
    /// The name must pass `DisplayName` (`invalid_name`, 400) and its key must be free in the campaign
    /// (`name_taken`, 409); both refusals leave the invite usable (the name is checked in the same transaction that
    /// uses the invite, before it does).
    public func join(_ request: JoinRequest) throws -> JoinResponse {
        let name: DisplayName
        do {
            name = try DisplayName(request.name)
        } catch {
            throw APIError(.invalidName, error.message)
        }
        guard Secrets.wellFormed(request.invite, prefix: CredentialFormat.invitePrefix) else {
            throw APIError(.invalidInvite, "that is not an invite token (ct_inv_…); ask the operator for a new invite")
        }
        let peerID = UUID().uuidString.lowercased()
        let credential = Secrets.newCredential()
        let now = clock.now()
        switch try store.redeemInvite(
            hash: Secrets.hash(request.invite), peerID: peerID, name: name, credentialHash: Secrets.hash(credential),
            at: now)
        {
        case .joined:
            board.update { $0.peersTotal += 1 }
            board.seen(peer: peerID, at: now)
            logger.info("peer joined", metadata: ["peer": "\(peerID)", "name": "\(name.value)"])
            return JoinResponse(
                peerID: peerID, credential: credential, campaign: campaignInfo, manifestKey: distribution.publicKey)
        case .unknown:
            throw APIError(.invalidInvite, "unknown invite; ask the operator for a new invite")
        case .revoked:
            throw APIError(.invalidInvite, "this invite was revoked; ask the operator for a new invite")
        case .used:
            throw APIError(.inviteUsed, "this invite was already used; each invite joins one peer")
        case .nameTaken(let suggestion):
            let another = suggestion.map { "choose another name, for example '\($0)'" } ?? "choose another name"
            throw APIError(
                .nameTaken,
                "the display name '\(name.value)' is taken in this campaign, or looks like one that is (names are "
                    + "compared ignoring case, accents, spaces and look-alikes such as 0/o, 1/l, rn/m and Cyrillic or "
                    + "Greek letters); \(another). Your invite was not used")
        }
    }

    /// The peer holding the bearer credential `token`, or an `unauthorized`/`revoked` error.
    /// The caller passes the raw `Authorization` header value.
    ///
    /// Runs without the actor (one indexed read on a pooled reader connection, so authentication never queues
    /// behind an aggregation or an upload's transaction), and revocation is seen on the very next call. The
    /// call's `last_seen` is written with everyone else's at the next `tick` (one transaction a second, not one per
    /// peer).
    public nonisolated func authenticate(authorization: String?) throws -> PeerRecord {
        guard let header = authorization, header.hasPrefix("Bearer ") else {
            throw APIError(
                .unauthorized, "missing credential: send `Authorization: Bearer ct_peer_…` (run `crowdtrain peer join`)"
            )
        }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        guard Secrets.wellFormed(token, prefix: CredentialFormat.peerPrefix),
            let peer = try store.peer(credentialHash: Secrets.hash(token))
        else {
            throw APIError(.unauthorized, "unknown credential; join again with a new invite")
        }
        let now = clock.now()
        guard peer.revokedAt == nil else {
            throw APIError(.revoked, "this peer's credential was revoked by the operator")
        }
        if peer.suspendedAt != nil {
            throw APIError(
                .suspended,
                "this peer's credential is suspended: its work failed verification (\(peer.suspension ?? "no detail")); "
                    + "its held credit was forfeited. Ask the campaign's operator, who sees the evidence in "
                    + "`coordinator audit`")
        }
        board.seen(peer: peer.id, at: now)
        peerTouches.touched(peer.id, at: now)
        return peer
    }

    /// Writes the `last_seen` times gathered since the last call (one transaction; `tick`).
    func flushPeerTouches() throws {
        let seen = peerTouches.take()
        do {
            try store.touchPeers(seen)
        } catch {
            peerTouches.restore(seen)
            throw error
        }
    }
}

/// `last_seen` times of authenticated calls not yet written to the database. Thread-safe.
final class PeerTouches: Sendable {
    private let touches = Mutex<[String: Double]>([:])

    func touched(_ peerID: String, at time: Double) { touches.withLock { $0[peerID] = time } }

    func take() -> [String: Double] {
        touches.withLock { t in
            defer { t.removeAll() }
            return t
        }
    }

    func restore(_ seen: [String: Double]) { touches.withLock { $0.merge(seen) { max($0, $1) } } }
}
