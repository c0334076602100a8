/// Escapes text for HTML element content and quoted attribute values.
///
/// Every string that reaches the dashboard from outside the coordinator (peer names above all) goes
/// through this: `&`, `<`, `>`, `"` and `'` become character references.
enum HTMLEscape {
    static func text(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
