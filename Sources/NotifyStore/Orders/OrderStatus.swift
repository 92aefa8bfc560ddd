/// The status of a merchant order, in Alipay's words (the raw values are what the database holds).
///
/// `CREATED` is ours (the order exists, no pay URL issued yet); the other four are Alipay's `trade_status` values.
public enum OrderStatus: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case created = "CREATED"
    case waitBuyerPay = "WAIT_BUYER_PAY"
    case tradeSuccess = "TRADE_SUCCESS"
    case tradeFinished = "TRADE_FINISHED"
    case tradeClosed = "TRADE_CLOSED"

    /// The statuses of an order not paid yet: the one definition the state machine and the sweeper share.
    public static let unpaid: Set<OrderStatus> = [.created, .waitBuyerPay]

    /// Not paid yet: the sweeper reconciles and eventually closes these.
    public var isUnpaid: Bool { Self.unpaid.contains(self) }

    /// The buyer's money arrived (and was not fully refunded).
    public var isPaid: Bool { self == .tradeSuccess || self == .tradeFinished }

    public var description: String { rawValue }
}
