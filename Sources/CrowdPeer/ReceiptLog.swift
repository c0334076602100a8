import CrowdProtocol
import Foundation

/// `P/receipts.jsonl`: every receipt the coordinator issued to this peer, one JSON object per line,
/// appended and fsynced. The volunteer's own record of their contribution.
enum ReceiptLog {
    static func append(_ receipt: Receipt, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var line = try enc.encode(receipt)
        line.append(0x0A)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PeerError("cannot open \(path) for appending (errno \(errno))") }
        defer { close(fd) }
        let ok = line.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
        guard ok else { throw PeerError("cannot append to \(path) (errno \(errno))") }
        fsync(fd)
    }

    /// All receipts in the file (lines that do not parse — a torn last line — are skipped).
    static func read(from path: String) -> [Receipt] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(Receipt.self, from: Data($0)) }
    }
}
