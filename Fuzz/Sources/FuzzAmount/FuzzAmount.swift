import AlipayKit
import Foundation
import FuzzSupport

// Input: a yuan string such as "88.88"; its first 8 bytes are also read as a fen count.
//
// Properties:
// - Amount(_:) accepts exactly the grammar 0|[1-9][0-9]*, optionally '.' and one or two digits, and gives the fen
//   value of an independent reference parse (digits to Int64 through the standard library); fen is never negative.
// - parse → description → parse is the identity, and description is the input with its decimals padded to two.
// - JSON: an accepted amount encodes as the string of its description and decodes back; decoding any JSON string
//   agrees with Amount(_:).
// - Amount(fen:).description parses back to the same fen when fen ≥ 0, and is refused when fen < 0.

let encoder = JSONEncoder()
let decoder = JSONDecoder()

/// Runs libFuzzer with ``fuzz(_:_:)`` as the target.
@main
enum FuzzAmountMain {
    static func main() { FuzzDriver.run(fuzz) }
}

/// One libFuzzer input.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = FuzzDriver.bytes(data, size)
    if let text = String(validating: bytes, as: UTF8.self) { checkParse(text) }
    if bytes.count >= 8 {
        let fen = bytes[..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        checkDescription(Int64(bitPattern: fen))
    }
    return 0
}

func checkParse(_ text: String) {
    let parsed = try? Amount(text)
    Property.require(parsed?.fen == referenceFen(text), "Amount(\"\(text)\") is \(parsed.map { "\($0.fen)" } ?? "refused"), expected \(referenceFen(text).map { "\($0)" } ?? "refused")")
    let viaJSON = (try? encoder.encode(text)).flatMap { try? decoder.decode(Amount.self, from: $0) }
    Property.require(viaJSON == parsed, "decoding the JSON string \"\(text)\" disagrees with Amount(_:)")
    guard let amount = parsed else { return }
    Property.require(amount.fen >= 0, "a negative amount from \"\(text)\"")
    let description = amount.description
    Property.require((try? Amount(description)) == amount, "\"\(description)\" does not parse back to \(amount.fen) fen")
    Property.require([text, text + ".00", text + "0"].contains(description), "\"\(text)\" is written \"\(description)\"")
    guard let json = try? encoder.encode(amount) else { Property.violated("cannot encode \(amount.fen) fen") }
    Property.require(json == Data("\"\(description)\"".utf8), "\(amount.fen) fen encodes as \(String(decoding: json, as: UTF8.self))")
    Property.require((try? decoder.decode(Amount.self, from: json)) == amount, "\(amount.fen) fen does not survive JSON")
}

func checkDescription(_ fen: Int64) {
    let description = Amount(fen: fen).description
    let parsed = try? Amount(description)
    if fen >= 0 {
        Property.require(parsed?.fen == fen, "\(fen) fen is written \"\(description)\", which parses to \(parsed.map { "\($0.fen)" } ?? "nothing")")
    } else {
        Property.require(parsed == nil && description.hasPrefix("-"), "\(fen) fen is written \"\(description)\" and accepted")
    }
}

/// The grammar and value, written independently of Amount: the fen count as a digit string, converted by Int64(_:).
func referenceFen(_ text: String) -> Int64? {
    let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
    let integer = parts[0]
    let fraction = parts.count == 2 ? parts[1] : nil
    let isDigits = { (part: Substring) in !part.isEmpty && part.unicodeScalars.allSatisfy { (0x30...0x39).contains($0.value) } }
    guard isDigits(integer), integer == "0" || !integer.hasPrefix("0") else { return nil }
    if let fraction { guard isDigits(fraction), fraction.unicodeScalars.count <= 2 else { return nil } }
    let padded = (fraction ?? "") + String(repeating: "0", count: 2 - (fraction?.unicodeScalars.count ?? 0))
    var digits = Substring(integer + padded)
    while digits.count > 1, digits.first == "0" { digits = digits.dropFirst() }
    // Int64(_:) is exact and refuses overflow; a 19-digit value past Int64.max is refused the same way.
    return Int64(digits)
}
