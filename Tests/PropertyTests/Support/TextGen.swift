import PropertyBased

/// Generators of the text Alipay parameters carry: Chinese, emoji, the characters form encoding must escape
/// (`+ & = %` and spaces), text that already looks percent-encoded, control characters and any Unicode scalar.
///
/// Text is built from pieces so that shrinking drops whole pieces and a failure shrinks to the piece that matters.
enum TextGen {
    /// Characters and snippets a form codec or a sign string gets wrong first.
    static let formSpecials: [String] = [
        "+", "&", "=", "%", " ", "  ", "%2B", "%2b", "%25", "%20", "%E4%B8%AD", "a+b", "1&2=3", "a=", "=b", "&&", "%%", "%zz", "%4",
        "#", "?", "/", "\\", "\"", "'", "<", ">", "{", "}", "[", "]", ":", ";", ",", "~", ".", "-", "_", "*", "!", "@", "$",
        "\n", "\r\n", "\t", "\u{0}", "\u{7F}", "&amp;", "&quot;", "sign=", "sign_type=RSA",
    ]

    /// Whole emoji sequences (ZWJ families, flags, skin tones, keycaps), not just single scalars.
    static let emojiSequences: [String] = ["👨‍👩‍👧‍👦", "🇨🇳", "👍🏽", "❤️", "1️⃣", "🧧", "💰"]

    /// Common words in merchant order subjects.
    static let chineseWords: [String] = ["支付宝", "订单", "商品", "测试", "退款", "充值", "会员", "￥", "，", "。", "（", "）"]

    /// ASCII letters and digits, the bulk of real parameter values.
    static let plain = Gen.letterOrNumber.string(of: 1...6)

    /// A Chinese ideograph from U+4E00…U+9FA5, a range GBK covers completely.
    static let ideograph = Gen.character(in: "\u{4E00}"..."\u{9FA5}")

    /// Any Unicode scalar but the surrogates (which a Swift String cannot hold).
    static let anyScalar = Gen.oneOf(
        Gen.unicodeScalar(in: "\u{0}"..."\u{D7FF}"),
        Gen.unicodeScalar(in: "\u{E000}"..."\u{FFFF}"),
        Gen.unicodeScalar(in: "\u{10000}"..."\u{10FFFF}")
    ).map { String($0) }

    /// One piece of arbitrary UTF-8 text.
    static let utf8Piece = Gen.oneOf(
        plain,
        Gen<String?>.element(of: formSpecials).map { $0! },
        ideograph.string(of: 1...3),
        Gen<String?>.element(of: chineseWords).map { $0! },
        Gen.unicodeScalar(in: "\u{1F300}"..."\u{1FAFF}").map { String($0) },
        Gen<String?>.element(of: emojiSequences).map { $0! },
        Gen.unicodeScalar(in: "\u{0300}"..."\u{036F}").map { String($0) },
        anyScalar
    )

    /// One piece of text GBK can encode: ASCII, the form specials and ideographs (no emoji).
    static let gbkPiece = Gen.oneOf(
        plain,
        Gen<String?>.element(of: formSpecials).map { $0! },
        ideograph.string(of: 1...3),
        Gen<String?>.element(of: chineseWords).map { $0! }
    )

    /// Arbitrary UTF-8 text of up to `pieces` pieces (possibly empty when the range starts at 0).
    static func utf8Text(_ pieces: ClosedRange<Int>) -> Generator<String, AnySequence<Any>> {
        utf8Piece.array(of: pieces).map { $0.joined() }.eraseToAny()
    }

    /// GBK-encodable text of up to `pieces` pieces.
    static func gbkText(_ pieces: ClosedRange<Int>) -> Generator<String, AnySequence<Any>> {
        gbkPiece.array(of: pieces).map { $0.joined() }.eraseToAny()
    }
}
