import ArgumentParser
import CrowdCLI
import CrowdClient
import CrowdCodec
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `crowdtrain bench distribution`: bytes and time for peers to get a model version (issue 18), over the
/// coordinator's own distribution code and routes behind TLS on 127.0.0.1, with the peer's `ModelFetcher` and
/// `CoordinatorClient`.
///
/// For each model: the initial parameters, then `--rounds` outer steps on the coordinator's grid (`GridStep`), each
/// move Gaussian with a root mean square of `--step` times the parameters' (a pessimistic stand-in for a trained
/// round: noise has the most entropy per byte), published with their deltas. Then, each from a fresh peer
/// directory: a join (nothing held), a return after 1 and after `--rounds` rounds away (holding the older version),
/// a join cut at 50 % and resumed by a new fetcher (a killed daemon), and 8 peers joining at once. Every rebuilt
/// model is checked against the coordinator's SHA-256. The control (`xor_delta_bytes`) is the same last step
/// taken exactly (`distribution.gridStep` off): its lossless delta.
struct BenchDistributionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "distribution",
        abstract: "Bytes to join, return after 1 and N rounds, resume a cut download; 8 peers joining at once (TLS).")

    @Option(help: "Models, comma-separated: fmnist-mlp, kjv-gpt, synthetic-50m.")
    var models: String = "fmnist-mlp,kjv-gpt,synthetic-50m"

    @Option(help: "Rounds published after the initial model (the long return is from round 0).")
    var rounds: Int = 10

    @Option(help: "RMS of each round's move relative to the parameters' RMS.")
    var step: Double = 1e-3

    @Option(help: "Peers joining at once.")
    var peers: Int = 8

    @Flag(help: "One JSON object: per model join_bytes, return1_bytes, return10_bytes, resume_extra_bytes, join8_seconds …")
    var json = false

    func validate() throws {
        guard (2...100).contains(rounds) else { throw ValidationError("--rounds must be 2…100") }
        guard (1...64).contains(peers) else { throw ValidationError("--peers must be 1…64") }
        guard step > 0, step < 1 else { throw ValidationError("--step must be in (0, 1)") }
        for m in modelList where !["fmnist-mlp", "kjv-gpt", "synthetic-50m"].contains(m) {
            throw ValidationError("unknown model '\(m)'; use fmnist-mlp, kjv-gpt or synthetic-50m")
        }
    }

    var modelList: [String] { models.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    struct Row: Codable {
        var model: String
        var parameters: Int
        var model_bytes: Int
        var chunks: Int
        var join_bytes: Int
        var join_route: String
        var return1_bytes: Int
        var return1_route: String
        var return1_ratio: Double
        var return10_bytes: Int
        var return10_route: String
        var return10_ratio: Double
        var resume_cut_bytes: Int
        var resume_extra_bytes: Int
        var join8_seconds: Double
        var join8_bytes: Int
        var delta_bytes_mean: Int
        var xor_delta_bytes: Int
        var delta_encode_ms: Double
        var sha256_ok: Bool
        var goal_return1_le_30pct: Bool
        var goal_resume_le_one_chunk: Bool
    }

    struct Report: Codable {
        var cpu: String
        var rounds: Int
        var step: Double
        var peers: Int
        var tls: Bool
        var models: [Row]
    }

    func run() async throws {
        var rows: [Row] = []
        for model in modelList {
            if !json { print("\(model): publishing \(rounds + 1) versions …") }
            rows.append(try await measure(model))
            if !json, let r = rows.last {
                print(
                    "  \(r.parameters) parameters, \(r.model_bytes) B: join \(r.join_bytes) B; back after 1 round "
                        + "\(r.return1_bytes) B (\(String(format: "%.1f", r.return1_ratio * 100)) %, \(r.return1_route)); after "
                        + "\(rounds) \(r.return10_bytes) B (\(r.return10_route)); resume extra \(r.resume_extra_bytes) B; "
                        + "\(peers) joining at once \(String(format: "%.2f", r.join8_seconds)) s; sha256 \(r.sha256_ok ? "ok" : "MISMATCH")")
            }
        }
        let report = Report(
            cpu: CPUFeatures.current.modelName, rounds: rounds, step: step, peers: peers, tls: true, models: rows)
        if json { print(try DisplayFormat.jsonLine(report)) }
    }

    /// The initial parameters and the checkpoint header of `model`.
    static func initial(_ model: String) throws -> (params: [Float], kind: String, config: Data, schema: UInt64) {
        switch model {
        case "fmnist-mlp":
            let m = try ModelFactory.make(kind: "mlp", configJSON: try JSONEncoder().encode(MLPConfig()), seed: 1)
            return (m.params.toArray(), "mlp", try m.configJSON(), m.layout.schemaHash)
        case "kjv-gpt":
            let m = try ModelFactory.make(kind: "gpt", configJSON: try JSONEncoder().encode(GPTConfig()), seed: 1)
            return (m.params.toArray(), "gpt", try m.configJSON(), m.layout.schemaHash)
        default:
            var rng = SeededRNG(seed: 50)
            let n = 50_000_000
            return ((0..<n).map { _ in rng.nextNormal() * 0.02 }, "synthetic", Data("{}".utf8), 50)
        }
    }

    func measure(_ model: String) async throws -> Row {
        let root = NSTemporaryDirectory() + "crowdtrain-bench-dist-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: root) }
        var logger = Logger(label: "crowdtrain.bench.distribution")
        logger.logLevel = .warning
        let server = root + "/server"
        let paths = CampaignPaths(directory: server)
        try FileManager.default.createDirectory(atPath: server, withIntermediateDirectories: true)
        try CertificateAuthority.create(paths: paths, campaign: "bench", publicNames: ["127.0.0.1"])
        let distribution = try ModelDistribution.standalone(
            directory: server, campaign: "bench", keep: rounds + 1, logger: logger)

        // Publish the versions.
        let start = try Self.initial(model)
        var params = start.params
        var versions: [String] = []
        var deltaBytes: [Int] = []
        var encodeSeconds = 0.0
        var xorBytes = 0
        var rng = SeededRNG(seed: 7)
        let rms = (params.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(max(1, params.count))).squareRoot()
        let sigma = Float(rms * step)
        var previous: Data?
        for round in 0...rounds {
            var delta: ModelDelta?
            var wanted = params
            if round > 0 {
                for i in wanted.indices { wanted[i] += rng.nextNormal() * sigma }
                // What distribution adds to the coordinator's round: the grid step and the delta's encoding (the
                // checkpoint's own encoding and SHA-256 are made anyway).
                var t0 = Date()
                let grid = GridStep.nearest(from: params, to: wanted)
                let next = grid.apply(to: params)
                encodeSeconds += Date().timeIntervalSince(t0)
                let bytes = Self.checkpoint(next, start, round: round)
                let baseVersion = ContentDigest.bytes(previous!), targetVersion = ContentDigest.bytes(bytes)
                let prefix = bytes.prefix(bytes.count - 8 - 4 * next.count)
                t0 = Date()
                delta = try ModelDelta.grid(grid, baseVersion: baseVersion, targetVersion: targetVersion, targetPrefix: prefix)
                encodeSeconds += Date().timeIntervalSince(t0)
                deltaBytes.append(delta!.encoded().count)
                if round == rounds {
                    // The control: the same step taken exactly, as the XOR delta a campaign without the grid sends.
                    xorBytes = try ModelDelta.xor(
                        base: params, target: wanted, baseVersion: ContentDigest.bytes(previous!),
                        targetVersion: ContentDigest.bytes(bytes), targetPrefix: Data()).encoded().count
                }
                params = next
            }
            let bytes = Self.checkpoint(params, start, round: round)
            try AtomicFile.write(bytes, to: paths.checkpoint(round: UInt64(round)))
            try distribution.publish(round: UInt64(round), bytes: bytes, delta: delta)
            versions.append(ContentDigest.hex(bytes))
            previous = bytes
        }

        // Serve them.
        let secret = "ct_peer_bench"
        let port = Mutex(0)
        let ready = AsyncStream<Void>.makeStream()
        let app = try DistributionServer.application(
            distribution: distribution, directory: server, secret: secret, logger: logger,
            onServerRunning: { p in
                port.withLock { $0 = p }
                ready.continuation.yield()
            })
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let serving = Task { try await group.run() }
        for await _ in ready.stream { break }
        do {
            let row = try await measure(
                model, versions: versions, modelBytes: previous!.count, parameters: params.count,
                deltaBytes: deltaBytes, xorBytes: xorBytes, encodeSeconds: encodeSeconds, distribution: distribution,
                url: "https://127.0.0.1:\(port.withLock { $0 })",
                ca: Array(try Data(contentsOf: URL(fileURLWithPath: paths.caCertificate))), secret: secret, root: root)
            await group.triggerGracefulShutdown()
            try? await serving.value
            return row
        } catch {
            await group.triggerGracefulShutdown()
            try? await serving.value
            throw error
        }
    }

    /// The peers' side of `measure(_:)` against the running server.
    func measure(
        _ model: String, versions: [String], modelBytes: Int, parameters: Int, deltaBytes: [Int], xorBytes: Int,
        encodeSeconds: Double, distribution: ModelDistribution, url: String, ca: [UInt8], secret: String, root: String
    ) async throws -> Row {
        let target = versions[rounds]
        let client = try CoordinatorClient(baseURL: url, caPEM: ca, secret: secret, timeoutSeconds: 600)
        let verifier = try ManifestVerifier(publicKey: distribution.publicKey)
        var allOK = true
        var peerCount = 0
        func peer() throws -> ArtifactCache {
            peerCount += 1
            let p = PeerPaths(root: root + "/peer-\(peerCount)")
            try p.create()
            return ArtifactCache(paths: p, limitBytes: 1 << 40)
        }
        func fetch(_ cache: ArtifactCache, _ version: String, source: (any ModelSource)? = nil) async throws -> ModelFetcher.Fetched {
            let f = try await ModelFetcher(cache: cache, verifier: verifier, campaign: "bench", source: source ?? client)
                .fetch(version: version)
            if ContentDigest.hex(f.data) != version { allOK = false }
            return f
        }

        let join = try await fetch(try peer(), target)
        let back1 = try peer()
        _ = try await fetch(back1, versions[rounds - 1])
        let return1 = try await fetch(back1, target)
        let backN = try peer()
        _ = try await fetch(backN, versions[0])
        let returnN = try await fetch(backN, target)

        // A join cut at half the model, resumed by a new fetcher on the same directory.
        let resumeCache = try peer()
        let cutSource = CuttingSource(client, cutAfter: modelBytes / 2)
        do {
            _ = try await fetch(resumeCache, target, source: cutSource)
            allOK = false  // the cut must interrupt it
        } catch {}
        let resumed = try await fetch(resumeCache, target)
        let extra = cutSource.delivered + resumed.downloadedBytes - modelBytes

        // Peers joining at once, each with its own client (connection).
        let caches = try (0..<peers).map { _ in try peer() }
        let t0 = Date()
        let results = try await withThrowingTaskGroup(of: (String, Int).self) { group in
            for cache in caches {
                group.addTask {
                    let c = try CoordinatorClient(baseURL: url, caPEM: ca, secret: secret, timeoutSeconds: 600)
                    do {
                        let f = try await ModelFetcher(cache: cache, verifier: verifier, campaign: "bench", source: c)
                            .fetch(version: target)
                        await c.shutdown()
                        return (ContentDigest.hex(f.data), f.downloadedBytes)
                    } catch {
                        await c.shutdown()
                        throw error
                    }
                }
            }
            var out: [(String, Int)] = []
            for try await r in group { out.append(r) }
            return out
        }
        let join8 = Date().timeIntervalSince(t0)
        if !results.allSatisfy({ $0.0 == target }) { allOK = false }
        await client.shutdown()

        let chunks = distribution.plainManifest(version: target)?.chunks.count ?? 0
        return Row(
            model: model, parameters: parameters, model_bytes: modelBytes, chunks: chunks,
            join_bytes: join.downloadedBytes, join_route: join.route.rawValue,
            return1_bytes: return1.downloadedBytes, return1_route: return1.route.rawValue,
            return1_ratio: Double(return1.downloadedBytes) / Double(join.downloadedBytes),
            return10_bytes: returnN.downloadedBytes, return10_route: returnN.route.rawValue,
            return10_ratio: Double(returnN.downloadedBytes) / Double(join.downloadedBytes),
            resume_cut_bytes: cutSource.delivered, resume_extra_bytes: extra,
            join8_seconds: join8, join8_bytes: results.reduce(0) { $0 + $1.1 },
            delta_bytes_mean: deltaBytes.reduce(0, +) / max(1, deltaBytes.count), xor_delta_bytes: xorBytes,
            delta_encode_ms: encodeSeconds * 1000 / Double(rounds), sha256_ok: allOK,
            goal_return1_le_30pct: Double(return1.downloadedBytes) <= 0.3 * Double(join.downloadedBytes),
            goal_resume_le_one_chunk: extra <= ModelManifest.chunkBytes)
    }

    static func checkpoint(
        _ params: [Float], _ start: (params: [Float], kind: String, config: Data, schema: UInt64), round: Int
    ) -> Data {
        (try? Checkpoint(
            kind: start.kind, schemaHash: start.schema, configJSON: start.config,
            metadata: ["round": "\(round)", "campaign": "bench"], params: params
        ).encoded()) ?? Data()
    }
}
