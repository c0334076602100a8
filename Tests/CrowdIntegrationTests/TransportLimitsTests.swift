import CrowdClient
import CrowdCoordinator
import CrowdPeer
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The HTTPS edge under attack (issue 15): each test runs the attack against the defended coordinator and, where the
/// defence is a limit that could be switched off, the same attack without it (the control), so that the defended
/// figure means something.
/// A value shared by a test's tasks.
final class Tally<Value: Sendable>: Sendable {
    private let box: Mutex<Value>
    init(_ value: Value) { box = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { box.withLock { body(&$0) } }
    var value: Value { box.withLock { $0 } }
}

@Suite(.serialized, .timeLimit(.minutes(3)))
struct TransportLimitsTests {
    static func limits(_ configure: (inout TransportLimits) -> Void) -> TransportLimits {
        var l = TransportLimits.standard
        configure(&l)
        return l
    }

    /// Opens `count` slowloris connections, `perAddress` from each of 127.0.0.2, 127.0.0.3, …
    static func slowloris(_ count: Int, perAddress: Int, port: Int) -> [Int32] {
        (0..<count).map { Slowloris.open(source: "127.0.0.\(2 + $0 / perAddress)", port: port) }
    }

    @Test func slowlorisConnectionsAreCutWhileFourHonestPeersFinishTheRound() async throws {
        let campaign = try LiveCampaign(
            peersPerRound: 4, rounds: 1, transport: Self.limits { $0.idleTimeoutSeconds = 2 })
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let invites = try campaign.invites(4)
        for i in 1...4 { _ = try await PeerEnrollment.join(
            coordinator: coordinator.url, caPEM: campaign.caPEM, invite: invites[i - 1], name: "peer-\(i)",
            directory: campaign.peerDir(i)) }

        // 500 half-open TLS handshakes from 50 addresses (10 each: under the per-address cap, so only the timeout
        // can clear them), dripping a byte a second.
        let attackers = Self.slowloris(500, perAddress: 10, port: coordinator.port)
        defer { for fd in attackers where fd >= 0 { close(fd) } }
        #expect(attackers.allSatisfy { $0 >= 0 })
        let latencies = Tally<[Double]>([])
        let honest = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 1...4 {
                let daemon = PeerDaemon(
                    directory: campaign.peerDir(i),
                    config: PeerRunConfig(threads: 1, backoffBase: 0.05, backoffCap: 0.5, exitWhenFinished: true,
                                          maxLeases: 1, seed: UInt64(i), maxWait: 0.1),
                    output: { _ in })
                group.addTask { try await daemon.run() }
            }
            group.addTask {
                for _ in 0..<6 {
                    for fd in attackers where fd >= 0 { Slowloris.drip(fd) }
                    try await Task.sleep(for: .seconds(1))
                }
            }
            group.addTask {
                for _ in 0..<120 {
                    let start = ContinuousClock.now
                    _ = try await honest.status()
                    let ms = Double((ContinuousClock.now - start).components.attoseconds) / 1e15
                        + Double((ContinuousClock.now - start).components.seconds) * 1000
                    latencies.withLock { $0.append(ms) }
                    try await Task.sleep(for: .milliseconds(25))
                }
            }
            try await group.waitForAll()
        }
        await honest.shutdown()
        let status = coordinator.app.coordinator.status()
        // Every connection is cut within the timeout of its accept; a loaded server accepts the last of 500 late,
        // so allow up to 30 s past the peers' end (the control below stays open for good; a loaded debug run once
        // needed more than 10 s for the last 7).
        var cut = 0
        for _ in 0..<300 {
            cut = attackers.filter { $0 >= 0 && Slowloris.closedByServer($0) }.count
            if cut == 500 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        await coordinator.stop()

        #expect(status.roundsCompleted == 1 && status.updatesAccepted == 4, "\(status)")
        let sorted = latencies.value.sorted()
        let p99 = sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))]
        print("slowloris: honest status p50 \(sorted[sorted.count / 2]) ms, p99 \(p99) ms over \(sorted.count) polls; \(cut) of 500 cut")
        let p50 = sorted[sorted.count / 2]
        #expect(p50 < 50, "honest status p50 \(p50) ms under 500 slowloris connections")
        // The tail is a latency figure: it holds in the release build (`.ci/release-checks` runs this suite there).
        // A debug build trains the four peers 10–50× slower on the same two cores while the other suites run, so
        // its tail measures that contention, not the edge.
        #if !DEBUG
        #expect(p99 < 200, "honest status p99 \(p99) ms under 500 slowloris connections")
        #endif
        #expect(cut == 500, "only \(cut) of 500 slowloris connections were closed after the 2 s idle timeout")
    }

    /// The control: the same slowloris connections with a one-hour idle timeout all stay open.
    @Test func withoutTheIdleTimeoutSlowlorisConnectionsStayOpen() async throws {
        let campaign = try LiveCampaign(rounds: 1, transport: Self.limits { $0.idleTimeoutSeconds = 3600 })
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let attackers = Self.slowloris(200, perAddress: 10, port: coordinator.port)
        defer { for fd in attackers where fd >= 0 { close(fd) } }
        for _ in 0..<4 {
            for fd in attackers where fd >= 0 { Slowloris.drip(fd) }
            try await Task.sleep(for: .seconds(1))
        }
        let open = attackers.filter { $0 >= 0 && !Slowloris.closedByServer($0) }.count
        let registered = coordinator.app.connections.openConnections
        await coordinator.stop()
        #expect(open == 200 && registered >= 200, "open \(open), registered \(registered)")
    }

    @Test func perAddressConnectionCapClosesTheExcessAndServesOthers() async throws {
        let campaign = try LiveCampaign(rounds: 1, transport: Self.limits { $0.maxConnectionsPerIP = 8 })
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let attackers = (0..<20).map { _ in Slowloris.open(source: "127.0.0.7", port: coordinator.port) }
        defer { for fd in attackers where fd >= 0 { close(fd) } }
        try await Task.sleep(for: .milliseconds(500))
        let cut = attackers.filter { $0 < 0 || Slowloris.closedByServer($0) }.count
        let client = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM)
        let health = try await client.health()
        await client.shutdown()
        let text = coordinator.app.coordinator.metricsText()
        await coordinator.stop()
        #expect(cut == 12, "\(cut) of 20 connections from one address closed; the cap is 8")
        #expect(health.status == "ok")
        #expect(text.contains(#"crowdtrain_requests_limited_total{limit="connections_per_ip"} 12"#), "\(text)")
    }

    @Test func aSlowBodyIsCutAndTheControlWithoutTheRateIsNot() async throws {
        for minRate in [1024, 0] {
            let campaign = try LiveCampaign(
                rounds: 1,
                transport: Self.limits {
                    $0.bodyGraceSeconds = 1
                    $0.minBodyBytesPerSecond = minRate
                    $0.idleTimeoutSeconds = 3600
                })
            defer { campaign.remove() }
            let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
            let slow = try await SlowBodyClient.connect(
                port: coordinator.port, caPEM: campaign.caPEM, path: APIPath.join, contentLength: 60_000)
            for _ in 0..<16 where !slow.closed {
                await slow.send(4)
                try await Task.sleep(for: .milliseconds(250))
            }
            let closed = slow.closed
            await slow.close()
            await coordinator.stop()
            if minRate > 0 {
                #expect(closed, "a body at 16 B/s was not cut with a minimum of \(minRate) B/s")
            } else {
                #expect(!closed, "the control (no minimum rate) cut the connection")
            }
        }
    }

    @Test func tenThousandBadInvitesAreRateLimitedAndLeaveTheDatabaseAsItWas() async throws {
        let campaign = try LiveCampaign(rounds: 1)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let database = campaign.coordinatorDir + "/campaign.sqlite"
        func size() -> Int {
            ["", "-wal"].reduce(0) {
                $0 + ((try? FileManager.default.attributesOfItem(atPath: database + $1)[.size] as? Int) ?? 0)
            }
        }
        let before = size()
        let codes = Tally<[String: Int]>([:])
        let client = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for k in stride(from: worker, to: 10_000, by: 16) {
                        do {
                            _ = try await client.join(invite: "ct_inv_\(String(repeating: "a", count: 40))\(k)", name: "x")
                            codes.withLock { $0["joined", default: 0] += 1 }
                        } catch let e as CoordinatorClientError {
                            codes.withLock { $0[e.code, default: 0] += 1 }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        await client.shutdown()
        let status = coordinator.app.coordinator.status()
        await coordinator.stop()
        let seen = codes.value
        #expect(seen["joined"] == nil && seen.values.reduce(0, +) == 10_000, "\(seen)")
        // The burst of 10 is answered, plus what the bucket refills meanwhile (joinsPerMinute: one every 10 s, so a
        // loaded machine that takes 30 s earns 3 more); everything else is refused before it reaches the database.
        let limits = TransportLimits.standard
        let refilled = Int((Double(elapsed.components.seconds) + 1) * limits.joinsPerMinute / 60)
        let answered = Int(limits.joinBurst) + refilled + 1
        #expect((seen["invalid_invite"] ?? 0) <= answered, "\(seen) in \(elapsed), at most \(answered) answered")
        #expect((seen["rate_limited"] ?? 0) >= 10_000 - answered, "\(seen)")
        #expect(status.peersTotal == 0)
        #expect(size() <= before + 64 * 1024, "database grew from \(before) to \(size()) bytes")
    }
}
