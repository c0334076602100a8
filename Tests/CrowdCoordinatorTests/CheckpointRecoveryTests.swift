import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Testing

@testable import CrowdCoordinator

/// Torn or corrupt checkpoints are detected by size and SHA-256 on start, and the newest good one is used.
@Suite struct CheckpointRecoveryTests {
    enum Damage: CustomStringConvertible {
        case truncate(to: Int)
        case flip(byte: Int, bit: Int)

        var description: String {
            switch self {
            case .truncate(let n): "truncated to \(n) bytes"
            case .flip(let byte, let bit): "bit \(bit) of byte \(byte) flipped"
            }
        }

        func apply(to path: String) throws {
            var bytes = [UInt8](try #require(FileManager.default.contents(atPath: path)))
            switch self {
            case .truncate(let n): bytes = Array(bytes.prefix(n))
            case .flip(let byte, let bit): bytes[byte] ^= UInt8(1 << bit)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }
    }

    /// 20 seeded cases: the newest checkpoint (and in every third case the one before it too) truncated at a random
    /// length or with one random bit flipped. Each is detected, named in one log line, and the newest good
    /// checkpoint is served from a new round; credit already given stays.
    @Test func twentySeededTruncationsAndBitFlipsFallBackToTheNewestGoodCheckpoint() async throws {
        let f = try await DurabilityFixture.make(rounds: 3)
        defer { f.remove() }
        let ledgerBefore = try f.tc.count("ledger")
        var rng = SeededRNG(seed: 2026)
        for i in 0..<20 {
            let copy = try f.copy()
            defer { try? FileManager.default.removeItem(atPath: copy.directory) }
            let damaged = i % 3 == 2 ? 2 : 1
            var descriptions: [String] = []
            for k in 0..<damaged {
                let round = UInt64(f.rounds - k)
                let path = copy.checkpoint(round: round)
                let size = try #require(FileManager.default.contents(atPath: path)).count
                let damage: Damage =
                    i % 2 == 0
                    ? .truncate(to: rng.nextInt(below: size))
                    : .flip(byte: rng.nextInt(below: size), bit: rng.nextInt(below: 8))
                try damage.apply(to: path)
                descriptions.append("round \(round) \(damage)")
            }
            let log = CapturedLog()
            let c = try f.open(copy, logger: log.logger)
            let good = f.rounds - damaged
            #expect(await c.currentModelVersion == f.versions[good], "case \(i): \(descriptions)")
            // The open round (rounds + 1) was abandoned; the next one trains from the good checkpoint.
            #expect(await c.roundState.round == UInt64(f.rounds + 2), "case \(i)")
            let fallback = log.all.filter { $0.contains("checkpoint fallback") }
            #expect(fallback.count == 1, "case \(i): \(log.all)")
            let line = fallback.first ?? ""
            #expect(line.contains(copy.checkpointRelative(round: UInt64(f.rounds))), "case \(i): \(line)")
            #expect(
                line.contains("using \(copy.checkpointRelative(round: UInt64(good)))"), "case \(i): \(line)"
            )
            let store = try SQLiteStore(path: copy.database)
            // Credit given stays, and the abandoned round's stored updates are credited (they lost their round through
            // the coordinator's fault): every stored update now has exactly one ledger entry.
            #expect(try store.count("ledger") >= ledgerBefore, "case \(i): credit given stays")
            #expect(try store.count("ledger") == (try store.count("updates")), "case \(i): abandoned round credited")
            #expect(try store.outerState() == nil, "case \(i): outer momentum reset")
        }
    }

