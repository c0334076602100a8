import CrowdData
import CrowdEngine
import Foundation
import Testing

@testable import CrowdPeer

/// Crash safety of the peer's files: atomic replacement, checksums, and idempotent recovery.
@Suite struct StateFileTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "crowdpeer-state-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func files() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] }

    @Test func statusRoundTripsAndLeavesNoTempFiles() throws {
        var s = PeerStatus()
        s.state = .backingOff
        s.reason = "transport: connection refused"
        s.round = 7
        s.leaseID = "L"
        s.lifetime.accepted = 3
        s.lifetime.bytesUp = 123_456
        s.lifetime.credit = 1.5
        for i in 0..<15 {
            s.record(.init(receiptID: "r\(i)", leaseID: "l\(i)", round: UInt64(i), samples: 64, credit: 0.1, acceptedAt: 1))
        }
        s.lastRejection = .init(code: "lease_expired", message: "too late", round: 6, at: 2)
        let path = dir + "/status.json"
        try s.write(to: path)
        #expect(PeerStatus.read(from: path) == s)
        #expect(s.lastReceipts.count == PeerStatus.keptReceipts)
        #expect(s.lastReceipts.first?.receiptID == "r5" && s.lastReceipts.last?.receiptID == "r14")
        s.state = .training
        try s.write(to: path, durable: false)
        #expect(PeerStatus.read(from: path)?.state == .training)
        #expect(files() == ["status.json"], "temp files left behind: \(files())")
    }

    @Test func residualRoundTripsAndRejectsCorruption() throws {
        let r = ResidualFile(schemaHash: 0xDEAD_BEEF, afterLease: "lease-1", residual: [1.5, -2, 0, 3e-7])
        let path = dir + "/residual.bin"
        try r.write(to: path)
        #expect(try ResidualFile.read(from: path) == r)

        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x10
        #expect(throws: PeerError.self) { try ResidualFile.decode(bytes) }
        let good = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: PeerError.self) { try ResidualFile.decode(good.prefix(good.count - 5)) }
        #expect(try ResidualFile.read(from: dir + "/absent.bin") == nil)
    }

    /// Version 2 frames carry zlib's CRC-32; version-1 files (FNV-1a 64, written by earlier peers) still read, and
    /// each checksum is checked as its version says (a v1 trailer under a v2 header is refused).
    @Test func versionOneFramesStillReadAndEachChecksumIsChecked() throws {
        let sections = [Data("alpha".utf8), Data([1, 2, 3, 4, 5, 6, 7, 8, 9])]
        let v2 = StateFile.encode(magic: "CRWDTEST", sections: sections)
        #expect(v2.subdata(in: 8..<12) == Data([2, 0, 0, 0]))
        let crc = v2.prefix(v2.count - 8).withUnsafeBytes { CRC32.checksum($0) }
        #expect(v2.suffix(8) == Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(crc) >> (8 * $0)) }))
        #expect(try StateFile.decode(v2, magic: "CRWDTEST", path: "v2") == sections)

        var v1 = v2.prefix(v2.count - 8)
        v1[8] = 1
        let fnv = v1.withUnsafeBytes { FNV1a64.hash($0) }
        var framed = Data(v1)
        framed.append(contentsOf: (0..<8).map { UInt8(truncatingIfNeeded: fnv >> (8 * $0)) })
        #expect(try StateFile.decode(framed, magic: "CRWDTEST", path: "v1") == sections)

        var mislabelled = framed
        mislabelled[8] = 2  // v1's FNV trailer claimed as a v2 file
        #expect(throws: PeerError.self) { try StateFile.decode(mislabelled, magic: "CRWDTEST", path: "bad") }
        var unknown = v2
        unknown[8] = 3
        #expect(throws: PeerError.self) { try StateFile.decode(unknown, magic: "CRWDTEST", path: "v3") }
    }

    @Test func pendingUpdateRoundTrips() throws {
        let info = PendingUpdate.Info(
            leaseID: "0B9C", round: 3, modelVersion: String(repeating: "ab", count: 32), schemaHash: 42, samples: 640,
            loss: 0.75, trainSeconds: 0.2, deadline: 1e9, finishedAt: 1e9 - 10)
        let p = PendingUpdate(info: info, envelope: Data([1, 2, 3, 4, 5]), residualAfter: [0.25, -0.5])
        let path = dir + "/pending.bin"
        try p.write(to: path)
        #expect(try PendingUpdate.read(from: path) == p)
        // A residual file is not a pending update (magic), even with a valid checksum.
        try ResidualFile(schemaHash: 1, afterLease: "x", residual: []).write(to: dir + "/residual.bin")
        #expect(throws: PeerError.self) { try PendingUpdate.read(from: dir + "/residual.bin") }
    }

    static func progress() throws -> LeaseProgress {
        let ckpt = try LeaseTrainerTests.checkpoint()
        var lease = LeaseTrainerTests.lease(ckpt, steps: 40)
        lease.seed = UInt64.max - 3  // above 2^53: must survive JSON
        let n = ckpt.params.count
        return LeaseProgress(
            lease: lease, steps: 17, lossSum: 11.0 / 3, samples: 136, seconds: 0.125, params: ckpt.params,
            optimizer: OptimizerState(kind: "adamw", step: 17, buffers: [
                (0..<n).map { Float($0) * 1e-3 }, (0..<n).map { Float($0) * 1e-7 + .leastNonzeroMagnitude },
            ]),
            savedAt: 1_790_000_000.25)
    }

    @Test func leaseProgressRoundTripsBitExactly() throws {
        let p = try Self.progress()
        let path = dir + "/progress.bin"
        try LeaseProgressFile.write(p, to: path)
        let back = try #require(try LeaseProgressFile.read(from: path))
        #expect(back == p)
        #expect(back.lease.seed == UInt64.max - 3 && back.position == "step 17/40")
        #expect(files() == ["progress.bin"])
        LeaseProgressFile.remove(path)
        #expect(try LeaseProgressFile.read(from: path) == nil)
    }

    @Test func leaseProgressDetectsTruncationAndBitFlips() throws {
        let good = try LeaseProgressFile.encode(try Self.progress())
        for cut in [1, 4, 8, 100, good.count / 2, good.count - 24] {
            #expect(throws: PeerError.self, "cut \(cut)") {
                try LeaseProgressFile.decode(good.prefix(good.count - cut))
            }
        }
        // One flipped bit anywhere (magic, lease JSON, counters, parameters, optimizer, checksum) is caught.
        var rng = SeededRNG(seed: 5)
        var positions = [0, 9, 20, good.count - 1]
        for _ in 0..<40 { positions.append(rng.nextInt(below: good.count)) }
        for i in positions {
            var bad = good
            bad[i] ^= UInt8(1 << rng.nextInt(below: 8))
            #expect(throws: PeerError.self, "flip at \(i)") { try LeaseProgressFile.decode(bad) }
        }
        // A well-framed file of another kind, or a consistent-looking one with too many steps, is refused too.
        let pending = PendingUpdate(
            info: .init(leaseID: "x", round: 1, modelVersion: "m", schemaHash: 1, samples: 1, loss: 0, trainSeconds: 0,
                        deadline: 0, finishedAt: 0),
            envelope: Data(), residualAfter: [])
        #expect(throws: PeerError.self) { try LeaseProgressFile.decode(try pending.encoded()) }
        var over = try Self.progress()
        over.steps = 41
        #expect(throws: PeerError.self) { try LeaseProgressFile.decode(try LeaseProgressFile.encode(over)) }
        var ragged = try Self.progress()
        ragged.optimizer.buffers[1].removeLast()
        #expect(throws: PeerError.self) { try LeaseProgressFile.decode(try LeaseProgressFile.encode(ragged)) }
    }

    @Test func temporariesOfDeadWritersAreSweptOthersKept() throws {
        // A pid that no longer exists: a child that has exited and been reaped.
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let dead = child.processIdentifier
        let names = [
            "progress.bin.tmp-\(dead)-12345",  // killed writer: removed
            "status.json.tmp-\(getpid())-7",  // this process: kept
            "pause.json.tmp-1-99",  // pid 1 is alive: kept
            "progress.bin", "notes.tmp-x-1", "a.tmp-\(dead)",  // not temporaries of AtomicFile: kept
        ]
        for n in names { try Data([1]).write(to: URL(fileURLWithPath: dir + "/" + n)) }
        #expect(StaleTemporaryFiles.writerPID("progress.bin.tmp-\(dead)-12345") == dead)
        #expect(StaleTemporaryFiles.sweep([dir, dir + "/absent"]) == ["progress.bin.tmp-\(dead)-12345"])
        #expect(Set(files()) == Set(names.dropFirst()))
    }

    @Test func atomicReplaceKeepsTheOldFileWhenTheDirectoryIsGone() throws {
        let path = dir + "/missing/status.json"
        #expect(throws: (any Error).self) { try PeerStatus().write(to: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test func credentialIsWrittenOwnerOnly() throws {
        let c = PeerCredential(
            coordinator: "https://127.0.0.1:8443", peerID: "p", secret: "ct_peer_x", name: "n", campaign: "c",
            joinedAt: 1)
        let path = dir + "/credential.json"
        try c.write(to: path)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try PeerCredential.read(from: path) == c)
        chmod(path, 0o644)
        #expect(throws: PeerError.self) { try PeerCredential.read(from: path) }
    }

    @Test func cacheVerifiesContentHashes() throws {
        let paths = PeerPaths(root: dir)
        try paths.create()
        let cache = ArtifactCache(paths: paths, keptModels: 2)
        let data = Data("shard bytes".utf8)
        let id = ContentDigest.hex(data)
        #expect(throws: PeerError.self) { try cache.put(.shard, id, Data("other bytes".utf8)) }
        #expect(cache.get(.shard, id) == nil)
        try cache.put(.shard, id, data)
        #expect(cache.get(.shard, id) == data)
        // A file corrupted on disk is detected, removed, and reported as a miss.
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: paths.shardCache + "/\(id).shard"))
        #expect(cache.get(.shard, id) == nil)
        #expect(!FileManager.default.fileExists(atPath: paths.shardCache + "/\(id).shard"))
        #expect(cache.get(.shard, "../../etc/passwd") == nil)
    }

    @Test func cacheKeepsOnlyTheNewestModels() throws {
        let paths = PeerPaths(root: dir)
        try paths.create()
        let cache = ArtifactCache(paths: paths, keptModels: 2)
        var ids: [String] = []
        for i in 0..<4 {
            let d = Data("model \(i)".utf8)
            let id = ContentDigest.hex(d)
            ids.append(id)
            try cache.put(.model, id, d)
            // Distinct modification times for the pruning order.
            let t = Date(timeIntervalSince1970: 1_000_000 + Double(i))
            try FileManager.default.setAttributes([.modificationDate: t], ofItemAtPath: paths.modelCache + "/\(id).ckpt")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: paths.modelCache).filter { $0.hasSuffix(".ckpt") }
        #expect(left.count == 2)
        #expect(cache.get(.model, ids[3]) != nil)
    }
}
