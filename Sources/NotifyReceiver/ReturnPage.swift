import AlipayKit
import Foundation
import NotifyCore
import NotifyStore

/// The HTML pages a buyer sees after Alipay sends the browser back to `return_url`.
///
/// The page shows what the *database* knows, never what the redirect claims: the redirect only proves the
/// buyer came back, while the order becomes paid when the asynchronous notification was processed. Every
/// interpolated value is HTML-escaped.
public enum ReturnPage {
    /// A buyer in China reads Beijing time: "2026-12-05 02:01:58 (Beijing, UTC+8 / 北京时间)" — Alipay's own
    /// timestamp format. The API keeps ISO 8601 UTC.
    static func beijingTime(_ date: Date) -> String {
        "\(RequestSigner.timestamp(date)) (Beijing, UTC+8 / 北京时间)"
    }

    /// The page for a verified return: the order's status in words, amount and number.
    public static func status(of order: Order) -> String {
        let view = OrderView(order)
        let status = order.status
        let paid = status.isPaid
        let waiting = status.isUnpaid
        let headline: String
        let headlineZh: String
        let note: String
        switch status {
        case .tradeSuccess, .tradeFinished:
            headline = "Payment received"
            headlineZh = "支付成功"
            note = "Thank you. Alipay confirmed your payment and your order is paid."
        case .tradeClosed:
            headline = "Order closed"
            headlineZh = "交易已关闭"
            note =
                order.refundedFen > 0
                ? "This order was refunded and is closed."
                : "This order was closed without a confirmed payment (it timed out or was cancelled). "
                    + "If you did pay, keep your Alipay receipt and contact the shop."
        default:
            headline = "Waiting for payment confirmation"
            headlineZh = "等待支付结果确认"
            note =
                "Alipay sent you back here, but the confirmation of a payment reaches us separately, usually within "
                + "a few seconds and sometimes a few minutes later. If you paid, there is nothing more to do: this page "
                + "shows the new status once the confirmation has arrived. It refreshes by itself."
        }
        var rows = [
            ("Order number / 订单号", view.outTradeNo),
            ("Item / 商品", view.subject),
            ("Amount / 金额", "¥ \(view.totalAmount)"),
            ("Status / 状态", "\(order.status.words) (\(order.status))"),
        ]
        if let tradeNo = view.tradeNo { rows.append(("Alipay trade number / 支付宝交易号", tradeNo)) }
        if let paidAt = order.paidAt, paid { rows.append(("Paid at / 支付时间", Self.beijingTime(paidAt))) }
        if order.refundedFen > 0 { rows.append(("Refunded / 已退款", "¥ \(view.refundedAmount)")) }
        let table = rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        let tone = paid ? "ok" : (waiting ? "wait" : "closed")
        return page(
            title: "\(headline) · \(headlineZh)", refreshSeconds: waiting ? 5 : nil,
            body: """
                <h1 class="\(tone)">\(escape(headline))<br><span lang="zh">\(escape(headlineZh))</span></h1>
                <p>\(escape(note))</p>
                <table>
                \(table)
                </table>
                """)
    }

    /// The page for a verified return whose order this service does not know.
    public static func unknownOrder(_ outTradeNo: String) -> String {
        page(
            title: "Order not found · 未找到订单", refreshSeconds: nil,
            body: """
                <h1 class="closed">Order not found<br><span lang="zh">未找到订单</span></h1>
                <p>Alipay returned you with order number <strong>\(escape(outTradeNo))</strong>, which this shop does not know.
                If you paid, keep your Alipay receipt and contact the shop.</p>
                """)
    }

    /// The page for a return link whose signature does not verify: nothing is shown about any order.
    public static func invalidLink() -> String {
        page(
            title: "This link could not be verified · 链接无法验证", refreshSeconds: nil,
            body: """
                <h1 class="closed">This link could not be verified<br><span lang="zh">链接无法验证</span></h1>
                <p>The address you arrived with is incomplete or was altered, so we cannot show an order from it.
                This does not affect any payment: a payment is confirmed by Alipay directly, not by this page.
                Open the order from the shop again, or contact the shop with your Alipay receipt.</p>
                """)
    }

    /// The page when the database cannot be read right now.
    public static func unavailable() -> String {
        page(
            title: "Please try again · 请稍后再试", refreshSeconds: 10,
            body: """
                <h1 class="wait">We cannot show your order right now<br><span lang="zh">暂时无法显示订单</span></h1>
                <p>This is a temporary problem on our side and does not affect your payment. The page tries again by itself.</p>
                """)
    }

    static func page(title: String, refreshSeconds: Int?, body: String) -> String {
        let refresh = refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">\n" } ?? ""
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(refresh)<title>\(escape(title))</title>
            <style>
            body { font-family: system-ui, -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; max-width: 36rem;
                   margin: 3rem auto; padding: 0 1rem; color: #1f2328; line-height: 1.5; }
            h1 { font-size: 1.6rem; } h1 span { font-size: 1.1rem; font-weight: normal; }
            .ok { color: #1a7f37; } .wait { color: #9a6700; } .closed { color: #57606a; }
            table { border-collapse: collapse; width: 100%; margin-top: 1.5rem; }
            th, td { text-align: left; padding: .5rem .25rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
            th { font-weight: normal; color: #57606a; width: 45%; }
            </style>
            </head>
            <body>
            \(body)
            </body>
            </html>

            """
    }

    /// Escapes the five characters that matter in HTML text and attribute values.
    public static func escape(_ text: String) -> String {
        HTMLEscaping.escape(text)
    }
}
