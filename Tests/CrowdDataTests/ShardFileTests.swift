@testable import CrowdData
import Foundation
import Testing

@Suite struct ShardFileTests {
    static func images(_ n: Int, seed: UInt8 = 1) -> ImageDataset {
        let pixels = (0..<(n * 4 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
        let labels = (0..<n).map { UInt8(($0 + Int(seed)) % 10) }
        return ImageDataset(count: n, rows: 4, cols: 3, pixels: pixels, labels: labels)
    }

    static let text = TextCorpus(bytes: Array("In the beginning God created the heaven and the earth.\n".utf8))

    @Test func imageShardRoundTrips() throws {
        let d = Self.images(7)
        let bytes = ShardFile.encode(.images(d))
        #expect(bytes.count == 48 + 7 * 12 + 7 + 32)
        guard case .images(let back) = try ShardFile.decode(bytes, name: "a.shard", expectedID: ShardFile.id(of: bytes))
        else { Issue.record("not images"); return }
        #expect(back.count == 7 && back.rows == 4 && back.cols == 3)
        #expect(back.pixels == d.pixels && back.labels == d.labels)
    }

    @Test func textShardRoundTrips() throws {
        let bytes = ShardFile.encode(.text(Self.text))
        guard case .text(let back) = try ShardFile.decode(bytes, name: "t.shard", expectedID: nil)
        else { Issue.record("not text"); return }
        #expect(back.bytes == Self.text.bytes)
    }

    @Test func idIsSHA256Hex() {
        let bytes = ShardFile.encode(.text(TextCorpus(bytes: [])))
        let id = ShardFile.id(of: bytes)
        #expect(id.count == 64 && id.allSatisfy { $0.isHexDigit })
        #expect(id != ShardFile.id(of: ShardFile.encode(.text(Self.text))))
    }

    func refusal(_ d: Data, expectedID: String? = nil) -> ShardError? {
        do {
            _ = try ShardFile.decode(d, name: "x.shard", expectedID: expectedID)
            return nil
        } catch let e as ShardError {
            return e
        } catch {
            return nil
        }
    }

    @Test func everyBitFlipIsRefusedNamingTheShard() {
        let good = ShardFile.encode(.images(Self.images(3)))
        for bit in stride(from: 0, to: good.count * 8, by: 3) {
            var bad = good
            bad[bit / 8] ^= UInt8(1 << (bit % 8))
            let e = refusal(bad)
            #expect(e?.shard == "x.shard", "bit \(bit)")
            #expect(e?.description.hasPrefix("shard x.shard:") == true)
        }
    }

    @Test func everyTruncationIsRefused() {
        let good = ShardFile.encode(.text(Self.text))
        for len in 0..<good.count {
            #expect(refusal(good.prefix(len)) != nil, "length \(len)")
        }
        var padded = good
        padded.append(0)
        #expect(refusal(padded)?.code == .badSize)
    }

    @Test func mislabelledShardIsRefused() {
        let a = ShardFile.encode(.images(Self.images(3, seed: 1)))
        let b = ShardFile.encode(.images(Self.images(3, seed: 2)))
        // A valid shard served under another shard's id.
        #expect(refusal(a, expectedID: ShardFile.id(of: b))?.code == .checksumMismatch)
        // Labels outside the class range, with a consistent embedded checksum.
        let bad = ImageDataset(count: 2, rows: 1, cols: 1, pixels: [0, 0], labels: [3, 11])
        var enc = ShardFile.encode(.images(bad))
        enc.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(10).littleEndian, toByteOffset: 32, as: UInt32.self) }
        let fixed = resign(enc)
        #expect(refusal(fixed)?.code == .badRecord)
    }

    @Test func wrongMagicVersionKindRefused() {
        let good = ShardFile.encode(.text(Self.text))
        var magic = good
        magic[0] = 0
        #expect(refusal(magic)?.code == .badHeader)
        var version = good
        version[8] = 2
        #expect(refusal(resign(version))?.code == .badHeader)
        var kind = good
        kind[12] = 9
        #expect(refusal(resign(kind))?.code == .badHeader)
    }

    /// Recomputes the embedded SHA-256 so a deliberately wrong header reaches the semantic checks.
    func resign(_ d: Data) -> Data {
        var out = d
        let body = d.prefix(d.count - 32)
        let digest = ShardFile.id(of: Data(body))
        var bytes: [UInt8] = []
        var s = Substring(digest)
        while !s.isEmpty { bytes.append(UInt8(s.prefix(2), radix: 16)!); s = s.dropFirst(2) }
        out.replaceSubrange((d.count - 32)..<d.count, with: bytes)
        return out
    }
}
