import CrowdProtocol
import Foundation
import CrowdEngine
import Testing
@testable import CrowdPeer

/// `crowdtrain peer status`: reading the daemon's status file and receipts, and the messages when
/// they are missing or damaged.
struct PeerStatusReportTests {
    func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "crowdtrain-peerstatus-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func readsStatusAndReceipts() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var status = PeerStatus()
        status.state = .backingOff
        status.reason = "coordinator unreachable"
        status.updatedAt = 1_000
        status.lifetime.accepted = 2
        status.lifetime.credit = 3.5
        status.lastRejection = .init(code: "lease_expired", message: "stale", round: 4, at: 990)
        try status.write(to: dir + "/status.json")
        let receipts = [
            Receipt(receiptID: "r1", leaseID: "l1", round: 1, samples: 10, credit: 1.5, acceptedAt: 900),
            Receipt(receiptID: "r2", leaseID: "l2", round: 2, samples: 10, credit: 2.0, acceptedAt: 950),
        ]
        var lines = Data()
        for r in receipts { lines += try JSONEncoder().encode(r) + Data("\n".utf8) }
        lines += Data("{\"receiptID\": \"torn".utf8)
        try lines.write(to: URL(fileURLWithPath: dir + "/receipts.jsonl"))

        let report = try PeerStatusReport.read(directory: dir, now: 1_010)
        #expect(report.status == status)
        #expect(report.receipts == receipts)
        #expect(report.age == 10 && !report.isStale)
        #expect(report.activity == "backing off after an error: coordinator unreachable")
    }

    @Test func oldActiveStatusIsStaleButStoppedIsNot() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var status = PeerStatus()
        status.state = .training
        status.updatedAt = 1_000
        try status.write(to: dir + "/status.json")
        let late = 1_000 + PeerStatusReport.staleAfter + 1
        let stale = try PeerStatusReport.read(directory: dir, now: late)
        #expect(stale.isStale && stale.activity.contains("STALE"))
        #expect(try PeerStatusReport.read(directory: dir, now: 1_001).isStale == false)
        status.state = .stopped
        try status.write(to: dir + "/status.json")
        #expect(try PeerStatusReport.read(directory: dir, now: late).isStale == false)
    }

    @Test func missingAndCorruptFilesSayWhatToDo() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect { try PeerStatusReport.read(directory: dir) } throws: { "\($0)".contains("not a peer directory") }
        FileManager.default.createFile(atPath: dir + "/credential.json", contents: Data("{}".utf8))
        #expect { try PeerStatusReport.read(directory: dir) } throws: { "\($0)".contains("no daemon has run") }
        FileManager.default.createFile(atPath: dir + "/status.json", contents: Data("{\"state\": \"trai".utf8))
        #expect { try PeerStatusReport.read(directory: dir) } throws: { "\($0)".contains("damaged") }
    }

    @Test func showsTheSettingsTheDaemonRunsWith() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var status = PeerStatus()
        status.updatedAt = 1_000
        try status.write(to: dir + "/status.json")
        #expect(try PeerStatusReport.read(directory: dir, now: 1_000).settingsLines == nil)
        let snapshot = PeerLiveSettings.Snapshot(
            threads: 2,
            limits: PeerLimits(
                cpuLimitPercent: 50, nice: 12, uploadBytesPerSecond: 200_000, memoryLimitBytes: 2_000_000_000),
            suspend: SuspendSettings(idleOnlyMinutes: 10, acOnly: true, hours: try HourWindow(parsing: "22-7"),
                                     dailyDataCap: 500_000_000))
        status.settings = PeerStatus.Settings(snapshot, generation: 1)
        try status.write(to: dir + "/status.json")
        let report = try PeerStatusReport.read(directory: dir, now: 1_000)
        #expect(report.status.settings?.hours == "22-7" && report.status.settings?.cpuLimitPercent == 50)
        let lines = try #require(report.settingsLines)
        // The daemon also says which GEMM its engine runs (`BLASBackend.summary`), so every figure names what ran.
        #expect(lines.limits == "2 threads, cpu 50%, nice 12, upload 200.0 kB/s, download unlimited, memory 2.00 GB "
            + "(reloaded 1×); compute: \(BLASBackend.shared.summary)")
        #expect(lines.limits.contains("compute: OpenBLAS core") || lines.limits.contains("compute: portable"))
        #expect(lines.schedule == "idle 10 min, AC only, hours 22-7, data cap 500.00 MB/day")
    }
}
