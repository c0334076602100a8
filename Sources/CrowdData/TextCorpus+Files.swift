import Foundation

extension TextCorpus {
    /// The bytes of the file at `path` (any encoding: tokens are bytes).
    /// - Throws: `TextCorpusError` when the file cannot be read or is too small to train on.
    public static func load(path: String) throws -> TextCorpus {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TextCorpusError("cannot read text file \(path): check that it exists and is readable")
        }
        guard data.count >= 2 else {
            throw TextCorpusError("text file \(path) holds \(data.count) bytes; need at least 2")
        }
        return TextCorpus(bytes: [UInt8](data))
    }

    /// The verse reference range `kjv()` prints.
    public static let kjvRange = "Gen1:1-Rev22:21"

    /// The King James Bible as printed by `bible "Gen1:1-Rev22:21"` of the Debian package
    /// `bible-kjv` (4,298,239 bytes). Nothing is cached: the text is generated on each call (~1 s).
    /// - Throws: `TextCorpusError` naming the package when the `bible` program is missing or fails.
    public static func kjv() throws -> TextCorpus {
        let candidates = ["/usr/bin/bible", "/usr/local/bin/bible", "/usr/games/bible"]
        guard let exe = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw TextCorpusError(
                "the King James Bible needs the `bible` program: install the Debian package bible-kjv "
                    + "(apt-get install bible-kjv), or pass --text FILE")
        }
        let proc = Process()
        proc.executableURL = URL(fileURLWithPath: exe)
        proc.arguments = [kjvRange]
        let out = Pipe()
        proc.standardOutput = out
        proc.standardError = FileHandle.nullDevice
        do { try proc.run() } catch {
            throw TextCorpusError("could not run \(exe) (package bible-kjv): \(error)")
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        proc.waitUntilExit()
        guard proc.terminationStatus == 0, data.count > 1000 else {
            throw TextCorpusError(
                "\(exe) \"\(kjvRange)\" failed (status \(proc.terminationStatus), \(data.count) bytes): "
                    + "reinstall the Debian package bible-kjv, or pass --text FILE")
        }
        return TextCorpus(bytes: [UInt8](data))
    }
}

/// A text corpus could not be loaded; the message says what to install or pass instead.
public struct TextCorpusError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
