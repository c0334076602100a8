import Foundation

/// A volunteer's display name on the campaign's public leaderboard, checked the same way by
/// `crowdtrain peer join --name` and by the coordinator's join handler (which has the last word).
///
/// Rules, in the order they are checked:
/// 1. Surrounding whitespace is trimmed and the name is normalised to NFC, so "e" + U+0301 and "é" are one name.
/// 2. Refused: control characters (Cc); line and paragraph separators; bidi controls (U+200E/F, U+061C,
///    U+202A–202E, U+2066–2069); zero-width characters (U+200B–200D, U+2060, U+FEFF, U+180E); every other
///    invisible format (Cf) or default-ignorable character (U+FE0E/U+FE0F, the emoji presentation selectors,
///    are allowed); unassigned code points, noncharacters and surrogates; private-use characters.
/// 3. Every run of whitespace (any Unicode space) becomes one U+0020.
/// 4. 1…`maxCharacters` (40) characters — grapheme clusters, what a reader counts — and at most `maxUTF8Bytes`
///    (120) bytes of UTF-8, with at least one letter, digit or symbol.
/// 5. One script: the letters (after NFKC) are of one script, beside Common and Inherited characters (digits,
///    spaces, punctuation, symbols, combining marks). The CJK mixes of Unicode's "highly restrictive" profile
///    (UTS #39) are allowed: Latin + Han + Hiragana + Katakana, Latin + Han + Bopomofo, Latin + Han + Hangul.
///    So "Аlice" with a Cyrillic А is refused. The script table is compact (`DisplayName+Scripts.swift`).
///
/// Uniqueness within a campaign is decided on `key` (see `key(of:)`): "Alice", "ALICE", "A1ice", "Al ice",
/// "Ａｌｉｃｅ" and an all-Cyrillic look-alike have one key, so only the first of them can join.
public struct DisplayName: Sendable, Hashable, CustomStringConvertible {
    /// Most characters (grapheme clusters) in a name.
    public static let maxCharacters = 40
    /// Most bytes of UTF-8 in a name (bounds stacked combining marks too).
    public static let maxUTF8Bytes = 120

    /// The normalised name: what is stored and shown.
    public let value: String
    /// The uniqueness key, `DisplayName.key(of: value)`.
    public let key: String

    /// Validates and normalises `raw`.
    /// - Throws: `DisplayNameError` naming the rule broken (and the offending code point) and what to do.
    public init(_ raw: String) throws(DisplayNameError) {
        guard raw.utf8.count <= 16 * Self.maxUTF8Bytes else {  // no normalising of a 64 KiB body
            throw DisplayNameError(
                .tooLong, "display name is \(raw.utf8.count) bytes of UTF-8; the limit is \(Self.maxCharacters) "
                    + "characters and \(Self.maxUTF8Bytes) bytes: choose a shorter name")
        }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCanonicalMapping
        for scalar in trimmed.unicodeScalars { try Self.check(scalar) }
        let value = Self.collapsingWhitespace(trimmed)
        guard !value.isEmpty else {
            throw DisplayNameError(
                .empty, "display name is empty; choose a name of 1–\(Self.maxCharacters) visible characters")
        }
        guard value.count <= Self.maxCharacters, value.utf8.count <= Self.maxUTF8Bytes else {
            throw DisplayNameError(
                .tooLong,
                "display name is \(value.count) characters (\(value.utf8.count) bytes of UTF-8); the limit is "
                    + "\(Self.maxCharacters) characters and \(Self.maxUTF8Bytes) bytes: choose a shorter name")
        }
        guard value.unicodeScalars.contains(where: Self.isReadable) else {
            throw DisplayNameError(
                .empty, "display name has no letter, digit or symbol; choose a name people can read")
        }
        try Self.checkScripts(value)
        self.value = value
        self.key = Self.key(of: value)
    }

    public var description: String { value }

    /// "`value` n", shortened to fit the limits: a suggestion when the name is taken (nil if none fits).
    public func numbered(_ n: Int) -> DisplayName? {
        let suffix = " \(n)"
        var base = Substring(value)
        while !base.isEmpty {
            if let name = try? DisplayName(String(base) + suffix) { return name }
            base = base.dropLast()
        }
        return nil
    }

    /// Emoji presentation selectors: invisible, but keyboards add them to emoji ("❤️" is U+2764 U+FE0F).
    static let presentationSelectors: Set<UInt32> = [0xFE0E, 0xFE0F]
    /// Zero-width characters that are not bidi controls.
    static let zeroWidth: Set<UInt32> = [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x180E]

    /// Refuses the invisible and unstable code points (rule 2).
    static func check(_ scalar: Unicode.Scalar) throws(DisplayNameError) {
        let p = scalar.properties
        let code = hex(scalar)
        let visibleOnly = "choose a name with visible characters only"
        switch p.generalCategory {
        case .control:
            throw DisplayNameError(
                .controlCharacter, "display name contains a control character (\(code)); \(visibleOnly)")
        case .lineSeparator, .paragraphSeparator:
            throw DisplayNameError(
                .lineSeparator, "display name contains a line or paragraph separator (\(code)); choose a one-line name")
        default: break
        }
        if p.isBidiControl {
            throw DisplayNameError(
                .bidiControl,
                "display name contains a bidi control character (\(code)), which can reorder what others see; "
                    + visibleOnly)
        }
        if zeroWidth.contains(scalar.value) {
            throw DisplayNameError(.zeroWidth, "display name contains a zero-width character (\(code)); \(visibleOnly)")
        }
        switch p.generalCategory {
        case .format:
            throw DisplayNameError(
                .invisible, "display name contains an invisible format character (\(code)); \(visibleOnly)")
        case .unassigned, .surrogate:
            throw DisplayNameError(
                .unassigned, "display name contains an unassigned code point or noncharacter (\(code)); \(visibleOnly)")
        case .privateUse:
            throw DisplayNameError(
                .privateUse,
                "display name contains a private-use character (\(code)), which looks different on every computer; "
                    + "choose a name of standard characters")
        default: break
        }
        if p.isDefaultIgnorableCodePoint && !presentationSelectors.contains(scalar.value) {
            throw DisplayNameError(.invisible, "display name contains an invisible character (\(code)); \(visibleOnly)")
        }
    }

    /// Replaces every run of whitespace by one U+0020 (rule 3; `s` is already trimmed).
    static func collapsingWhitespace(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for u in s.unicodeScalars {
            if u.properties.isWhitespace {
                pendingSpace = true
                continue
            }
            if pendingSpace { out.append(" ") }
            pendingSpace = false
            out.append(u)
        }
        return String(out)
    }

    /// A letter, digit or symbol (what makes a name readable).
    static func isReadable(_ u: Unicode.Scalar) -> Bool {
        switch u.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber,
            .letterNumber, .otherNumber, .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            true
        default: false
        }
    }

    /// `U+202E`.
    static func hex(_ u: Unicode.Scalar) -> String {
        let digits = String(u.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
