/// An RFC 8259 recogniser written for the fuzz target, independent of ResponseExtractor: the top-level members of a
/// JSON object as (raw key text, value byte range), or nil when the text is not exactly one valid JSON object.
///
/// JSONSerialization cannot be the reference: Foundation's parser also takes trailing commas and other extensions.
struct StrictJSON {
    private let bytes: [UInt8]
    private var index = 0
    private static let maximumDepth = 200

    /// The members of `text` in order, or nil when it is not a valid JSON object (or nests deeper than 200).
    static func topLevelMembers(_ text: String) -> [(key: String, value: Range<Int>)]? {
        var parser = StrictJSON(bytes: Array(text.utf8))
        return parser.document()
    }

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
    }

    private mutating func expect(_ byte: UInt8) -> Bool {
        guard current == byte else { return false }
        index += 1
        return true
    }

    private mutating func document() -> [(key: String, value: Range<Int>)]? {
        skipWhitespace()
        guard expect(UInt8(ascii: "{")) else { return nil }
        var members: [(key: String, value: Range<Int>)] = []
        skipWhitespace()
        if expect(UInt8(ascii: "}")) { return end() ? members : nil }
        while true {
            skipWhitespace()
            let keyStart = index + 1
            guard string() else { return nil }
            let key = String(decoding: bytes[keyStart..<(index - 1)], as: UTF8.self)
            skipWhitespace()
            guard expect(UInt8(ascii: ":")) else { return nil }
            skipWhitespace()
            let valueStart = index
            guard value(depth: 1) else { return nil }
            members.append((key, valueStart..<index))
            skipWhitespace()
            if expect(UInt8(ascii: ",")) { continue }
            guard expect(UInt8(ascii: "}")) else { return nil }
            return end() ? members : nil
        }
    }

    private mutating func end() -> Bool {
        skipWhitespace()
        return index == bytes.count
    }

    private mutating func value(depth: Int) -> Bool {
        guard depth <= Self.maximumDepth, let byte = current else { return false }
        switch byte {
        case UInt8(ascii: "{"): return container(close: UInt8(ascii: "}"), depth: depth, member: true)
        case UInt8(ascii: "["): return container(close: UInt8(ascii: "]"), depth: depth, member: false)
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func container(close: UInt8, depth: Int, member: Bool) -> Bool {
        index += 1
        skipWhitespace()
        if expect(close) { return true }
        while true {
            skipWhitespace()
            if member {
                guard string() else { return false }
                skipWhitespace()
                guard expect(UInt8(ascii: ":")) else { return false }
                skipWhitespace()
            }
            guard value(depth: depth + 1) else { return false }
            skipWhitespace()
            if expect(UInt8(ascii: ",")) { continue }
            return expect(close)
        }
    }

    private mutating func string() -> Bool {
        guard expect(UInt8(ascii: "\"")) else { return false }
        while let byte = current {
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return true
            case UInt8(ascii: "\\"):
                guard let escaped = current else { return false }
                index += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"), UInt8(ascii: "n"),
                    UInt8(ascii: "r"), UInt8(ascii: "t"):
                    continue
                case UInt8(ascii: "u"):
                    for _ in 0..<4 {
                        guard let hex = current, hex.isHexDigit else { return false }
                        index += 1
                    }
                default:
                    return false
                }
            case 0x00..<0x20:
                return false
            default:
                continue
            }
        }
        return false
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        guard bytes.count - index >= expected.count, bytes[index..<(index + expected.count)].elementsEqual(expected) else { return false }
        index += expected.count
        return true
    }

    private mutating func number() -> Bool {
        _ = expect(UInt8(ascii: "-"))
        if expect(UInt8(ascii: "0")) {
        } else {
            guard let first = current, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(first) else { return false }
            digits()
        }
        if expect(UInt8(ascii: ".")) {
            guard current?.isDigit == true else { return false }
            digits()
        }
        if expect(UInt8(ascii: "e")) || expect(UInt8(ascii: "E")) {
            if !expect(UInt8(ascii: "+")) { _ = expect(UInt8(ascii: "-")) }
            guard current?.isDigit == true else { return false }
            digits()
        }
        return true
    }

    private mutating func digits() {
        while current?.isDigit == true { index += 1 }
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
    fileprivate var isHexDigit: Bool {
        isDigit || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
