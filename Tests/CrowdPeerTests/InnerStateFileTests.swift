import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation
import Testing

@testable import CrowdPeer

/// The inner optimizer's state carried from lease to lease (DiLoCo): only to a lease that asks for it, of the same
/// model and settings, within a few rounds; a damaged file is refused.
@Suite struct InnerStateFileTests {
    static func settings(keep: Bool = true, lr: Float = 0.1) -> InnerOptimizerConfig {
        InnerOptimizerConfig(kind: "sgd", lr: lr, momentum: 0.9, keepState: keep)
    }

    static func lease(_ ckpt: Checkpoint, round: UInt64, inner: InnerOptimizerConfig, progress: Double? = nil) -> Lease {
        var l = LeaseTrainerTests.lease(ckpt, steps: 6, inner: inner, progress: progress)
        l.round = round
        return l
    }

    @Test func roundTripsAndRefusesADamagedFile() throws {
        let state = OptimizerState(kind: "sgd", step: 12, buffers: [[0.5, -1, 2]])
        let file = InnerStateFile(schemaHash: 7, round: 3, settings: Self.settings(), state: state)
        let back = try InnerStateFile.decode(file.encoded())
        #expect(back.schemaHash == 7 && back.round == 3 && back.state.step == 12 && back.state.buffers == [[0.5, -1, 2]])
        #expect(back.settings == file.settings)
        var bytes = file.encoded()
        bytes[bytes.count / 2] ^= 0x40
        #expect(throws: PeerError.self) { try InnerStateFile.decode(bytes) }
        #expect(throws: PeerError.self) { try InnerStateFile.decode(bytes.prefix(10)) }
    }

    @Test func appliesOnlyToAFittingLeaseWithinTheRoundGap() throws {
        let ckpt = try LeaseTrainerTests.checkpoint()
        let n = ckpt.params.count
        let state = OptimizerState(kind: "sgd", step: 6, buffers: [[Float](repeating: 0.01, count: n)])
        let file = InnerStateFile(
            schemaHash: ckpt.schemaHash, round: 5, settings: Self.settings(), state: state)
        func applies(_ lease: Lease, schema: UInt64? = nil, count: Int? = nil) -> Bool {
            file.state(for: lease, schemaHash: schema ?? ckpt.schemaHash, count: count ?? n) != nil
        }
        // The schedule position differs from lease to lease and does not matter.
        #expect(applies(Self.lease(ckpt, round: 6, inner: Self.settings(), progress: 0.2)), "the schedule moved on")
        #expect(applies(Self.lease(ckpt, round: 5, inner: Self.settings())))
        #expect(applies(Self.lease(ckpt, round: 5 + InnerStateFile.maxRoundGap, inner: Self.settings())))
        #expect(!applies(Self.lease(ckpt, round: 6 + InnerStateFile.maxRoundGap, inner: Self.settings())), "version jumped")
        #expect(!applies(Self.lease(ckpt, round: 4, inner: Self.settings())), "older round (a fallback)")
        #expect(!applies(Self.lease(ckpt, round: 6, inner: Self.settings(keep: false))), "the lease did not ask for it")
        #expect(!applies(Self.lease(ckpt, round: 6, inner: Self.settings(lr: 0.2))), "other optimizer settings")
        #expect(!applies(Self.lease(ckpt, round: 6, inner: Self.settings()), schema: 1), "another model layout")
        #expect(!applies(Self.lease(ckpt, round: 6, inner: Self.settings()), count: n + 1))
    }

    @Test func aCarriedStateContinuesTheOptimizerAndAMismatchedOneIsIgnored() throws {
        let ckpt = try LeaseTrainerTests.checkpoint()
        let shards: [ShardPayload] = [.images(LeaseTrainerTests.images())]
        let first = try #require(try LeaseTrainer.train(
            lease: Self.lease(ckpt, round: 1, inner: Self.settings()), checkpoint: ckpt, shards: shards))
        let state = try #require(first.optimizerState)
        #expect(state.kind == "sgd" && state.step == 6)
        let next = Self.lease(ckpt, round: 2, inner: Self.settings())
        let fresh = try #require(try LeaseTrainer.train(lease: next, checkpoint: ckpt, shards: shards))
        let carried = try #require(try LeaseTrainer.train(
            lease: next, checkpoint: ckpt, shards: shards, carriedOptimizer: state))
        #expect(carried.delta != fresh.delta, "the momentum from the first lease must change the second")
        #expect(carried.optimizerState?.step == 12)
        let wrong = OptimizerState(kind: "sgd", step: 3, buffers: [[1, 2, 3]])
        let ignored = try #require(try LeaseTrainer.train(
            lease: next, checkpoint: ckpt, shards: shards, carriedOptimizer: wrong))
        #expect(ignored.delta == fresh.delta)
    }
}
