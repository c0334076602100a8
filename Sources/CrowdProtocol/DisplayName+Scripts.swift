import Foundation

/// Rule 5 of `DisplayName`: letters of one script.
///
/// Swift exposes no Unicode Script property, so this is a compact range table of the scripts people write names
/// in (the block ranges of Unicode 15; a few Common/Inherited code points inside them are not told apart). Only
/// letters, marks and digits are looked up: punctuation, symbols and spaces are Common wherever they are. A letter
/// outside the table counts as one "unlisted" script, so a name in a rare script still passes on its own, and
/// cannot be mixed with a listed one.
extension DisplayName {
    enum Script: String, Sendable {
        case common, inherited
        case latin = "Latin", greek = "Greek", cyrillic = "Cyrillic", armenian = "Armenian", hebrew = "Hebrew"
        case arabic = "Arabic", syriac = "Syriac", thaana = "Thaana", nko = "NKo", devanagari = "Devanagari"
        case bengali = "Bengali", gurmukhi = "Gurmukhi", gujarati = "Gujarati", oriya = "Oriya", tamil = "Tamil"
        case telugu = "Telugu", kannada = "Kannada", malayalam = "Malayalam", sinhala = "Sinhala", thai = "Thai"
        case lao = "Lao", tibetan = "Tibetan", myanmar = "Myanmar", georgian = "Georgian", hangul = "Hangul"
        case ethiopic = "Ethiopic", cherokee = "Cherokee", canadian = "Canadian Aboriginal", khmer = "Khmer"
        case mongolian = "Mongolian", hiragana = "Hiragana", katakana = "Katakana", bopomofo = "Bopomofo"
        case han = "Han"
        case unlisted
    }

    /// First match wins: the Common/Inherited exceptions come before the blocks that hold them.
    static let scriptRanges: [(ClosedRange<UInt32>, Script)] = [
        (0x02B0...0x02FF, .common),  // spacing modifier letters (ʻokina, modifier apostrophe)
        (0x0300...0x036F, .inherited), (0x1AB0...0x1AFF, .inherited), (0x1DC0...0x1DFF, .inherited),
        (0x20D0...0x20FF, .inherited), (0xFE00...0xFE0F, .inherited), (0xFE20...0xFE2F, .inherited),
        (0x3005...0x3005, .han), (0x3007...0x3007, .han), (0x3021...0x3029, .han), (0x3038...0x303B, .han),
        (0x3000...0x303F, .common), (0x3099...0x309C, .common), (0x30FC...0x30FC, .common),  // kana marks, ー
        (0x0041...0x005A, .latin), (0x0061...0x007A, .latin), (0x00AA...0x00AA, .latin), (0x00BA...0x00BA, .latin),
        (0x00C0...0x024F, .latin), (0x0250...0x02AF, .latin), (0x1D00...0x1DBF, .latin), (0x1E00...0x1EFF, .latin),
        (0x2071...0x2071, .latin), (0x207F...0x207F, .latin), (0x2090...0x209C, .latin), (0x2160...0x2188, .latin),
        (0x2C60...0x2C7F, .latin), (0xA720...0xA7FF, .latin), (0xAB30...0xAB64, .latin), (0xFB00...0xFB06, .latin),
        (0xFF21...0xFF3A, .latin), (0xFF41...0xFF5A, .latin), (0x10780...0x107BF, .latin), (0x1DF00...0x1DFFF, .latin),
        (0x0370...0x03FF, .greek), (0x1F00...0x1FFF, .greek), (0xAB65...0xAB65, .greek), (0x10140...0x1018F, .greek),
        (0x0400...0x052F, .cyrillic), (0x1C80...0x1C8F, .cyrillic), (0x2DE0...0x2DFF, .cyrillic),
        (0xA640...0xA69F, .cyrillic), (0x1E030...0x1E08F, .cyrillic),
        (0x0531...0x058F, .armenian), (0xFB13...0xFB17, .armenian),
        (0x0591...0x05FF, .hebrew), (0xFB1D...0xFB4F, .hebrew),
        (0x0600...0x06FF, .arabic), (0x0750...0x077F, .arabic), (0x0870...0x08FF, .arabic),
        (0xFB50...0xFDFF, .arabic), (0xFE70...0xFEFF, .arabic), (0x1EE00...0x1EEFF, .arabic),
        (0x0700...0x074F, .syriac), (0x0860...0x086F, .syriac), (0x0780...0x07BF, .thaana), (0x07C0...0x07FF, .nko),
        (0x0900...0x097F, .devanagari), (0xA8E0...0xA8FF, .devanagari), (0x0980...0x09FF, .bengali),
        (0x0A00...0x0A7F, .gurmukhi), (0x0A80...0x0AFF, .gujarati), (0x0B00...0x0B7F, .oriya),
        (0x0B80...0x0BFF, .tamil), (0x0C00...0x0C7F, .telugu), (0x0C80...0x0CFF, .kannada),
        (0x0D00...0x0D7F, .malayalam), (0x0D80...0x0DFF, .sinhala), (0x0E00...0x0E7F, .thai), (0x0E80...0x0EFF, .lao),
        (0x0F00...0x0FFF, .tibetan), (0x1000...0x109F, .myanmar), (0xA9E0...0xA9FF, .myanmar),
        (0xAA60...0xAA7F, .myanmar), (0x10A0...0x10FF, .georgian), (0x1C90...0x1CBF, .georgian),
        (0x2D00...0x2D2F, .georgian),
        (0x1100...0x11FF, .hangul), (0x3130...0x318F, .hangul), (0xA960...0xA97F, .hangul), (0xAC00...0xD7FF, .hangul),
        (0xFFA0...0xFFDC, .hangul),
        (0x1200...0x139F, .ethiopic), (0x2D80...0x2DDF, .ethiopic), (0xAB00...0xAB2F, .ethiopic),
        (0x13A0...0x13FF, .cherokee), (0xAB70...0xABBF, .cherokee), (0x1400...0x167F, .canadian),
        (0x18B0...0x18FF, .canadian), (0x1780...0x17FF, .khmer), (0x19E0...0x19FF, .khmer),
        (0x1800...0x18AF, .mongolian),
        (0x3041...0x309F, .hiragana), (0x1B001...0x1B11F, .hiragana),
        (0x30A0...0x30FF, .katakana), (0x31F0...0x31FF, .katakana), (0xFF66...0xFF9F, .katakana),
        (0x1B000...0x1B000, .katakana),
        (0x3100...0x312F, .bopomofo), (0x31A0...0x31BF, .bopomofo),
        (0x2E80...0x2FDF, .han), (0x3400...0x4DBF, .han), (0x4E00...0x9FFF, .han), (0xF900...0xFAFF, .han),
        (0x20000...0x323AF, .han),
    ]

