import Foundation
import GRDB

/// One row of `orders`: a merchant order as the store knows it. Statuses are Alipay's strings (`TRADE_SUCCESS`…).
public struct Order: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// The table this record lives in.
    public static let databaseTableName = "orders"
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    /// The merchant order number, primary key.
    public var outTradeNo: String
    /// What the buyer pays for.
    public var subject: String
    /// The amount in fen (分): exact, never a floating-point number.
    public var totalAmountFen: Int64
    /// `CREATED`, `WAIT_BUYER_PAY`, `TRADE_SUCCESS`, `TRADE_FINISHED` or `TRADE_CLOSED`.
    public var status: String
    /// Alipay's trade number, once known.
    public var tradeNo: String?
    /// How much was refunded, in fen.
    public var refundedFen: Int64
    /// Set when something disagreed (amount, app, seller…) and a person must look.
    public var needsReview: Bool
    /// Why the order needs review.
    public var reviewReason: String?
    /// When the order was created.
    public var createdAt: Date
    /// When the order last changed.
    public var updatedAt: Date
    /// When it was paid.
    public var paidAt: Date?
    /// When it was closed.
    public var closedAt: Date?

    /// An order record with every column given.
    public init(
        outTradeNo: String, subject: String, totalAmountFen: Int64, status: String = "CREATED", tradeNo: String? = nil,
        refundedFen: Int64 = 0, needsReview: Bool = false, reviewReason: String? = nil, createdAt: Date = Date(),
        updatedAt: Date? = nil, paidAt: Date? = nil, closedAt: Date? = nil
    ) {
        self.outTradeNo = outTradeNo
        self.subject = subject
        self.totalAmountFen = totalAmountFen
        self.status = status
        self.tradeNo = tradeNo
        self.refundedFen = refundedFen
        self.needsReview = needsReview
        self.reviewReason = reviewReason
        self.createdAt = createdAt
        self.updatedAt = updatedAt ?? createdAt
        self.paidAt = paidAt
        self.closedAt = closedAt
    }
}

/// Columns a transition may set besides the status; nil leaves a column as it is.
public struct OrderChanges: Sendable, Equatable {
    /// Alipay's trade number.
    public var tradeNo: String?
    /// The refunded amount in fen (the new total, not an increment).
    public var refundedFen: Int64?
    /// When the order was paid.
    public var paidAt: Date?
    /// When the order was closed.
    public var closedAt: Date?

    /// Changes to apply with a transition.
    public init(tradeNo: String? = nil, refundedFen: Int64? = nil, paidAt: Date? = nil, closedAt: Date? = nil) {
        self.tradeNo = tradeNo
        self.refundedFen = refundedFen
        self.paidAt = paidAt
        self.closedAt = closedAt
    }
}

extension Order {
    /// Reads a row by column name (written out: cheaper than Codable's snake-case conversion on the worker's path).
    public init(row: Row) throws {
        try self.init(
            outTradeNo: row.decode(forColumn: "out_trade_no"), subject: row.decode(forColumn: "subject"), totalAmountFen: row.decode(forColumn: "total_amount_fen"), status: row.decode(forColumn: "status"),
            tradeNo: row.decode(forColumn: "trade_no"), refundedFen: row.decode(forColumn: "refunded_fen"), needsReview: row.decode(forColumn: "needs_review"),
            reviewReason: row.decode(forColumn: "review_reason"), createdAt: row.decode(forColumn: "created_at"), updatedAt: row.decode(forColumn: "updated_at"), paidAt: row.decode(forColumn: "paid_at"),
            closedAt: row.decode(forColumn: "closed_at"))
    }
}
