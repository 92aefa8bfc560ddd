/// What Alipay accepts in a payment request, in one place: the order service, the request builders and the
/// sandbox all check against these, so they can never disagree.
public enum AlipayLimits {
    /// `total_amount`: 0.01 … 100000000.00 yuan.
    public static let amountRange = Amount(fen: 1)...Amount(fen: 10_000_000_000)
    /// `subject`: at most 256 characters.
    public static let maximumSubjectLength = 256
    /// `out_trade_no`: at most 64 characters.
    public static let maximumOutTradeNoLength = 64

    /// Why `outTradeNo` is not an order number Alipay accepts (1…64 of `A-Z a-z 0-9 _`, which a URL or a file name
    /// also carries as is), or nil when it is fine.
    public static func outTradeNoProblem(_ outTradeNo: String, field: String = "out_trade_no") -> String? {
        guard !outTradeNo.isEmpty, outTradeNo.utf8.count <= maximumOutTradeNoLength else {
            return "\(field) must be 1 to \(maximumOutTradeNoLength) characters"
        }
        let allowed = outTradeNo.utf8.allSatisfy { byte in
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
        }
        return allowed ? nil : "\(field) may only hold letters, digits and _"
    }

    /// Why `subject` is not one Alipay accepts (blank, too long), or nil.
    public static func subjectProblem(_ subject: String) -> String? {
        guard !subject.isEmpty else { return "subject must not be empty" }
        guard subject.count <= maximumSubjectLength else {
            return "subject has \(subject.count) characters; Alipay accepts at most \(maximumSubjectLength)"
        }
        return nil
    }

    /// Why `amount` is outside Alipay's range, or nil.
    public static func amountProblem(_ amount: Amount) -> String? {
        amountRange.contains(amount) ? nil : "total_amount \(amount) is outside Alipay's range 0.01 to 100000000.00"
    }
}
