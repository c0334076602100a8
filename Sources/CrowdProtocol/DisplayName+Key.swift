import Foundation

/// The uniqueness key of a display name: a case-folded, whitespace-free, confusable-safe skeleton.
///
/// Steps: NFKC (fullwidth, ligature and mathematical letters become plain ones); accents and widths folded;
/// Cyrillic and Greek letters that look like Latin ones replaced by those (`homoglyphs`, applied before lowercasing
/// so Greek "Η" is Latin "H", not "n"); lowercased and case-folded; whitespace and invisible characters dropped;
/// look-alike digits and letters merged (`lookAlikes`: 0→o, 1/i/I/|/ı→l, 5→s); then the sequences "rn"→"m"
/// and "vv"→"w". Both tables are deliberately small (the common confusables of UTS #39, not all of them), and they
/// only ever make more names collide: a collision costs a volunteer a second choice, a miss lets one impersonate
/// another on the leaderboard.
extension DisplayName {
    /// The key of any string (a valid name's `key`; the migration also keys names stored before these rules).
    public static func key(of name: String) -> String {
        let folded = name.precomposedStringWithCompatibilityMapping
            .folding(options: [.diacriticInsensitive, .widthInsensitive], locale: nil)
        var latin = String.UnicodeScalarView()
        for u in folded.unicodeScalars {
            let p = u.properties
            if p.isWhitespace || p.isDefaultIgnorableCodePoint || p.generalCategory == .format
                || p.generalCategory == .control
            {
                continue
            }
            latin.append(homoglyphs[u.value] ?? u)
        }
        let lower = String(latin).lowercased()
            .folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: nil)
        var merged = String.UnicodeScalarView()
        for u in lower.unicodeScalars where !u.properties.isWhitespace {
            merged.append(lookAlikes[u.value] ?? u)
        }
        var key = String(merged)
        for (sequence, letter) in sequences { key = key.replacingOccurrences(of: sequence, with: letter) }
        return key
    }

    /// Cyrillic and Greek letters drawn like a Latin letter (upper case to upper case, lower to lower).
    static let homoglyphs: [UInt32: Unicode.Scalar] = [
        // Cyrillic capitals А В Е К М Н О Р С Т У Х Ѕ І Ј Ү Һ Ӏ Ԛ Ԝ
        0x0410: "A", 0x0412: "B", 0x0415: "E", 0x041A: "K", 0x041C: "M", 0x041D: "H", 0x041E: "O", 0x0420: "P",
        0x0421: "C", 0x0422: "T", 0x0423: "Y", 0x0425: "X", 0x0405: "S", 0x0406: "I", 0x0408: "J", 0x04AE: "Y",
        0x04BA: "H", 0x04C0: "I", 0x051A: "Q", 0x051C: "W",
        // Cyrillic small а е к о р с у х ѕ і ј һ ԁ ԛ ԝ ӏ ь г п ѵ
        0x0430: "a", 0x0435: "e", 0x043A: "k", 0x043E: "o", 0x0440: "p", 0x0441: "c", 0x0443: "y", 0x0445: "x",
        0x0455: "s", 0x0456: "i", 0x0458: "j", 0x04BB: "h", 0x0501: "d", 0x051B: "q", 0x051D: "w", 0x04CF: "l",
        0x044C: "b", 0x0433: "r", 0x043F: "n", 0x0475: "v",
        // Greek capitals Α Β Ε Ζ Η Ι Κ Μ Ν Ο Ρ Τ Υ Χ
        0x0391: "A", 0x0392: "B", 0x0395: "E", 0x0396: "Z", 0x0397: "H", 0x0399: "I", 0x039A: "K", 0x039C: "M",
        0x039D: "N", 0x039F: "O", 0x03A1: "P", 0x03A4: "T", 0x03A5: "Y", 0x03A7: "X",
        // Greek small α γ ι κ ν ο ρ υ χ η ω
        0x03B1: "a", 0x03B3: "y", 0x03B9: "i", 0x03BA: "k", 0x03BD: "v", 0x03BF: "o", 0x03C1: "p", 0x03C5: "u",
        0x03C7: "x", 0x03B7: "n", 0x03C9: "w",
    ]

    /// Digits and letters that pass for one another once lowercased: 0→o, 1 i | ı ǀ→l, 5→s.
    static let lookAlikes: [UInt32: Unicode.Scalar] = [
        0x30: "o", 0x31: "l", 0x69: "l", 0x7C: "l", 0x0131: "l", 0x01C0: "l", 0x35: "s",
    ]

    /// Letter pairs that read as one letter, replaced after `lookAlikes`.
    static let sequences: [(String, String)] = [("rn", "m"), ("vv", "w")]
}
