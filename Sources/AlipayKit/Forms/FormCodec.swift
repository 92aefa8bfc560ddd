/// Why a form body was refused; names keys and positions, never values.
public struct FormError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of problem, for tests and metrics.
    public enum Kind: String, Sendable {
        case duplicateKey = "duplicate_key"
        case badPercentEncoding = "bad_percent_encoding"
        case emptyKey = "empty_key"
        case unsupportedCharset = "unsupported_charset"
        case badCharsetBytes = "bad_charset_bytes"
    }

    /// The kind of problem.
    public let kind: Kind
    /// A sentence a person can act on.
    public let message: String

    /// Creates a form error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// The message.
    public var description: String { message }
}

/// One decoded `key=value` pair as bytes in the body's charset: what the sign string is built from.
public struct FormPair: Sendable, Equatable {
    /// The key, percent-decoded once.
    public let key: [UInt8]
    /// The value, percent-decoded once (`+` already a space), in the body's charset.
    public let value: [UInt8]
}

/// The parameters of a decoded form body, as strings and as the raw bytes Alipay signed.
public struct FormParameters: Sendable {
    /// Every parameter, converted from the body's charset.
    public let dictionary: [String: String]
    /// The pairs in body order, as bytes in the body's charset.
    public let pairs: [FormPair]
    /// "utf-8" unless the body's `charset` says otherwise ("gbk", "gb18030").
    public let charset: String

    /// The value of `key`, if present.
    public subscript(_ key: String) -> String? { dictionary[key] }

    /// The notification sign string over the bytes as received, so a GBK body verifies over GBK bytes.
    public var notificationSignBytes: [UInt8] {
        SignString.bytes(pairs, excluding: SignString.notificationExclusionKeys)
    }
}

/// application/x-www-form-urlencoded, decoded exactly once.
///
/// A hand parser over the raw bytes, not Hummingbird's `URLEncodedFormDecoder`: that decoder reads `a[b]` keys as
/// nesting and lets a repeated key silently win, and it only yields strings, so it can neither meet the rules below
/// nor verify a GBK body over its own bytes. It is also the slower of the two on this path: decoding a 27-field form
/// with it capped a whole handler at 6.5–11k req/s (SWIFT-STACK.md), while this parser alone, built with -O, decodes
/// about 94k such bodies a second (27 fields, 1 KiB, one core: about 11 µs each).
public enum FormCodec {
    private static let charsetKey = Array("charset".utf8)

    /// Decodes application/x-www-form-urlencoded exactly once: '+' is space, %2B is '+', repeated key is an error,
    /// keys literal (no a[b] nesting), bad %-escapes an error, values interpreted in the body's own `charset` (UTF-8 or GBK).
    public static func decode(_ body: [UInt8]) throws(FormError) -> FormParameters {
        var pairs: [FormPair] = []
        var start = 0
        while start <= body.count {
            let end = body[start...].firstIndex(of: UInt8(ascii: "&")) ?? body.count
            defer { start = end + 1 }
            // Empty segments ("a=1&&b=2", a trailing "&") carry nothing and are skipped, as every form parser does.
            if start == end { continue }
            let segment = body[start..<end]
            let equals = segment.firstIndex(of: UInt8(ascii: "="))
            let rawKey = segment[..<(equals ?? end)]
            let rawValue = equals.map { segment[($0 + 1)...] } ?? body[end..<end]
            let key = try percentDecode(rawKey, fieldKey: nil)
            guard !key.isEmpty else { throw FormError(.emptyKey, "a parameter with an empty key at byte \(start)") }
            let value = try percentDecode(rawValue, fieldKey: key)
            pairs.append(FormPair(key: key, value: value))
        }
        let charsetName = pairs.first { $0.key == charsetKey }.map { String(decoding: $0.value, as: UTF8.self) }
        let charset: Charset
        if let charsetName, !charsetName.isEmpty {
            guard let known = Charset(name: charsetName) else {
                throw FormError(.unsupportedCharset, "unsupported charset '\(charsetName)' (expected utf-8 or GBK)")
            }
            charset = known
        } else {
            charset = .utf8
        }
        var dictionary: [String: String] = [:]
        dictionary.reserveCapacity(pairs.count)
        for pair in pairs {
            guard let key = charset.decode(pair.key), let value = charset.decode(pair.value) else {
                throw FormError(.badCharsetBytes, "the value of '\(String(decoding: pair.key, as: UTF8.self))' is not valid \(charset.rawValue)")
            }
            // Catches repeated keys, including distinct bytes that are equal Strings (canonical equivalence).
            guard dictionary.updateValue(value, forKey: key) == nil else {
                throw FormError(.duplicateKey, "the key '\(key)' appears more than once")
            }
        }
        return FormParameters(dictionary: dictionary, pairs: pairs, charset: charset.rawValue)
    }

    /// Decodes a body given as a string (its UTF-8 bytes; a GBK body is all ASCII once percent-encoded).
    public static func decode(_ body: String) throws(FormError) -> FormParameters {
        try decode(Array(body.utf8))
    }

    /// Encodes with RFC 3986 unreserved chars kept, everything else %XX (space as %20), keys sorted.
    public static func encode(_ parameters: [String: String]) -> String {
        let pairs = parameters.map { (key: Array($0.key.utf8), value: Array($0.value.utf8)) }
        return encode(pairs: pairs, spaceAsPlus: false)
    }

    /// Encodes byte pairs (already in the target charset), keys sorted by bytes; `spaceAsPlus` writes ' ' as '+'
    /// the way Alipay's own (Java) sender does.
    static func encode(pairs: [(key: [UInt8], value: [UInt8])], spaceAsPlus: Bool) -> String {
        let sorted = pairs.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var out: [UInt8] = []
        for (index, pair) in sorted.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            percentEncode(pair.key, into: &out, spaceAsPlus: spaceAsPlus)
            out.append(UInt8(ascii: "="))
            percentEncode(pair.value, into: &out, spaceAsPlus: spaceAsPlus)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Percent-encodes a string's UTF-8 bytes (RFC 3986 unreserved kept, space as %20).
    static func percentEncode(_ string: String) -> String {
        var out: [UInt8] = []
        percentEncode(Array(string.utf8), into: &out, spaceAsPlus: false)
        return String(decoding: out, as: UTF8.self)
    }

    static func percentEncode(_ bytes: [UInt8], into out: inout [UInt8], spaceAsPlus: Bool) {
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: " ") where spaceAsPlus:
                out.append(UInt8(ascii: "+"))
            default:
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
    }

    /// '+' becomes a space (unless `plusAsSpace` is false), `%XX` its byte; a '%' not followed by two hex digits is an error.
    static func percentDecode(_ raw: ArraySlice<UInt8>, fieldKey: [UInt8]?, plusAsSpace: Bool = true) throws(FormError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            if byte == UInt8(ascii: "+") && plusAsSpace {
                out.append(UInt8(ascii: " "))
                index += 1
            } else if byte == UInt8(ascii: "%") {
                guard let high = hexValue(raw, index + 1), let low = hexValue(raw, index + 2)
                else {
                    let place = fieldKey.map { "in the value of '\(String(decoding: $0, as: UTF8.self))'" } ?? "in a key"
                    throw FormError(.badPercentEncoding, "invalid percent-encoding \(place) at byte \(index)")
                }
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return out
    }

    private static func hexValue(_ raw: ArraySlice<UInt8>, _ index: Int) -> UInt8? {
        guard index < raw.endIndex else { return nil }
        switch raw[index] {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return raw[index] - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return raw[index] - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return raw[index] - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
