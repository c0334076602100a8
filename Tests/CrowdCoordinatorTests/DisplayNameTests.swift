import CrowdProtocol
import Foundation
import Testing

/// `DisplayName`: normalisation, every refused class, the limits, one script, and the confusable-safe key.
/// (CrowdProtocol has no test target of its own; the coordinator is the rules' last word.)
@Suite struct DisplayNameTests {
    func refused(_ raw: String) -> DisplayNameError? {
        do {
            _ = try DisplayName(raw)
            return nil
        } catch {
            return error
        }
    }

    @Test func nfcMakesDecomposedAndPrecomposedOneName() throws {
        let decomposed = try DisplayName("Jose\u{0301}")
        let precomposed = try DisplayName("Jos\u{00E9}")
        #expect(Array(decomposed.value.utf8) == Array(precomposed.value.utf8), "stored bytes are NFC")
        #expect(decomposed.value.unicodeScalars.map(\.value) == [0x4A, 0x6F, 0x73, 0xE9])
        #expect(decomposed.key == precomposed.key)
    }

    @Test func surroundingWhitespaceIsTrimmedAndInnerRunsCollapse() throws {
        #expect(try DisplayName("  Al \u{00A0}\u{3000}\u{2009}ice \n").value == "Al ice")
        #expect(try DisplayName("\tbob ").value == "bob")
    }

