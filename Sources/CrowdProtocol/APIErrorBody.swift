/// The JSON body of every non-2xx response: `{"error": {"code": "...", "message": "..."}}`.
public struct APIErrorBody: Codable, Sendable, Equatable {
    public var error: APIErrorDetail

    public init(code: APIErrorCode, message: String) {
        self.error = APIErrorDetail(code: code.rawValue, message: message)
    }

    public init(error: APIErrorDetail) { self.error = error }
}

/// Code and human-readable message of an API error.
public struct APIErrorDetail: Codable, Sendable, Equatable {
    /// Stable snake_case code (`APIErrorCode` raw value; unknown codes from newer servers stay strings).
    public var code: String
    /// What went wrong and what to do.
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The code as an enum, nil if this build does not know it.
    public var knownCode: APIErrorCode? { APIErrorCode(rawValue: code) }
}
