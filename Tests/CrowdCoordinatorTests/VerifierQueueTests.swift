import CrowdCodec
import CrowdProtocol
import CrowdVerification
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import CrowdCoordinator

/// The verifier queue's memory bound: beyond its budget, waiting proofs wait on disk, and each job gets exactly its
/// own bytes back when it runs. The control (no spill directory, as before) holds every waiting proof in memory.
@Suite struct VerifierQueueTests {
    static func job(_ i: Int, bytes: Int) -> WorkVerifierQueue.Job {
        let lease = Lease(
            leaseID: "lease-\(i)", round: 1, modelVersion: String(repeating: "0", count: 64), schemaHash: 1,
            workload: "fmnist-mlp", modelKind: "mlp", shardIDs: [], steps: 1, batch: 1, block: nil,
            inner: InnerOptimizerConfig(), codec: "fp32", codecLevel: 1, seed: 1, deadline: 0, samples: 1)
        let zero = [UInt8](repeating: 0, count: 32)
        return .init(
            leaseID: lease.leaseID, peerID: "peer", round: 1, segment: 0, lease: lease, checkpointPath: "/nonexistent",
            checkpointVersion: "", shardPaths: [],
            commitment: WorkCommitment(
                root: zero, startInnerState: zero, endInnerState: zero, segmentSteps: 1, leaves: 2, steps: 1, samples: 1),
            proof: Data(repeating: UInt8(i), count: bytes), envelope: Data(repeating: UInt8(255 - i), count: bytes / 2),
            expectation: EnvelopeExpectation(schemaHash: 1, round: 1, baseModel: zero, elementCount: 4),
            allowedInnerStates: [])
    }

    /// Submits `count` jobs while the first one's result is held, so the rest pile up; returns the peak in-memory
    /// bytes, the spill count and whether every job came back with its own bytes.
    static func pileUp(count: Int, bytes: Int, spill: String?, budget: Int) async -> (peak: Int, spills: Int, intact: Bool) {
        let queue = WorkVerifierQueue()
        let gate = DispatchSemaphore(value: 0)
        let seen = Mutex<[String: (Data, Data)]>([:])
        let first = Mutex(true)
        queue.start(
            .init(
                verifier: SegmentVerifier(tolerance: 0.01, updateTolerance: 0.1),
                onResult: { job, _ in
                    seen.withLock { $0[job.leaseID] = (job.proof, job.envelope) }
                    if first.withLock({ f in defer { f = false }; return f }) { gate.wait() }
                },
                spillDirectory: spill, memoryBudget: budget))
        for i in 0..<count { queue.submit(job(i, bytes: bytes)) }
        gate.signal()
        await queue.waitUntilIdle()
        let intact = seen.withLock { s in
            s.count == count
                && (0..<count).allSatisfy { i in
                    let expected = job(i, bytes: bytes)
                    return s["lease-\(i)"].map { $0.0 == expected.proof && $0.1 == expected.envelope } ?? false
                }
        }
        let stats = queue.memoryStats
        return (stats.peakBytes, stats.spills, intact)
    }

    @Test func beyondItsBudgetTheQueueWaitsOnDiskAndEveryJobGetsItsOwnBytesBack() async throws {
        let dir = NSTemporaryDirectory() + "crowdtrain-spill-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let jobBytes = 100_000 + 50_000
        let budget = 3 * jobBytes
        let defended = await Self.pileUp(count: 40, bytes: 100_000, spill: dir, budget: budget)
        #expect(defended.intact)
        #expect(defended.peak <= budget, "peak \(defended.peak) over the budget \(budget)")
        #expect(defended.spills >= 35)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty, "every spilled file is removed")

        // Control: without a spill directory every waiting job stays in memory.
        let control = await Self.pileUp(count: 40, bytes: 100_000, spill: nil, budget: budget)
        #expect(control.intact)
        #expect(control.spills == 0)
        #expect(control.peak >= 38 * jobBytes, "control peak \(control.peak)")
    }

    @Test func startEmptiesAPreviousRunsSpillDirectory() throws {
        let dir = NSTemporaryDirectory() + "crowdtrain-spill-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: dir + "/old.job", contents: Data([1, 2, 3]))
        WorkVerifierQueue().start(
            .init(verifier: SegmentVerifier(tolerance: 0.01, updateTolerance: 0.1), onResult: { _, _ in }, spillDirectory: dir))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    @Test func aDamagedSpillFileIsRefusedNotRead() throws {
        let dir = NSTemporaryDirectory() + "crowdtrain-spill-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var job = Self.job(1, bytes: 10)
        let path = try #require(WorkVerifierQueue.spill(&job, to: dir))
        #expect(job.proof.isEmpty && job.envelope.isEmpty)
        for damaged in [Data([1, 2]), Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1])] {
            FileManager.default.createFile(atPath: path, contents: damaged)
            #expect(!WorkVerifierQueue.unspill(&job, from: path))
        }
        var fresh = Self.job(2, bytes: 10)
        let good = try #require(WorkVerifierQueue.spill(&fresh, to: dir))
        #expect(WorkVerifierQueue.unspill(&fresh, from: good))
        #expect(fresh.proof == Self.job(2, bytes: 10).proof && fresh.spilled == nil)
        #expect(!FileManager.default.fileExists(atPath: good))
    }
}
