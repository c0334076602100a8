/// An IDX file could not be read; names the file and what is wrong with it.
public struct IDXError: Error, CustomStringConvertible, Equatable {
    /// What went wrong, as a stable code tests and callers can match on.
    public enum Problem: String, Sendable, Equatable {
        /// The file is missing or unreadable.
        case unreadable
        /// The gzip stream is corrupt (not truncated).
        case corruptGzip = "corrupt_gzip"
        /// The file (or its gzip stream) ends before the data the header promises.
        case truncated
        /// The first bytes are not an IDX magic number (`00 00 08 nd`).
        case wrongMagic = "wrong_magic"
        /// The dimensions do not fit the payload or the expected kind of file.
        case dimensionMismatch = "dimension_mismatch"
        /// The label file and the image file hold different numbers of records.
        case countMismatch = "count_mismatch"
        /// A label lies outside the class range.
        case badLabel = "bad_label"
    }

    /// Path of the offending file.
    public let file: String
    public let problem: Problem
    /// Human-readable explanation with a hint.
    public let message: String

    public init(file: String, problem: Problem, message: String) {
        self.file = file; self.problem = problem; self.message = message
    }

    public var description: String { "\(file): \(message)" }
}
