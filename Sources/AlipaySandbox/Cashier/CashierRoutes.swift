import AlipayKit
import Foundation
import Hummingbird

/// The buyer's side of the cashier: `GET /cashier/{trade_no}`, and the Log in, Pay and Cancel forms it posts.
///
/// Opening the page creates nothing at Alipay: the order is a pre-trade until the buyer logs in (or pays).
///
/// Paying answers 303 See Other to `return_url` with Alipay's signed return parameters
/// (`method=alipay.trade.page.pay.return`, signed like a notification with Alipay's key).
enum CashierRoutes {
    static func add(to router: Router<some RequestContext>, sandbox: Sandbox) {
        let configuration = sandbox.configuration
        router.get("/cashier/:trade_no") { _, context -> Response in
            let tradeNo = try context.parameters.require("trade_no")
            guard let trade = await sandbox.trade(outTradeNo: nil, tradeNo: tradeNo) else { return notFound() }
            switch trade.status {
            case .waitBuyerPay: return Gateway.html(CashierPage.cashier(summary(trade, configuration: configuration)))
            case .tradeSuccess, .tradeFinished: return Gateway.html(CashierPage.paid(summary(trade, configuration: configuration)))
            case .tradeClosed: return Gateway.html(CashierPage.cancelled(summary(trade, configuration: configuration)))
            }
        }
        router.post("/cashier/:trade_no/login") { _, context -> Response in
            let tradeNo = try context.parameters.require("trade_no")
            guard let trade = await sandbox.trade(outTradeNo: nil, tradeNo: tradeNo) else { return notFound() }
            do throws(TradeError) {
                let loggedIn = try await sandbox.login(outTradeNo: trade.outTradeNo)
                return Gateway.html(CashierPage.cashier(summary(loggedIn, configuration: configuration)))
            } catch {
                return Gateway.html(CashierPage.error(code: error.code, subCode: error.subCode, message: error.subMessage), status: .conflict)
            }
        }
        router.post("/cashier/:trade_no/pay") { _, context -> Response in
            let tradeNo = try context.parameters.require("trade_no")
            guard var trade = await sandbox.trade(outTradeNo: nil, tradeNo: tradeNo) else { return notFound() }
            do throws(TradeError) {
                trade = try await sandbox.pay(outTradeNo: trade.outTradeNo)
            } catch TradeError.tradeHasSuccess {
                // A second click on Pay (or a reload) goes back to the merchant again, without paying twice.
            } catch {
                return Gateway.html(CashierPage.error(code: error.code, subCode: error.subCode, message: error.subMessage), status: .conflict)
            }
            guard let location = try returnURL(for: trade, configuration: configuration, signing: sandbox.signing) else {
                return Gateway.html(CashierPage.paid(summary(trade, configuration: configuration)))
            }
            return Response.redirect(to: location, type: .normal)
        }
        router.post("/cashier/:trade_no/cancel") { _, context -> Response in
            let tradeNo = try context.parameters.require("trade_no")
            guard let trade = await sandbox.trade(outTradeNo: nil, tradeNo: tradeNo) else { return notFound() }
            if trade.status == .tradeClosed { return Gateway.html(CashierPage.cancelled(summary(trade, configuration: configuration))) }
            let closed: Trade
            do throws(TradeError) {
                closed = try await sandbox.cancel(outTradeNo: trade.outTradeNo)
            } catch {
                return Gateway.html(CashierPage.error(code: error.code, subCode: error.subCode, message: error.subMessage), status: .conflict)
            }
            return Gateway.html(CashierPage.cancelled(summary(closed, configuration: configuration)))
        }
    }

    /// `return_url` followed by the signed return parameters; nil when the trade has no `return_url`.
    static func returnURL(
        for trade: Trade, configuration: SandboxConfiguration, signing: (key: RSAPrivateKey, certSN: String?)? = nil, now: Date = Date()
    ) throws -> String? {
        guard let base = trade.returnUrl, !base.isEmpty else { return nil }
        var parameters = [
            "method": "alipay.trade.page.pay.return",
            "app_id": trade.appId,
            "auth_app_id": trade.appId,
            "charset": "utf-8",
            "out_trade_no": trade.outTradeNo,
            "trade_no": trade.tradeNo,
            "total_amount": trade.totalAmount.description,
            "seller_id": configuration.sellerId,
            "timestamp": ChinaTime.string(now),
            "version": "1.0",
        ]
        parameters["passback_params"] = trade.passbackParams
        let signing = signing ?? (configuration.alipayPrivateKey, nil)
        parameters["alipay_cert_sn"] = signing.certSN
        let query = try NotificationSigner.signedBody(parameters, key: signing.key, signType: configuration.signType)
        return base + (base.contains("?") ? "&" : "?") + query
    }

    static func summary(_ trade: Trade, configuration: SandboxConfiguration) -> CashierPage.Summary {
        CashierPage.Summary(
            subject: trade.subject, totalAmount: trade.totalAmount.description, outTradeNo: trade.outTradeNo, tradeNo: trade.tradeNo,
            seller: configuration.sellerEmail, isPreTrade: trade.isPreTrade, qrCode: trade.qrCode)
    }

    private static func notFound() -> Response {
        let error = TradeError.tradeNotExist
        return Gateway.html(CashierPage.error(code: error.code, subCode: error.subCode, message: error.subMessage), status: .notFound)
    }
}