    /// Script sets that may share one name (UTS #39 "highly restrictive"), beside any single script.
    static let allowedMixes: [Set<Script>] = [
        [.latin, .han, .hiragana, .katakana], [.latin, .han, .bopomofo], [.latin, .han, .hangul],
    ]

    /// The script of one code point (`common` for punctuation, symbols and spaces).
    static func script(of u: Unicode.Scalar) -> Script {
        let category = u.properties.generalCategory
        switch category {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .nonspacingMark,
            .spacingMark, .enclosingMark, .decimalNumber, .letterNumber, .otherNumber:
            break
        default:
            return .common
        }
        if let entry = scriptRanges.first(where: { $0.0.contains(u.value) }) { return entry.1 }
        switch category {
        case .nonspacingMark, .spacingMark, .enclosingMark: return .inherited
        case .decimalNumber, .letterNumber, .otherNumber: return .common
        default: return .unlisted
        }
    }

    /// Rule 5, on the NFKC form of `value` (fullwidth and mathematical letters count as the letters they are).
    static func checkScripts(_ value: String) throws(DisplayNameError) {
        var order: [Script] = []
        var seen: [Script: (count: Int, first: Unicode.Scalar)] = [:]
        for u in value.precomposedStringWithCompatibilityMapping.unicodeScalars {
            let s = script(of: u)
            guard s != .common, s != .inherited else { continue }
            if let e = seen[s] {
                seen[s] = (e.count + 1, e.first)
            } else {
                seen[s] = (1, u)
                order.append(s)
            }
        }
        let scripts = Set(order)
        guard scripts.count > 1, !allowedMixes.contains(where: { scripts.isSubset(of: $0) }) else { return }
        // Name the script with the fewest letters: usually the one smuggled in.
        let odd = order.reversed().min { seen[$0]!.count < seen[$1]!.count }!
        let first = seen[odd]!.first
        let what = odd == .unlisted ? "in a script this check does not list" : odd.rawValue
        let names = order.map(\.rawValue)
        let list = names.count == 2 ? "\(names[0]) and \(names[1])" : names.joined(separator: ", ")
        throw DisplayNameError(
            .mixedScripts,
            "display name mixes the \(list) scripts ('\(Character(first))' \(hex(first)) is \(what)), so it "
                + "could imitate another name; write it in one script (digits, spaces and punctuation go with any)")
    }
}
