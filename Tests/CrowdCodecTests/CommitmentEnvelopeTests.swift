@testable import CrowdCodec
import Foundation
import Testing

/// The envelope's commitment block (flag bit 0): carried exactly, covered by the checksum, checked for shape.
@Suite struct CommitmentEnvelopeTests {
    static let commitment = WorkCommitment(
        root: [UInt8](repeating: 1, count: 32), startInnerState: [UInt8](repeating: 2, count: 32),
        endInnerState: [UInt8](repeating: 3, count: 32), segmentSteps: 5, leaves: 11, steps: 50, samples: 3200)

    func envelope() throws -> (Data, [Float]) {
        let values = Fixture.delta(1000, seed: 3)
        var header = Fixture.header(.int8(block: 256), n: 1000)
        header.commitment = Self.commitment
        return (try UpdateEnvelope.encode(values, header: header), values)
    }

    @Test func theCommitmentTravelsWithTheUpdate() throws {
        let (data, _) = try envelope()
        let plain = try UpdateEnvelope.encode(Fixture.delta(1000, seed: 3), header: Fixture.header(.int8(block: 256), n: 1000))
        #expect(data.count == plain.count + WorkCommitment.size)
        let decoded = try UpdateEnvelope.decode(data, expecting: Fixture.expect(n: 1000))
        #expect(decoded.header.commitment == Self.commitment)
        #expect(try UpdateEnvelope.peekHeader(data).commitment == Self.commitment)
        #expect(try UpdateEnvelope.decode(plain, expecting: Fixture.expect(n: 1000)).header.commitment == nil)
        #expect(try WorkCommitment(block: Self.commitment.block) == Self.commitment)
    }

    @Test func everyBitOfTheBlockIsCoveredByTheChecksum() throws {
        let (data, _) = try envelope()
        let start = UpdateEnvelope.headerSize
        for byte in start..<(start + WorkCommitment.size) {
            var bad = data
            bad[byte] ^= 0x10
            #expect(throws: CodecError.self) { try UpdateEnvelope.decode(bad, expecting: Fixture.expect(n: 1000)) }
        }
    }

    @Test func malformedBlocksAndFlagsAreRefused() throws {
        let (data, _) = try envelope()
        var flags = data
        flags[7] = 3
        #expect(throws: CodecError.self) { try UpdateEnvelope.peekHeader(flags) }
        var noFlag = data
        noFlag[7] = 0  // the block is then read as payload: sizes no longer add up
        #expect(throws: CodecError.self) { try UpdateEnvelope.peekHeader(noFlag) }
        #expect(throws: CodecError.self) { try UpdateEnvelope.peekHeader(data.prefix(UpdateEnvelope.headerSize + 10)) }
        var leaves = data
        leaves[UpdateEnvelope.headerSize + 100] = 12  // 12 leaves for 50 steps every 5
        #expect(throws: CodecError.self) { try UpdateEnvelope.peekHeader(leaves) }
        var bad = Self.commitment
        bad.leaves = 3
        var header = Fixture.header(.fp32, n: 4)
        header.commitment = bad
        #expect(throws: CodecError.self) { try UpdateEnvelope.encode([1, 2, 3, 4], header: header) }
    }
}
