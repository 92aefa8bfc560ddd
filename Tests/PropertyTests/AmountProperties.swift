import AlipayKit
import PropertyBased
import Testing

/// Property 3 (invariant 4): amounts are integer fen, parsed exactly, from one strict grammar.
@Suite("Amounts round-trip exactly and parse only Alipay's grammar")
struct AmountProperties {
    /// Characters amount parsers get wrong: signs, exponents, separators, spaces, non-ASCII digits, combining marks.
    static let alphabet: [String] = [
        "0", "1", "2", "5", "9", "0", "1", "9", ".", ".", "00", "-", "+", "e", "E", " ", "\n", "x", ",", "_", "١", "１", "\u{301}",
        "\u{0}", "NaN", "inf",
    ]

    /// Random strings over `alphabet`, digit strings with an optional fraction (leading zeros and 20-digit integers
    /// included) and valid amounts with one character inserted, removed or replaced.
    static let candidates = Gen.oneOf(
        Gen<String?>.element(of: alphabet).map { $0! }.array(of: 0...12).map { $0.joined() },
        zip(Gen.number.string(of: 1...20), Gen.number.string(of: 0...3), Gen.bool).map { whole, fraction, dot in
            dot ? "\(whole).\(fraction)" : whole
        },
        zip(Gen.int64(in: 0...10_000_000_000), Gen.int(in: 0...30), Gen<String?>.element(of: alphabet).map { $0! }, Gen.int(in: 0...2))
            .map { fen, position, text, edit in
                var characters = Array(Amount(fen: fen).description)
                let index = position % (characters.count + 1)
                switch edit {
                case 0: characters.insert(contentsOf: text, at: index)
                case 1: if index < characters.count { characters.remove(at: index) }
                default: if index < characters.count { characters.replaceSubrange(index...index, with: text) }
                }
                return String(characters)
            }
    )

    /// The oracle: Alipay's yuan grammar, matched scalar by scalar (so "1\u{301}" is not a digit followed by nothing).
    static func matchesGrammar(_ text: String) -> Bool {
        text.wholeMatch(of: #/(0|[1-9][0-9]*)(\.[0-9]{1,2})?/#.matchingSemantics(RegexSemanticLevel.unicodeScalar)) != nil
    }

    /// The fen a grammatical string stands for, computed without Amount; nil when outside the grammar or past Int64.
    static func expectedFen(_ text: String) -> Int64? {
        guard matchesGrammar(text) else { return nil }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let fraction = parts.count == 2 ? String(parts[1]) : ""
        return Int64(String(parts[0]) + fraction + String(repeating: "0", count: 2 - fraction.count))
    }

    @Test("Amount(fen:) → description → Amount(_:) gives back the same fen for 0…10^10 yuan-cents")
    func roundTripsAlipayRange() async {
        await propertyCheck(count: 2_000, input: Gen.int64(in: 0...10_000_000_000)) { fen in
            let text = Amount(fen: fen).description
            #expect(Self.matchesGrammar(text), "\(text)")
            #expect(text.split(separator: ".").last?.count == 2, "\(text) has two decimals")
            let parsed = try Amount(text)
            #expect(parsed.fen == fen)
        }
    }

    @Test("the round trip holds up to Int64.max fen as well")
    func roundTripsEveryNonNegativeFen() async {
        await propertyCheck(count: 1_000, input: Gen.int64(in: 0...Int64.max)) { fen in
            let parsed = try Amount(Amount(fen: fen).description)
            #expect(parsed.fen == fen)
        }
    }

    @Test("Amount(_:) accepts exactly the strings of ^(0|[1-9][0-9]*)(\\.[0-9]{1,2})?$, with the value the grammar gives")
    func parsesExactlyTheGrammar() async {
        await propertyCheck(count: 3_000, input: Self.candidates) { text in
            let expected = Self.expectedFen(text)
            let parsed = try? Amount(text)
            #expect(parsed?.fen == expected, "\(text.debugDescription): Amount read \(parsed.map { "\($0.fen) fen" } ?? "an error")")
        }
    }
}
