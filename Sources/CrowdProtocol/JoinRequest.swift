/// `POST /v1/join` body: a volunteer redeems a single-use invite.
///
/// The invite is the only thing that authorizes the call; `name` is a display name for the
/// contributors table: it must pass `DisplayName` (`invalid_name`) and be unique by `DisplayName.key` within the
/// campaign (`name_taken`); the coordinator stores its normalised form.
public struct JoinRequest: Codable, Sendable, Equatable {
    /// Invite token printed by `crowdtrain coordinator invite` (`ct_inv_…`).
    public var invite: String
    /// Display name shown in `crowdtrain stats`.
    public var name: String

    public init(invite: String, name: String) {
        self.invite = invite
        self.name = name
    }
}
