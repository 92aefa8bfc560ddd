import AlipayKit

/// The HTML the buyer's browser sees: the cashier with Log in, Pay and Cancel, and the pages that follow it.
///
/// Plain HTML forms with relative actions, no script, so the buttons work in any real browser and in tests.
enum CashierPage {
    /// What the cashier shows about one trade.
    struct Summary: Sendable {
        var subject: String
        var totalAmount: String
        var outTradeNo: String
        var tradeNo: String
        var seller: String
        /// The buyer has not logged in: Alipay has no trade yet.
        var isPreTrade: Bool = false
        /// Face-to-face pay: the QR code content the merchant shows (scanning it is "Log in (scan)" here).
        var qrCode: String? = nil
    }

    /// The cashier: subject, amount, and the Log in / Pay / Cancel forms posting to `/cashier/{trade_no}/login|pay|cancel`.
    static func cashier(_ trade: Summary) -> String {
        let tradeNo = escape(trade.tradeNo)
        return page(
            title: "Alipay sandbox cashier",
            body: """
                <h1>Alipay sandbox · 收银台</h1>
                <div class="card">
                <p class="subject">\(escape(trade.subject))</p>
                <p class="amount">¥ <span id="total_amount">\(escape(trade.totalAmount))</span></p>
                <table>
                <tr><th>Merchant order</th><td id="out_trade_no">\(escape(trade.outTradeNo))</td></tr>
                <tr><th>Alipay trade</th><td id="trade_no">\(tradeNo)</td></tr>
                <tr><th>Seller</th><td>\(escape(trade.seller))</td></tr>
                \(trade.qrCode.map { "<tr><th>QR code</th><td id=\"qr_code\">\(escape($0))</td></tr>" } ?? "")
                <tr><th>At Alipay</th><td id="stage">\(trade.isPreTrade ? "no trade yet: created when the buyer logs in or pays" : "trade created, WAIT_BUYER_PAY")</td></tr>
                </table>
                \(trade.isPreTrade ? """
                <form id="login" method="post" action="/cashier/\(tradeNo)/login">
                <button type="submit" class="cancel">Log in (scan)</button>
                </form>
                """ : "")
                <form id="pay" method="post" action="/cashier/\(tradeNo)/pay">
                <button type="submit" class="pay">Pay ¥ \(escape(trade.totalAmount))</button>
                </form>
                <form id="cancel" method="post" action="/cashier/\(tradeNo)/cancel">
                <button type="submit" class="cancel">Cancel</button>
                </form>
                </div>
                """)
    }

    /// Shown after paying when the order had no `return_url` to go back to.
    static func paid(_ trade: Summary) -> String {
        page(
            title: "Payment complete",
            body: """
                <h1>Payment complete</h1>
                <div class="card"><p class="subject">\(escape(trade.subject))</p>
                <p class="amount">¥ \(escape(trade.totalAmount))</p>
                <p>Alipay trade \(escape(trade.tradeNo)) is TRADE_SUCCESS.</p></div>
                """)
    }

    /// Shown after Cancel (the order timed out): Alipay never redirects to `return_url` for it.
    static func cancelled(_ trade: Summary) -> String {
        let outcome =
            trade.isPreTrade
            ? "The order expired before the buyer logged in (TRADE_CLOSED in the sandbox): Alipay created no trade and sends no notification."
            : "Alipay trade \(escape(trade.tradeNo)) is TRADE_CLOSED; its notification is on its way."
        return page(
            title: "Payment cancelled",
            body: """
                <h1>Payment cancelled</h1>
                <div class="card"><p class="subject">\(escape(trade.subject))</p>
                <p>\(outcome) You may close this window.</p></div>
                """)
    }

    /// Alipay's error page for a browser request it refuses ("错误代码 … 错误原因 …").
    static func error(code: String, subCode: String, message: String) -> String {
        page(
            title: "Alipay sandbox error",
            body: """
                <h1>支付宝 · 出错了</h1>
                <div class="card error">
                <p>错误代码 <code id="sub_code">\(escape(subCode))</code> (\(escape(code)))</p>
                <p>错误原因: <span id="sub_msg">\(escape(message))</span></p>
                </div>
                """)
    }

    private static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="zh-CN">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; background: #f5f7fa; color: #333; margin: 0; padding: 2em; }
        h1 { color: #1677ff; font-size: 1.4em; }
        .card { background: #fff; max-width: 28em; padding: 1.5em; border-radius: 8px; box-shadow: 0 1px 4px #0002; }
        .subject { font-size: 1.1em; }
        .amount { font-size: 2em; color: #ff6a00; margin: .3em 0; }
        table { margin: 1em 0; border-collapse: collapse; } th { text-align: left; padding-right: 1em; color: #888; font-weight: normal; }
        form { display: inline-block; margin-right: .5em; }
        button { font-size: 1em; padding: .6em 1.4em; border-radius: 4px; border: 1px solid #1677ff; cursor: pointer; }
        .pay { background: #1677ff; color: #fff; } .cancel { background: #fff; color: #1677ff; }
        .error { border-left: 4px solid #f5222d; }
        </style>
        </head>
        <body>
        \(body)
        </body>
        </html>
        """
    }

    /// Escapes text for HTML element content and double-quoted attributes.
    static func escape(_ text: String) -> String {
        HTMLEscaping.escape(text)
    }
}
