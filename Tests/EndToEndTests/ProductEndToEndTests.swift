import Foundation
import NotifyStore
import StoreTestSupport
import Testing

/// Every product (PC page, mobile wap, QR code, app) created through the API, paid at the sandbox's cashier and
/// notified like page pay, with the real daemons, on both engines.
@Suite("products end to end", .serialized)
struct ProductEndToEndTests {
    static func create(_ stack: WorkerStack, _ body: String) async throws -> [String: Any] {
        let reply = try await HTTP.send(
            .POST, "\(stack.receiver.internalURL)/api/orders", headers: [("Content-Type", "application/json")], body: body)
        guard reply.status == 201 else { throw HarnessError("POST /api/orders answered \(reply.status): \(reply.body)") }
        return try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
    }

    /// The cashier page's Pay form action (`/cashier/{trade_no}/pay`), as a browser reads it from the page.
    static func payAction(_ page: String) throws -> String {
        let marker = #"<form id="pay" method="post" action=""#
        guard let start = page.range(of: marker)?.upperBound, let end = page[start...].firstIndex(of: "\"") else {
            throw HarnessError("no Pay form on the cashier page: \(page.prefix(300))")
        }
        return String(page[start..<end])
    }

    @Test("page, wap, qr and app orders: each answers what its buyer needs, opens the cashier, and is paid once", arguments: TestEngine.allCases)
    func everyProductIsPaid(engine: TestEngine) async throws {
        // The sandbox runs 1000× fast: a day's deadline leaves the cashiers open ~86 s, however loaded the machine.
        let day = ["ORDERS_TIMEOUT_MINUTES": "1440"]
        // No reconciling sweep during the test: each payment must reach its order through the notification.
        let worker = day.merging(["WORKER_RECONCILE_AFTER_SECONDS": "3600"]) { $1 }
        guard let stack = try await WorkerStack.start(name: "products", engine: engine, worker: worker, receiver: day) else { return }
        do {
            var cashiers: [String: String] = [:]  // out_trade_no → the cashier page the buyer sees
            // page and wap: a signed URL the buyer's browser opens.
            for (number, product, method) in [("PRP1", "page", "alipay.trade.page.pay"), ("PRW1", "wap", "alipay.trade.wap.pay")] {
                var body = #"{"out_trade_no":"\#(number)","total_amount":"12.34","subject":"e2e \#(product)","product":"\#(product)""#
                if product == "wap" { body += #","quit_url":"https://shop.example/cart""# }
                let created = try await Self.create(stack, body + "}")
                #expect(created["product"] as? String == product && created["qr_code"] is NSNull && created["order_string"] is NSNull)
                let url = try #require(created["pay_url"] as? String)
                #expect(url.contains("method=\(method)") && url.contains("notify_url=") && (created["pay_form"] as? String)?.contains("<form") == true)
                let cashier = try await HTTP.send(.GET, url)
                #expect(cashier.status == 200 && cashier.body.contains("Alipay sandbox"), "\(cashier.body.prefix(300))")
                cashiers[number] = cashier.body
            }
            #expect(
                try await HTTP.send(
                    .POST, "\(stack.receiver.internalURL)/api/orders", headers: [("Content-Type", "application/json")],
                    body: #"{"total_amount":"1.00","subject":"x","product":"page","quit_url":"https://shop.example/q"}"#
                ).status == 400, "quit_url is for wap only")

            // qr: Alipay's precreate answers the code; scanning it opens the trade.
            let qr = try await Self.create(stack, #"{"out_trade_no":"PRQ1","total_amount":"12.34","subject":"e2e qr","product":"qr"}"#)
            let qrCode = try #require(qr["qr_code"] as? String)
            #expect(qrCode.hasPrefix("https://qr.alipay.com/") && qr["pay_url"] is NSNull)
            let trade = try await HTTP.send(.GET, "\(stack.sandboxURL)/sandbox/trades/PRQ1")
            #expect(trade.body.contains(#""product_code":"FACE_TO_FACE_PAYMENT""#), "\(trade.body)")
            let tradeJSON = try #require(try JSONSerialization.jsonObject(with: Data(trade.body.utf8)) as? [String: Any])
            let cashierPath = try #require(tradeJSON["cashier_url"] as? String)
            let scanned = try await HTTP.send(.GET, "\(stack.sandboxURL)\(cashierPath)")
            #expect(scanned.status == 200 && scanned.body.contains(#"<td id="qr_code">\#(qrCode)</td>"#), "\(scanned.body.prefix(600))")
            cashiers["PRQ1"] = scanned.body

            // app: the order string the app's Alipay SDK hands over.
            let app = try await Self.create(stack, #"{"out_trade_no":"PRA1","total_amount":"12.34","subject":"e2e app","product":"app"}"#)
            let orderString = try #require(app["order_string"] as? String)
            #expect(orderString.contains("method=alipay.trade.app.pay") && orderString.contains("sign="))
            let opened = try await HTTP.send(.GET, "\(stack.sandboxURL)/gateway.do?\(orderString)")
            #expect(opened.status == 200 && opened.body.contains("Alipay sandbox"), "\(opened.body.prefix(300))")
            cashiers["PRA1"] = opened.body

            // The buyer presses Pay on each cashier page; each notification marks its order paid, once.
            for number in ["PRP1", "PRW1", "PRQ1", "PRA1"] {
                let page = try #require(cashiers[number], "the cashier of \(number)")
                let action = try Self.payAction(page)
                let paid = try await HTTP.send(.POST, "\(stack.sandboxURL)\(action)")
                #expect(paid.status == 200, "\(number): Pay answered \(paid.status): \(paid.body.prefix(300))")
            }
            for (number, product) in [("PRP1", OrderProduct.page), ("PRW1", .wap), ("PRQ1", .qr), ("PRA1", .app)] {
                let order = try await stack.waitForStatus(number, "TRADE_SUCCESS")
                #expect(order.product == product && order.paidAt != nil && order.totalAmountFen == 1234)
                #expect(try await WorkerScenarioTests.moves(stack, number) == ["WAIT_BUYER_PAY>TRADE_SUCCESS"], "\(number)")
                #expect(try await stack.events(number).filter { $0.source != "create" }.map(\.source) == ["notification"], "\(number)")
            }
            // A paid qr order gets no new code.
            let again = try await HTTP.send(.GET, "\(stack.receiver.internalURL)/api/orders/PRQ1/pay-url")
            #expect(again.status == 409, "\(again.body)")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }
}
