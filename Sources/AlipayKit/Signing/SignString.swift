/// The string Alipay signs: built here and nowhere else.
///
/// Rules (see docs/alipay-protocol.md): leave out the excluded keys, skip empty values, sort keys by byte order,
/// join `key=value` with `&`, values raw (never URL-encoded).
public enum SignString {
    /// Keys a request's sign string leaves out.
    public static let requestExclusions: Set<String> = ["sign"]
    /// Keys a notification's (or `return_url` query's) sign string leaves out.
    public static let notificationExclusions: Set<String> = ["sign", "sign_type", "alipay_cert_sn"]

    /// The sign string of a gateway request: every parameter except `sign`, empty values skipped.
    public static func forRequest(_ parameters: [String: String]) -> String {
        string(parameters, excluding: requestExclusions)
    }

    /// The sign string of a notification or `return_url` query: every parameter except `sign`, `sign_type`, `alipay_cert_sn`.
    public static func forNotification(_ parameters: [String: String]) -> String {
        string(parameters, excluding: notificationExclusions)
    }

    static func string(_ parameters: [String: String], excluding excluded: Set<String>) -> String {
        let pairs = parameters.map { (key: Array($0.key.utf8), value: Array($0.value.utf8)) }
        return String(decoding: bytes(pairs, excluding: excluded), as: UTF8.self)
    }

    /// The sign string as bytes, from keys and values already in the message's charset (UTF-8 or GBK).
    static func bytes(_ pairs: [(key: [UInt8], value: [UInt8])], excluding excluded: Set<String>, keepEmpty: Bool = false) -> [UInt8] {
        bytes(pairs.map { FormPair(key: $0.key, value: $0.value) }, excluding: excluded.map { Array($0.utf8) }, keepEmpty: keepEmpty)
    }

    /// ``notificationExclusions`` as bytes, made once: the receiver and the worker build a sign string per notification.
    static let notificationExclusionKeys: [[UInt8]] = notificationExclusions.map { Array($0.utf8) }

    /// The one builder. It sorts positions rather than copies of the pairs, and looks the two or three excluded keys
    /// up by comparing bytes: on the notification path a set of byte arrays (hashing every key) and an array of
    /// tuples (generic metadata made at run time on every call) cost more than the rest of the string.
    static func bytes(_ pairs: [FormPair], excluding excluded: [[UInt8]], keepEmpty: Bool = false) -> [UInt8] {
        var kept: [Int] = []
        kept.reserveCapacity(pairs.count)
        var length = 0
        for index in pairs.indices where (keepEmpty || !pairs[index].value.isEmpty) && !excluded.contains(pairs[index].key) {
            kept.append(index)
            length += pairs[index].key.count + pairs[index].value.count + 2
        }
        kept.sort { pairs[$0].key.lexicographicallyPrecedes(pairs[$1].key) }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        for index in kept {
            if !out.isEmpty { out.append(UInt8(ascii: "&")) }
            out += pairs[index].key
            out.append(UInt8(ascii: "="))
            out += pairs[index].value
        }
        return out
    }
}
