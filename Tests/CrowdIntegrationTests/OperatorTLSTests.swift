import CrowdClient
import CrowdCoordinator
import CrowdPeer
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Testing

/// The operator commands' path end to end over real TLS: the CLI's `CoordinatorClient` with the operator token makes
/// invites, revokes a peer holding the round's only slot (which the next peer then gets at once), audits with a
/// volunteer's receipts and exports the model.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct OperatorTLSTests {
    @Test func operatorCommandsWorkAgainstAServingCoordinator() async throws {
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 2, localSteps: 4)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let token = try CoordinatorClient.operatorToken(
            file: CampaignPaths(directory: campaign.coordinatorDir).operatorToken)
        let op = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM, secret: token)
        let anonymous = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM)
        var clients = [op, anonymous]
        do {
            let forged = try CoordinatorClient(
                baseURL: coordinator.url, caPEM: campaign.caPEM,
                secret: Secrets.token(prefix: CredentialFormat.operatorPrefix))
            clients.append(forged)
            let unauthorized = await #expect(throws: CoordinatorClientError.self) {
                _ = try await forged.createInvites(count: 1, note: nil)
            }
            #expect(unauthorized?.status == 401)
            let invites = try await op.createInvites(count: 2, note: "tls")
            #expect(invites.count == 2)
            let eve = try await PeerEnrollment.join(
                coordinator: coordinator.url, caPEM: campaign.caPEM, invite: invites[0], name: "eve",
                directory: campaign.peerDir(1))
            let ada = try await PeerEnrollment.join(
                coordinator: coordinator.url, caPEM: campaign.caPEM, invite: invites[1], name: "ada",
                directory: campaign.peerDir(2))
            let eveClient = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM, secret: eve.secret)
            let adaClient = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM, secret: ada.secret)
            clients += [eveClient, adaClient]
            #expect(try await eveClient.lease(LeaseRequest(threads: 1)).lease != nil)
            #expect(try await adaClient.lease(LeaseRequest(threads: 1)).reason == LeaseWaitReason.roundFull.rawValue)

            let revoked = try await op.revokePeer(id: eve.peerID)
            #expect(revoked.revoked && revoked.leasesFreed == 1)
            #expect(try await adaClient.lease(LeaseRequest(threads: 1)).lease != nil)
            let refused = await #expect(throws: CoordinatorClientError.self) {
                _ = try await eveClient.lease(LeaseRequest(threads: 1))
            }
            #expect(refused?.apiCode == .revoked)

            let report = try await op.audit(receipts: [])
            #expect(report.ok, "\(report.violations)")
            let settings = try await op.changeSettings(CampaignSettingsChange(goalSamples: 123_456))
            #expect(settings.goalSamples == 123_456)
            #expect(try await anonymous.status().goalSamples == 123_456)

            let (bundle, model) = try await op.export()
            let out = campaign.root + "/export"
            _ = try ExportWriter.write(bundle, model: model, to: out)
            for file in ["model.ckpt", "evaluation.json", "credits.json", "CREDITS.md"] {
                #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
            }
            #expect(bundle.evaluation.modelVersion == (try await anonymous.status().modelVersion))
            #expect(throws: ClientSetupError.self) { _ = try ExportWriter.write(bundle, model: model, to: out) }
        } catch {
            Issue.record(error)
        }
        for client in clients { await client.shutdown() }
        await coordinator.stop()
    }
}
