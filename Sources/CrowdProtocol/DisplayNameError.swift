/// Why a display name was refused; `message` says what to do instead. Thrown by `DisplayName.init`.
public struct DisplayNameError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The rule the name broke.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// Nothing left after trimming, or no letter, digit or symbol at all.
        case empty
        /// More than `DisplayName.maxCharacters` characters or `DisplayName.maxUTF8Bytes` bytes of UTF-8.
        case tooLong
        /// A control character (Cc): tab, newline inside the name, escape, …
        case controlCharacter
        /// A line or paragraph separator (U+2028, U+2029).
        case lineSeparator
        /// A bidi control (U+200E/F, U+061C, U+202A–202E, U+2066–2069): it can reorder what others see.
        case bidiControl
        /// A zero-width character (U+200B–200D, U+2060, U+FEFF, U+180E).
        case zeroWidth
        /// Another invisible format (Cf) or default-ignorable character (soft hyphen, tags, Hangul fillers, …).
        case invisible
        /// A code point with no character assigned (in this build's Unicode version), or a noncharacter.
        case unassigned
        /// A private-use character: it renders differently (or not at all) on every machine.
        case privateUse
        /// Letters of scripts that do not belong together (Latin with Cyrillic or Greek, …).
        case mixedScripts
    }

    public let kind: Kind
    /// One sentence: what is wrong and what to do.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
