import Foundation

/// Which faults the sandbox injects, and how often.
///
/// Gateway faults hit the answers of `alipay.trade.query`, `.close` and `.refund` (fractions of requests, at most 1
/// in total; one draw per request picks at most one). Notification faults are drawn per notification.
///
/// The text form, used by `SANDBOX_FAULTS` and `--faults`, is a comma-separated list of `name:value`:
/// `500:0.2,slow:0.1,badsign:0.1,garbage:0.1,unknown:0.05,escapedslash:0.5,duplicate:0.5,reorder:1,forged:0.2,gbk:0.5,drop:3`.
public struct FaultConfiguration: Sendable, Equatable {
    /// Fraction of gateway answers replaced by HTTP 500 (the request is not processed).
    public var http500: Double = 0
    /// Fraction of gateway answers delayed by `slowSeconds` of real time, after the request was processed.
    public var slow: Double = 0
    /// Fraction of gateway answers whose `sign` does not verify (the request was processed).
    public var badSign: Double = 0
    /// Fraction of gateway answers cut in half: malformed JSON (the request was processed).
    public var garbage: Double = 0
    /// Fraction of gateway answers that are `20000 isp.unknow-error` (the request is not processed).
    public var unknownError: Double = 0
    /// Fraction of signed gateway answers whose `/` are written `\/` on the wire after signing over the text with `/`
    /// (a valid answer, drawn independently of the faults above): exercises the Java SDK's second verification.
    public var escapedSlash: Double = 0
    /// Fraction of notification attempts sent twice.
    public var duplicate: Double = 0
    /// Fraction of payments whose `TRADE_FINISHED` notification is sent before the `TRADE_SUCCESS` one.
    public var reorder: Double = 0
    /// Fraction of notifications preceded by a forged copy signed with a key that is not Alipay's.
    public var forged: Double = 0
    /// Fraction of notifications sent as an old account's: `charset=GBK`, signed and percent-encoded as GBK bytes.
    public var gbk: Double = 0
    /// Fraction of downloaded trade statements with a planted discrepancy: the first payment's amount 0.01 more.
    public var statement: Double = 0
    /// The next N delivery attempts are not sent at all, recorded with the answer `dropped`, and retried on schedule.
    public var dropFirst: Int = 0
    /// How long a `slow` answer waits, in real seconds (not scaled): it must exceed the client's read timeout.
    public var slowSeconds: Double = 15
    /// Seed of the random draws; nil seeds from the system.
    public var seed: UInt64?

    /// No faults.
    public init() {}

