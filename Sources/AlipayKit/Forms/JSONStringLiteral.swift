/// JSON string literals written directly, for text whose exact bytes matter (signed response nodes, order event
/// payloads): escaped as `JSONEncoder` escapes — `"` and `\`, the short forms of backspace, form feed, newline,
/// carriage return and tab, `\u00XX` for the other control characters — with `/` and all other text (UTF-8) as is.
public enum JSONStringLiteral {
    /// Appends `"value"` to `out`.
    public static func append(_ value: String, to out: inout String) {
        out += "\""
        if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            out += value
        } else {
            for scalar in value.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case let control where control.value < 0x20:
                    let hex = String(control.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// `"value"`.
    public static func quoted(_ value: String) -> String {
        var out = ""
        append(value, to: &out)
        return out
    }
}
