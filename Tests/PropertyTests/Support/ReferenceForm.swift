import AlipayKit
import Foundation

/// What a notification body means, read by a deliberately naive decoder written from the form rules alone: the oracle
/// that decides whether a tampered body still says the same thing.
///
/// Two bodies mean the same iff their `ReferenceForm`s are equal. Equal means: the same non-empty parameters byte for
/// byte after one percent-decoding ('+' and a raw space are both a space, `%2b` and `%2B` both '+'); parameters with an
/// empty value count as absent, as the sign string skips them and the typed fields read them as nil; the same signature
/// bytes (base64 text that decodes to the very same bytes is the same signature); and the same effective `sign_type`
/// (compared case-insensitively, absent meaning the configured one, as the verifier applies it — it is not signed).
struct ReferenceForm: Equatable {
    /// Non-empty parameters other than `sign` and `sign_type`, as decoded bytes.
    var parameters: [[UInt8]: [UInt8]]
    /// The `sign` value decoded from base64; nil when absent or not base64.
    var signature: Data?
    /// The algorithm the verifier would apply.
    var signType: String

    /// Reads `body`; nil when it is not a well-formed UTF-8 form (bad %-escape, empty or repeated key, bytes that are
    /// not UTF-8, a `charset` other than UTF-8), which the verifier must refuse.
    init?(_ body: [UInt8], configured: SignType) {
        var pairs: [(key: [UInt8], value: [UInt8])] = []
        for segment in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = segment.firstIndex(of: UInt8(ascii: "="))
            guard let key = Self.percentDecode(segment[..<(equals ?? segment.endIndex)]),
                let value = Self.percentDecode(equals.map { segment[($0 + 1)...] } ?? [])
            else { return nil }
            pairs.append((key, value))
        }
        var byBytes: [[UInt8]: [UInt8]] = [:]
        var byString: [String: String] = [:]
        for (key, value) in pairs {
            guard !key.isEmpty, let keyText = String(validating: key, as: UTF8.self),
                let valueText = String(validating: value, as: UTF8.self),
                byBytes.updateValue(value, forKey: key) == nil, byString.updateValue(valueText, forKey: keyText) == nil
            else { return nil }
        }
        if let charset = byString["charset"], !charset.isEmpty, !["utf-8", "utf8"].contains(charset.lowercased()) { return nil }

        signature = byString["sign"].flatMap { Data(base64Encoded: $0) }
        signType = byString["sign_type"].flatMap { $0.isEmpty ? nil : $0.uppercased() } ?? configured.rawValue
        byBytes[Array("sign".utf8)] = nil
        byBytes[Array("sign_type".utf8)] = nil
        parameters = byBytes.filter { !$0.value.isEmpty }
    }

    /// '+' is a space, `%XX` (either case) its byte, any other '%' an error.
    static func percentDecode(_ raw: ArraySlice<UInt8>) -> [UInt8]? {
        var out: [UInt8] = []
        var index = raw.startIndex
        while index < raw.endIndex {
            switch raw[index] {
            case UInt8(ascii: "+"):
                out.append(UInt8(ascii: " "))
                index += 1
            case UInt8(ascii: "%"):
                guard index + 2 < raw.endIndex,
                    let high = hex(raw[index + 1]), let low = hex(raw[index + 2])
                else { return nil }
                out.append(high << 4 | low)
                index += 3
            default:
                out.append(raw[index])
                index += 1
            }
        }
        return out
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
