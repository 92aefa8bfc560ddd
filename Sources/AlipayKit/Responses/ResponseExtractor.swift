/// Finds the raw JSON text of a top-level member of a gateway response, exactly as it came over the wire.
///
/// Alipay signs the bytes of `<method>_response` as sent, so the text must never be re-serialised: this is a
/// quote- and escape-aware matcher that skips strings (with `\"`, `\\`, `\/` and `}` inside) and nested values.
public enum ResponseExtractor {
    /// The raw value of the top-level member `key` (an object with its braces, a quoted string with its quotes, or a
    /// literal); nil when the body is not a JSON object, the member is absent, or it appears more than once.
    public static func rawNode(named key: String, in body: String) -> Substring? {
        guard let members = topLevelMembers(body) else { return nil }
        let matching = members.filter { $0.key == key }
        guard matching.count == 1 else { return nil }
        return body[matching[0].value]
    }

    /// The top-level members of a JSON object as (raw key text without quotes, value range); nil when malformed.
    static func topLevelMembers(_ body: String) -> [(key: Substring, value: Range<String.Index>)]? {
        let utf8 = body.utf8
        var index = utf8.startIndex
        func skipWhitespace() {
            while index < utf8.endIndex, [0x20, 0x09, 0x0A, 0x0D].contains(utf8[index]) { index = utf8.index(after: index) }
        }
        func byte() -> UInt8? { index < utf8.endIndex ? utf8[index] : nil }
        func advance() { index = utf8.index(after: index) }

        /// Moves past a string whose opening quote is at `index`; false when unterminated.
        func skipString() -> Bool {
            advance()
            while let current = byte() {
                advance()
                if current == UInt8(ascii: "\\") {
                    guard byte() != nil else { return false }
                    advance()
                } else if current == UInt8(ascii: "\"") {
                    return true
                }
            }
            return false
        }

        /// Moves past one value of any kind; false when malformed.
        func skipValue() -> Bool {
            guard let first = byte() else { return false }
            switch first {
            case UInt8(ascii: "\""):
                return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while let current = byte() {
                    switch current {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return false }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["):
                        depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            advance()
                            return true
                        }
                    default:
                        break
                    }
                    advance()
                }
                return false
            default:
                // A number, true, false or null: runs to the next delimiter.
                let start = index
                while let current = byte(), ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(current) {
                    advance()
                }
                return index > start
            }
        }

        skipWhitespace()
        guard byte() == UInt8(ascii: "{") else { return nil }
        advance()
        var members: [(key: Substring, value: Range<String.Index>)] = []
        skipWhitespace()
        if byte() == UInt8(ascii: "}") { return members }
        while true {
            skipWhitespace()
            guard byte() == UInt8(ascii: "\"") else { return nil }
            let keyStart = utf8.index(after: index)
            guard skipString() else { return nil }
            let key = body[keyStart..<utf8.index(before: index)]
            skipWhitespace()
            guard byte() == UInt8(ascii: ":") else { return nil }
            advance()
            skipWhitespace()
            let valueStart = index
            guard skipValue() else { return nil }
            members.append((key, valueStart..<index))
            skipWhitespace()
            switch byte() {
            case UInt8(ascii: ","):
                advance()
            case UInt8(ascii: "}"):
                return members
            default:
                return nil
            }
        }
    }
}