    @Test func afterAFallbackTheAbandonedRoundsLeaseIsStaleAndTheNewRoundCompletes() async throws {
        let f = try await DurabilityFixture.make(rounds: 2)
        defer { f.remove() }
        let copy = try f.copy()
        defer { try? FileManager.default.removeItem(atPath: copy.directory) }
        try Damage.flip(byte: 100, bit: 3).apply(to: copy.checkpoint(round: 2))
        let c = try f.open(copy)
        #expect(await c.currentModelVersion == f.versions[1])
        // A peer still holding the abandoned round's lease gets a clear stale error, not credit.
        let base = try Data(contentsOf: URL(fileURLWithPath: copy.checkpoint(round: 1)))
        let n = await c.currentParameters.count
        let stale = try envelope([Float](repeating: 0.01, count: n), lease: f.openLease, base: base)
        await #expect(throws: APIError.self) {
            _ = try await c.upload(
                leaseID: f.openLease.leaseID, peer: f.peers[1], body: stale, trainLoss: nil)
        }
        // An update acknowledged before the crash is still acknowledged with the same receipt.
        let acknowledged = try #require(f.receipts.last)
        let record = try #require(
            try SQLiteStore(path: copy.database).acceptedUpdate(leaseID: acknowledged.receipt.leaseID))
        #expect(
            record.receipt.receiptID == acknowledged.receipt.receiptID && record.receipt.round == acknowledged.receipt.round
                && record.receipt.samples == acknowledged.receipt.samples
                && record.receipt.sha256 == acknowledged.receipt.sha256)
        #expect(record.status == "credited")  // its round was abandoned: credited without a model step
        // The new round trains from the good checkpoint and closes.
        for p in f.peers {
            let lease = try #require(try await c.lease(for: p, request: LeaseRequest(threads: 1)).lease)
            #expect(lease.round == 4 && lease.modelVersion == f.versions[1])
            _ = try await c.upload(
                leaseID: lease.leaseID, peer: p,
                body: try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base),
                trainLoss: nil)
        }
        try await c.tick()
        #expect(await c.roundState.round == 5)
        // A restart after the fallback continues normally: the damaged file is only warned about.
        let log = CapturedLog()
        let again = try f.open(copy, logger: log.logger)
        #expect(await again.roundState.round == 5)
        #expect(!log.all.contains { $0.contains("checkpoint fallback") })
        #expect(
            log.all.contains {
                $0.contains(copy.checkpointRelative(round: 2)) && $0.contains("not needed")
            })
        let report = try CampaignAudit.run(directory: copy.directory, acknowledged: f.receipts)
        #expect(report.ok, "\(report.violations)")
    }

    @Test func withoutAnyGoodCheckpointTheCoordinatorRefusesToStart() async throws {
        let f = try await DurabilityFixture.make(rounds: 1)
        defer { f.remove() }
        let copy = try f.copy()
        defer { try? FileManager.default.removeItem(atPath: copy.directory) }
        try Damage.truncate(to: 10).apply(to: copy.checkpoint(round: 0))
        try FileManager.default.removeItem(atPath: copy.checkpoint(round: 1))
        do {
            _ = try f.open(copy)
            Issue.record("opened a campaign without a usable checkpoint")
        } catch let error as CoordinatorError {
            #expect(error.description.contains("Refusing to start over"))
            #expect(error.description.contains("checkpoints/round-000001.ckpt: the file is missing"))
            #expect(error.description.contains("checkpoints/round-000000.ckpt: the file has 10 bytes"))
        }
        // Nothing was changed: the open round is still round 2.
        #expect(try SQLiteStore(path: copy.database).currentRound()?.number == 2)
    }

    /// Start-up reads only the recent history: a bit flip deep in it is left to `CampaignAudit`, a truncation is
    /// still caught by the size check.
    @Test func deepHistoryIsSizeCheckedAtStartAndHashedByTheAudit() async throws {
        let f = try await DurabilityFixture.make(rounds: 5)
        defer { f.remove() }
        let copy = try f.copy()
        defer { try? FileManager.default.removeItem(atPath: copy.directory) }
        try Damage.flip(byte: 50, bit: 1).apply(to: copy.checkpoint(round: 0))
        try Damage.truncate(to: 99).apply(to: copy.checkpoint(round: 1))
        let log = CapturedLog()
        let c = try f.open(copy, logger: log.logger)
        #expect(await c.currentModelVersion == f.versions[5])
        let warnings = log.all.filter { $0.hasPrefix("warning") }
        #expect(
            warnings.count == 1 && warnings.first?.contains(copy.checkpointRelative(round: 1)) == true,
            "\(warnings)")
        let report = try CampaignAudit.run(directory: copy.directory, acknowledged: f.receipts)
        #expect(report.ok, "\(report.violations)")
        #expect(report.damagedHistory.count == 2, "\(report.damagedHistory)")
        #expect(
            report.damagedHistory.contains {
                $0.hasPrefix(copy.checkpointRelative(round: 0)) && $0.contains("SHA-256")
            })
    }

    /// A finished campaign whose final checkpoint is damaged serves the newest good one and stays finished.
    @Test func aFinishedCampaignServesTheNewestGoodCheckpointAndStaysFinished() async throws {
        let tc = try TestCampaign.make { $0.maxRounds = 1 }
        defer { tc.remove() }
        let c = try tc.open()
        let initial = await c.currentModelVersion
        for (i, invite) in try tc.invite(2).enumerated() {
            let joined = try await c.join(JoinRequest(invite: invite, name: "p\(i)"))
            let peer = try await c.authenticate(authorization: "Bearer \(joined.credential)")
            let lease = try #require(try await c.lease(for: peer, request: LeaseRequest(threads: 1)).lease)
            let base = try await c.modelBytes(version: lease.modelVersion)
            let n = await c.currentParameters.count
            _ = try await c.upload(
                leaseID: lease.leaseID, peer: peer,
                body: try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base), trainLoss: nil)
        }
        try await c.tick()
        #expect(await c.roundState.phase == .finished)
        let paths = CampaignPaths(directory: tc.directory)
        try Damage.truncate(to: 1000).apply(to: paths.checkpoint(round: 1))
        let log = CapturedLog()
        let reopened = try Coordinator.open(directory: tc.directory, clock: tc.clock, logger: log.logger)
        #expect(await reopened.currentModelVersion == initial)
        #expect(await reopened.roundState.phase == .finished)
        #expect(log.all.contains { $0.contains("checkpoint fallback") && $0.contains("the campaign is finished") })
        #expect(try SQLiteStore(path: paths.database).currentRound()?.number == 1)
    }

    @Test func aDamagedOlderCheckpointIsReportedButNotUsed() async throws {
        let f = try await DurabilityFixture.make(rounds: 2)
        defer { f.remove() }
        let copy = try f.copy()
        defer { try? FileManager.default.removeItem(atPath: copy.directory) }
        try Damage.flip(byte: 0, bit: 0).apply(to: copy.checkpoint(round: 1))
        let log = CapturedLog()
        let c = try f.open(copy, logger: log.logger)
        #expect(await c.currentModelVersion == f.versions[2])
        #expect(await c.roundState.round == 3)
        #expect(
            log.all.contains { $0.hasPrefix("warning") && $0.contains(copy.checkpointRelative(round: 1)) }
        )
    }
}
