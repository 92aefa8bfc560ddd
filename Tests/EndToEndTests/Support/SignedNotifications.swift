import AlipayKit
import Foundation

/// Trade notifications signed with the workspace's stand-in Alipay key, as Alipay would post them.
enum SignedNotifications {
    /// The form parameters of a `TRADE_SUCCESS` notification.
    static func parameters(
        notifyId: String, outTradeNo: String, totalAmount: String = "88.88", tradeStatus: String = "TRADE_SUCCESS"
    ) -> [String: String] {
        [
            "notify_time": "2025-01-31 16:15:00",
            "notify_type": "trade_status_sync",
            "notify_id": notifyId,
            "app_id": TestWorkspace.appId,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": "2025013122001400000000\(abs(notifyId.hashValue) % 1000)",
            "out_trade_no": outTradeNo,
            "trade_status": tradeStatus,
            "total_amount": totalAmount,
            "receipt_amount": totalAmount,
            "buyer_pay_amount": totalAmount,
            "seller_id": TestWorkspace.sellerId,
            "buyer_id": "2088102177846880",
            "subject": "E2E test + 测试",
            "gmt_create": "2025-01-31 16:14:50",
            "gmt_payment": "2025-01-31 16:14:59",
            "fund_bill_list": "[{\"amount\":\"\(totalAmount)\",\"fundChannel\":\"ALIPAYACCOUNT\"}]",
        ]
    }

    /// A signed, form-encoded body.
    static func body(notifyId: String, outTradeNo: String, totalAmount: String = "88.88", key: RSAPrivateKey) throws -> String {
        try NotificationSigner.signedBody(
            parameters(notifyId: notifyId, outTradeNo: outTradeNo, totalAmount: totalAmount), key: key, signType: .rsa2)
    }
}
