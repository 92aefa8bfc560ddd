import Foundation

/// How the buyer pays an order: the Alipay product its payment request is.
public enum OrderProduct: String, Codable, Sendable, CaseIterable {
    /// `alipay.trade.page.pay`: the PC web cashier (the default).
    case page
    /// `alipay.trade.wap.pay`: the cashier in a mobile browser.
    case wap
    /// `alipay.trade.precreate`: a QR code the buyer scans (face-to-face pay).
    case qr
    /// `alipay.trade.app.pay`: the merchant's own app, through Alipay's app SDK.
    case app
}

/// A merchant order as the store knows it.
public struct Order: Codable, Sendable, Equatable {

    /// The merchant order number, primary key.
    public var outTradeNo: String
    /// What the buyer pays for.
    public var subject: String
    /// The amount in fen (分): exact, never a floating-point number.
    public var totalAmountFen: Int64
    /// Where the order is in its life.
    public var status: OrderStatus
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
    /// When money last went back to the buyer (Alipay's `gmt_refund` when it said, China time read as an instant).
    public var refundedAt: Date?
    /// How the buyer pays it.
    public var product: OrderProduct

    /// An order record with every column given.
    public init(
        outTradeNo: String, subject: String, totalAmountFen: Int64, status: OrderStatus = .created, tradeNo: String? = nil,
        refundedFen: Int64 = 0, needsReview: Bool = false, reviewReason: String? = nil, createdAt: Date = Date(),
        updatedAt: Date? = nil, paidAt: Date? = nil, closedAt: Date? = nil, refundedAt: Date? = nil, product: OrderProduct = .page
    ) {
        self.product = product
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
        self.refundedAt = refundedAt
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
    /// When money went back to the buyer (replaces an earlier refund's time: the latest refund's).
    public var refundedAt: Date?

    /// Changes to apply with a transition.
    public init(tradeNo: String? = nil, refundedFen: Int64? = nil, paidAt: Date? = nil, closedAt: Date? = nil, refundedAt: Date? = nil) {
        self.tradeNo = tradeNo
        self.refundedFen = refundedFen
        self.paidAt = paidAt
        self.closedAt = closedAt
        self.refundedAt = refundedAt
    }
}
