import AlipayKit

/// The fields of a `trade_status_sync` notification, laid out as Alipay sends them.
enum NotificationFields {
    /// Every field for `trade` at `status`, except `notify_id`, `notify_time`, `sign_type` and `sign`.
    ///
    /// Payment fields (buyer, amounts, `gmt_payment`, `fund_bill_list`) appear once the trade was paid; refund fields
    /// (`refund_fee`, `gmt_refund`, `out_biz_no`) are added by the refund that causes the notification.
    static func parameters(for trade: Trade, status: TradeStatus, configuration: SandboxConfiguration) -> [String: String] {
        var fields: [String: String] = [
            "notify_type": "trade_status_sync",
            "app_id": trade.appId,
            "auth_app_id": trade.appId,
            "charset": "utf-8",
            "version": "1.0",
            "trade_no": trade.tradeNo,
            "out_trade_no": trade.outTradeNo,
            "seller_id": configuration.sellerId,
            "seller_email": configuration.sellerEmail,
            "trade_status": status.rawValue,
            "total_amount": trade.totalAmount.description,
            "subject": trade.subject,
            "gmt_create": trade.gmtCreate,
        ]
        fields["body"] = trade.body
        fields["passback_params"] = trade.passbackParams
        fields["gmt_close"] = status == .tradeClosed ? trade.gmtClose : nil
        if let gmtPayment = trade.gmtPayment {
            let paid = trade.totalAmount.description
            fields["gmt_payment"] = gmtPayment
            fields["buyer_id"] = trade.buyerId
            fields["buyer_logon_id"] = trade.buyerLogonId
            fields["receipt_amount"] = paid
            fields["invoice_amount"] = paid
            fields["buyer_pay_amount"] = paid
            fields["point_amount"] = "0.00"
            var bill = JSONObjectText()
            bill.add("amount", paid)
            bill.add("fundChannel", "ALIPAYACCOUNT")
            fields["fund_bill_list"] = "[\(bill.text)]"
        }
        return fields
    }
}
