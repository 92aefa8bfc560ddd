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
        let excludedBytes = Set(excluded.map { Array($0.utf8) })
        let kept = pairs
            .filter { !excludedBytes.contains($0.key) && (keepEmpty || !$0.value.isEmpty) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var out: [UInt8] = []
        out.reserveCapacity(kept.reduce(0) { $0 + $1.key.count + $1.value.count + 2 })
        for (index, pair) in kept.enumerated() {
            if index > 0 { out.append(UInt8(ascii: "&")) }
            out += pair.key
            out.append(UInt8(ascii: "="))
            out += pair.value
        }
        return out
    }
}
