import AlipayKit

/// The two Alipay calls the worker makes, so tests can put a fake gateway in place of ``AlipayClient``.
///
/// Implementations must honour invariant 9: `.success` only for a response whose signature verified.
public protocol TradeGateway: Sendable {
    /// `alipay.trade.query` for one order.
    func query(outTradeNo: String) async -> GatewayOutcome<TradeQueryResponse>
    /// `alipay.trade.close` for one order.
    func close(outTradeNo: String) async -> GatewayOutcome<TradeCloseResponse>
    /// `alipay.trade.refund` of one refund request (idempotent at Alipay on `out_request_no`).
    func refund(_ request: TradeRefund) async -> GatewayOutcome<TradeRefundResponse>
    /// `alipay.trade.fastpay.refund.query` for one refund request.
    func refundQuery(outTradeNo: String, outRequestNo: String) async -> GatewayOutcome<TradeRefundQueryResponse>
}

extension AlipayClient: TradeGateway {
    /// `alipay.trade.query` by `out_trade_no`, response verified by the client.
    public func query(outTradeNo: String) async -> GatewayOutcome<TradeQueryResponse> {
        await execute(TradeQuery(outTradeNo: outTradeNo))
    }

    /// `alipay.trade.close` by `out_trade_no`, response verified by the client.
    public func close(outTradeNo: String) async -> GatewayOutcome<TradeCloseResponse> {
        await execute(TradeClose(outTradeNo: outTradeNo))
    }

    /// `alipay.trade.refund`, response verified by the client.
    public func refund(_ request: TradeRefund) async -> GatewayOutcome<TradeRefundResponse> {
        await execute(request)
    }

    /// `alipay.trade.fastpay.refund.query` by `out_trade_no` and `out_request_no`, response verified by the client.
    public func refundQuery(outTradeNo: String, outRequestNo: String) async -> GatewayOutcome<TradeRefundQueryResponse> {
        await execute(TradeRefundQuery(outTradeNo: outTradeNo, outRequestNo: outRequestNo))
    }
}