    @Test func everyInvisibleOrUnstableClassIsRefusedNamingTheCodePoint() {
        let cases: [(String, DisplayNameError.Kind, String)] = [
            ("Ali\u{0007}ce", .controlCharacter, "U+0007"),
            ("Ali\nce", .controlCharacter, "U+000A"),
            ("Ali\u{001B}[31mce", .controlCharacter, "U+001B"),
            ("Ali\u{2028}ce", .lineSeparator, "U+2028"),
            ("Ali\u{2029}ce", .lineSeparator, "U+2029"),
            ("\u{202E}ecilA", .bidiControl, "U+202E"),
            ("Alice\u{200F}", .bidiControl, "U+200F"),
            ("\u{2066}Alice\u{2069}", .bidiControl, "U+2066"),
            ("Alice\u{061C}", .bidiControl, "U+061C"),
            ("Al\u{200B}ice", .zeroWidth, "U+200B"),
            ("Al\u{200D}ice", .zeroWidth, "U+200D"),
            ("Al\u{2060}ice", .zeroWidth, "U+2060"),
            ("\u{FEFF}Alice", .zeroWidth, "U+FEFF"),
            ("Al\u{00AD}ice", .invisible, "U+00AD"),
            ("Alice\u{E0041}", .invisible, "U+E0041"),
            ("Al\u{3164}ice", .invisible, "U+3164"),
            ("Al\u{034F}ice", .invisible, "U+034F"),
            ("Al\u{0378}ice", .unassigned, "U+0378"),
            ("Alice\u{FFFF}", .unassigned, "U+FFFF"),
            ("Alice\u{E000}", .privateUse, "U+E000"),
            ("Alice\u{F0000}", .privateUse, "U+F0000"),
        ]
        for (raw, kind, code) in cases {
            let e = refused(raw)
            #expect(e?.kind == kind, "\(raw.debugDescription): \(e?.message ?? "accepted")")
            #expect(e?.message.contains("(\(code))") == true, "\(e?.message ?? "accepted")")
        }
        #expect(
            refused("\u{202E}ecilA")?.message
                == "display name contains a bidi control character (U+202E), which can reorder what others see; "
                + "choose a name with visible characters only")
        for empty in ["", "   ", "\u{3000}", "...", "-", "\u{0301}"] {
            #expect(refused(empty)?.kind == .empty, "\(empty.debugDescription)")
        }
    }

    @Test func visibleNamesOfManyKindsPass() throws {
        for ok in [
            "alice", "Alice99", "alice_the-great!", "O'Brien", "ʻOkina", "Zoë 🚀", "❤\u{FE0F} fan", "Алиса", "Αλίκη",
            "山田太郎", "やまだ タロウ 山田", "Tanaka 田中", "김철수 Kim", "Müller-Lüdenscheidt", "محمد", "דוד",
            "<script>alert('x')</script>", "x",
        ] {
            #expect(refused(ok) == nil, "\(ok): \(refused(ok)?.message ?? "")")
        }
    }

    @Test func lengthIsCountedInCharactersAndBytes() throws {
        let forty = String(repeating: "a", count: DisplayName.maxCharacters)
        #expect(try DisplayName(forty).value == forty)
        let e = refused(forty + "b")
        #expect(e?.kind == .tooLong && e?.message.contains("41 characters") == true, "\(e?.message ?? "")")
        // 40 decomposed é: 80 scalars, but 40 characters (and 80 bytes once NFC).
        #expect(try DisplayName(String(repeating: "e\u{0301}", count: 40)).value.utf8.count == 80)
        // 16 flags: 16 characters but 128 bytes.
        #expect(refused(String(repeating: "🇫🇷", count: 16))?.kind == .tooLong)
        // One character with 70 stacked marks (140 bytes).
        #expect(refused("a" + String(repeating: "\u{0301}", count: 70))?.kind == .tooLong)
        #expect(refused(String(repeating: "a", count: 65_536))?.kind == .tooLong)
        #expect(try DisplayName("  " + forty + "  ").value == forty, "trimming comes before the limit")
    }

    @Test func mixedScriptsAreRefused() {
        let cyrillicA = refused("\u{0410}lice")
        #expect(cyrillicA?.kind == .mixedScripts)
        #expect(cyrillicA?.message.contains("mixes the Cyrillic and Latin scripts") == true, "\(cyrillicA?.message ?? "")")
        #expect(cyrillicA?.message.contains("U+0410 is Cyrillic") == true)
        #expect(refused("Alic\u{03B5}")?.message.contains("U+03B5 is Greek") == true)
        #expect(refused("p\u{0430}ypal")?.kind == .mixedScripts)
        #expect(refused("\u{0391}\u{0410}A")?.kind == .mixedScripts, "Greek, Cyrillic and Latin capitals")
        #expect(refused("김철수 たなか")?.kind == .mixedScripts, "Hangul and Hiragana is no allowed mix")
        #expect(refused("Alice \u{05D3}")?.kind == .mixedScripts)
    }

    @Test func confusableVariantsShareOneKey() throws {
        let alice = try DisplayName("Alice").key
        for variant in [
            "ALICE", "alice", " Alice ", "A1ice", "AIice", "Al1ce", "Al ice", "Al  ice", "A l i c e", "Al\u{00A0}ice",
            "Ａｌｉｃｅ", "Álice", "Alice\u{0301}", "𝐀𝐥𝐢𝐜𝐞", "A|ice",
            "\u{0410}\u{0406}\u{0456}\u{0441}\u{0435}",  // all-Cyrillic АІісе: one script, so valid, but the same key
        ] {
            #expect(try DisplayName(variant).key == alice, "\(variant)")
        }
        // Refused as mixed scripts, and would collide anyway.
        #expect(DisplayName.key(of: "\u{0410}lice") == alice)
        #expect(try DisplayName("B0b").key == DisplayName("Bob").key)
        #expect(try DisplayName("5am").key == DisplayName("Sam").key)
        #expect(try DisplayName("Jarnes").key == DisplayName("James").key)
        #expect(try DisplayName("VVill").key == DisplayName("Will").key)
        #expect(try DisplayName("\u{0397}\u{0391}\u{039D}").key == DisplayName("HAN").key, "Greek capitals ΗΑΝ")
        #expect(try DisplayName("\u{0420}\u{0415}\u{0422}\u{0410}").key == DisplayName("PETA").key)
        // Different names stay different.
        let distinct = ["Alice", "Alicia", "Bob", "Rob", "peer-1", "peer-10", "peer-11", "peer-2", "Алиса", "山田"]
        #expect(Set(try distinct.map { try DisplayName($0).key }).count == distinct.count)
        #expect(!alice.contains(" "))
    }

    @Test func numberedSuggestionsFitTheLimits() throws {
        #expect(try DisplayName("Alice").numbered(2)?.value == "Alice 2")
        let long = try DisplayName(String(repeating: "x", count: 40))
        let suggestion = try #require(long.numbered(12))
        #expect(suggestion.value.count == 40 && suggestion.value.hasSuffix("x 12"))
        #expect(suggestion.key != long.key)
    }
}
