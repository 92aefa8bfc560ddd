import AlipayKit
import NotifyStore

extension OrderStatus {
    /// The order status an Alipay `trade_status` stands for.
    public init(_ tradeStatus: TradeStatus) {
        switch tradeStatus {
        case .waitBuyerPay: self = .waitBuyerPay
        case .tradeSuccess: self = .tradeSuccess
        case .tradeFinished: self = .tradeFinished
        case .tradeClosed: self = .tradeClosed
        }
    }
}
