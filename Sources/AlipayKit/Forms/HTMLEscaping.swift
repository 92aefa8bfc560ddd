/// HTML escaping for text and attribute values, shared by the pay form, the sandbox's cashier and the return page.
public enum HTMLEscaping {
    /// Escapes `& < > " '`, the characters that matter in HTML text and quoted attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
