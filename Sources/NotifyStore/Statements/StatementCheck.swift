import Foundation

/// The result of comparing one day's Alipay trade statement with this database (docs/statements.md).
public struct StatementCheck: Codable, Sendable, Equatable {
    /// The statement's day, `yyyy-MM-dd`, China time.
    public var billDate: String
    /// When the comparison ran.
    public var checkedAt: Date
    /// Business rows in the statement.
    public var rows: Int
    /// Every disagreement found; empty when the books agree.
    public var differences: [StatementDifference]

    /// A result from its parts.
    public init(billDate: String, checkedAt: Date, rows: Int, differences: [StatementDifference]) {
        self.billDate = billDate
        self.checkedAt = checkedAt
        self.rows = rows
        self.differences = differences
    }

    enum CodingKeys: String, CodingKey {
        case billDate = "bill_date", checkedAt = "checked_at", rows, differences
    }

    /// The differences as the engines store them (a JSON array).
    public static func reportText(_ differences: [StatementDifference]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(differences), as: UTF8.self)
    }

    /// The differences of a stored report; an unreadable one is a constraint error (a schema or version mismatch).
    public static func differences(fromReport text: String) throws -> [StatementDifference] {
        do {
            return try JSONDecoder().decode([StatementDifference].self, from: Data(text.utf8))
        } catch {
            throw StoreError.constraint("a stored statement check's report is not readable: \(error)")
        }
    }

    /// The unique key of the `statement` job that checks `billDate`: one live job per day, whatever the workers.
    public static func jobKey(billDate: String) -> String { "statement:\(billDate)" }
}

/// One disagreement between Alipay's statement and this database.
public struct StatementDifference: Codable, Sendable, Equatable {
    /// What disagrees.
    public enum Kind: String, Codable, Sendable, CaseIterable {
        /// Alipay has a payment of an order this database does not know.
        case missingHere = "missing_here"
        /// This database has an order paid that day that Alipay's statement does not list.
        case missingAtAlipay = "missing_at_alipay"
        /// The amounts differ.
        case amountDiffers = "amount_differs"
        /// Alipay says paid; this database does not.
        case statusDiffers = "status_differs"
        /// The refunds of the day differ.
        case refundDiffers = "refund_differs"
    }

    /// What disagrees.
    public var kind: Kind
    /// The order.
    public var outTradeNo: String
    /// Both sides, in words.
    public var detail: String

    /// A difference from its parts.
    public init(kind: Kind, outTradeNo: String, detail: String) {
        self.kind = kind
        self.outTradeNo = outTradeNo
        self.detail = detail
    }

    enum CodingKeys: String, CodingKey { case kind, outTradeNo = "out_trade_no", detail }
}
