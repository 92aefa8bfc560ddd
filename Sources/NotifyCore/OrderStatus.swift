import AlipayKit

/// The status of a merchant order, in Alipay's words (the store keeps the raw value).
///
/// `CREATED` is ours (the order exists, no pay URL issued yet); the other four are Alipay's `trade_status` values.
public enum OrderStatus: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case created = "CREATED"
    case waitBuyerPay = "WAIT_BUYER_PAY"
    case tradeSuccess = "TRADE_SUCCESS"
    case tradeFinished = "TRADE_FINISHED"
    case tradeClosed = "TRADE_CLOSED"

    /// The order status an Alipay `trade_status` stands for.
    public init(_ tradeStatus: TradeStatus) {
        switch tradeStatus {
        case .waitBuyerPay: self = .waitBuyerPay
        case .tradeSuccess: self = .tradeSuccess
        case .tradeFinished: self = .tradeFinished
        case .tradeClosed: self = .tradeClosed
        }
    }

    /// Not paid yet: the sweeper reconciles and eventually closes these.
    public var isUnpaid: Bool { self == .created || self == .waitBuyerPay }

    /// The buyer's money arrived (and was not fully refunded).
    public var isPaid: Bool { self == .tradeSuccess || self == .tradeFinished }

    public var description: String { rawValue }
}