    /// Parses the text form; an empty string means no faults.
    public init(spec: String, slowSeconds: Double = 15, seed: UInt64? = nil) throws(SandboxError) {
        self.slowSeconds = slowSeconds
        self.seed = seed
        for item in spec.split(separator: ",") {
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: ":", maxSplits: 1).map { String($0) }
            guard parts.count == 2 else { throw .invalidFaults("\"\(trimmed)\" is not name:value") }
            let name = parts[0].lowercased()
            let value = parts[1]
            if name == "drop" {
                guard let count = Int(value), count >= 0 else { throw .invalidFaults("drop needs a count (drop:3), got \"\(value)\"") }
                dropFirst = count
                continue
            }
            guard let fraction = Double(value), fraction.isFinite else {
                throw .invalidFaults("\(name) needs a fraction between 0 and 1, got \"\(value)\"")
            }
            switch name {
            case "500", "http500": http500 = fraction
            case "slow": slow = fraction
            case "badsign", "bad_sign": badSign = fraction
            case "garbage": garbage = fraction
            case "unknown", "20000", "unknown_error": unknownError = fraction
            case "escapedslash", "escaped_slash": escapedSlash = fraction
            case "gbk": gbk = fraction
            case "duplicate": duplicate = fraction
            case "reorder": reorder = fraction
            case "forged": forged = fraction
            case "statement": statement = fraction
            default:
                throw .invalidFaults(
                    "unknown fault \"\(name)\" (known: 500, slow, badsign, garbage, unknown, escapedslash, duplicate, reorder, forged, gbk, statement, drop)")
            }
        }
        try validate()
    }

    /// The text form of this configuration, faults with a zero value left out.
    public var spec: String {
        var items: [String] = []
        func add(_ name: String, _ value: Double) { if value > 0 { items.append("\(name):\(Self.format(value))") } }
        add("500", http500)
        add("slow", slow)
        add("badsign", badSign)
        add("garbage", garbage)
        add("unknown", unknownError)
        add("escapedslash", escapedSlash)
        add("duplicate", duplicate)
        add("reorder", reorder)
        add("forged", forged)
        add("gbk", gbk)
        add("statement", statement)
        if dropFirst > 0 { items.append("drop:\(dropFirst)") }
        return items.joined(separator: ",")
    }

    /// Checks fractions are within 0…1, gateway fractions add up to at most 1, counts and delays are not negative.
    public func validate() throws(SandboxError) {
        let fractions: [(String, Double)] = [
            ("500", http500), ("slow", slow), ("badsign", badSign), ("garbage", garbage), ("unknown", unknownError),
            ("escapedslash", escapedSlash), ("duplicate", duplicate), ("reorder", reorder), ("forged", forged), ("gbk", gbk),
            ("statement", statement),
        ]
        for (name, value) in fractions where !(0...1).contains(value) {
            throw .invalidFaults("\(name) must be between 0 and 1, got \(Self.format(value))")
        }
        let gatewayTotal = http500 + slow + badSign + garbage + unknownError
        if gatewayTotal > 1 + 1e-9 {
            throw .invalidFaults("gateway fault fractions (500, slow, badsign, garbage, unknown) add up to \(Self.format(gatewayTotal)), more than 1")
        }
        if dropFirst < 0 { throw .invalidFaults("drop must not be negative") }
        if !(slowSeconds >= 0) || !slowSeconds.isFinite { throw .invalidFaults("slow_seconds must be a non-negative number") }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

extension FaultConfiguration: Codable {
    enum CodingKeys: String, CodingKey {
        case http500 = "http_500", slow, badSign = "bad_sign", garbage, unknownError = "unknown_error", escapedSlash = "escaped_slash", duplicate, reorder, forged, gbk, statement
        case dropFirst = "drop_first", slowSeconds = "slow_seconds", seed, spec
    }

    /// Decodes `{"spec":"500:0.2,…"}` or the individual fields; absent fields mean no such fault.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let slowSeconds = try container.decodeIfPresent(Double.self, forKey: .slowSeconds) ?? 15
        let seed = try container.decodeIfPresent(UInt64.self, forKey: .seed)
        if let spec = try container.decodeIfPresent(String.self, forKey: .spec) {
            self = try FaultConfiguration(spec: spec, slowSeconds: slowSeconds, seed: seed)
        } else {
            self.init()
            self.slowSeconds = slowSeconds
            self.seed = seed
        }
        http500 = try container.decodeIfPresent(Double.self, forKey: .http500) ?? http500
        slow = try container.decodeIfPresent(Double.self, forKey: .slow) ?? slow
        badSign = try container.decodeIfPresent(Double.self, forKey: .badSign) ?? badSign
        garbage = try container.decodeIfPresent(Double.self, forKey: .garbage) ?? garbage
        unknownError = try container.decodeIfPresent(Double.self, forKey: .unknownError) ?? unknownError
        escapedSlash = try container.decodeIfPresent(Double.self, forKey: .escapedSlash) ?? escapedSlash
        gbk = try container.decodeIfPresent(Double.self, forKey: .gbk) ?? gbk
        duplicate = try container.decodeIfPresent(Double.self, forKey: .duplicate) ?? duplicate
        reorder = try container.decodeIfPresent(Double.self, forKey: .reorder) ?? reorder
        forged = try container.decodeIfPresent(Double.self, forKey: .forged) ?? forged
        statement = try container.decodeIfPresent(Double.self, forKey: .statement) ?? statement
        dropFirst = try container.decodeIfPresent(Int.self, forKey: .dropFirst) ?? dropFirst
        try validate()
    }

    /// Encodes every field and the equivalent `spec` text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(http500, forKey: .http500)
        try container.encode(slow, forKey: .slow)
        try container.encode(badSign, forKey: .badSign)
        try container.encode(garbage, forKey: .garbage)
        try container.encode(unknownError, forKey: .unknownError)
        try container.encode(escapedSlash, forKey: .escapedSlash)
        try container.encode(gbk, forKey: .gbk)
        try container.encode(duplicate, forKey: .duplicate)
        try container.encode(reorder, forKey: .reorder)
        try container.encode(forged, forKey: .forged)
        try container.encode(statement, forKey: .statement)
        try container.encode(dropFirst, forKey: .dropFirst)
        try container.encode(slowSeconds, forKey: .slowSeconds)
        try container.encodeIfPresent(seed, forKey: .seed)
        try container.encode(spec, forKey: .spec)
    }
}
