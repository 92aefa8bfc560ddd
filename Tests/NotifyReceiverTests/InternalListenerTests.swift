import AlipayKit
import Foundation
import Hummingbird
import HummingbirdTesting
import NotifyCore
import NotifyReceiver
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

/// The internal listener: orders API, `/metrics`, `/readyz`, the bearer token and the loopback rule.
@Suite("internal listener")
struct InternalListenerTests {
    static let json: HTTPFields = [.contentType: "application/json"]

    static func object(_ buffer: ByteBuffer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
    }

    @Test("POST /api/orders creates an order: 201 with a signed pay URL and form; GET returns it", arguments: Transport.allCases)
    func createAndGet(transport: Transport) async throws {
        let fixture = try ReceiverFixture()
        try await fixture.internalApp().test(transport.setup) { client in
            let body = #"{"out_trade_no":"A0001","total_amount":"88.88","subject":"Coffee beans 咖啡豆"}"#
            try await client.execute(uri: "/api/orders", method: .post, headers: Self.json, body: ByteBuffer(string: body)) {
                #expect($0.status == .created)
                let created = try Self.object($0.body)
                #expect(Set(created.keys) == ["out_trade_no", "status", "total_amount", "product", "pay_url", "pay_form", "qr_code", "order_string"])
                #expect(created["out_trade_no"] as? String == "A0001")
                #expect(created["status"] as? String == "WAIT_BUYER_PAY")
                #expect(created["total_amount"] as? String == "88.88")
                let payURL = try #require(created["pay_url"] as? String)
                #expect(payURL.hasPrefix("https://openapi-sandbox.dl.alipaydev.com/gateway.do?"))
                // The URL is signed with the app key: Alipay (here: the app's public key) accepts it.
                let query = String(payURL.split(separator: "?", maxSplits: 1)[1])
                let parameters = try FormCodec.decode(query).dictionary
                #expect(parameters["method"] == "alipay.trade.page.pay")
                #expect(parameters["notify_url"] == "https://shop.example/alipay/notify")
                #expect(RequestVerifier.verify(parameters, appPublicKey: ReceiverFixture.keys.app.publicKey))
                #expect((created["pay_form"] as? String)?.contains("<form") == true)
            }
            try await client.execute(uri: "/api/orders/A0001", method: .get) {
                #expect($0.status == .ok)
                let order = try Self.object($0.body)
                #expect(order["out_trade_no"] as? String == "A0001")
                #expect(order["status"] as? String == "WAIT_BUYER_PAY")
                #expect(order["total_amount"] as? String == "88.88")
                #expect(order["subject"] as? String == "Coffee beans 咖啡豆")
                #expect(order["refunded_amount"] as? String == "0.00")
                #expect(order["needs_review"] as? Bool == false)
                #expect(order.keys.contains("trade_no"), "absent values are null, not missing")
                #expect(order["paid_at"] is NSNull)
            }
            try await client.execute(uri: "/api/orders?status=WAIT_BUYER_PAY", method: .get) {
                #expect($0.status == .ok)
                let list = try JSONSerialization.jsonObject(with: Data($0.body.readableBytesView)) as? [[String: Any]]
                #expect(list?.count == 1)
            }
        }
        let stored = try #require(try await fixture.orders.find("A0001"))
        #expect(stored.totalAmountFen == 8888)
        #expect(stored.status == OrderStatus.waitBuyerPay)
        #expect(fixture.metric("alipay_notify_orders_created_total") == 1)
    }

    @Test("/api/endpoints: strict input (unknown field, unknown event type, http or a private address refused with the production policy), secret shown once, 404s")
    func endpointsAPI() async throws {
        let fixture = try ReceiverFixture()
        try await fixture.internalApp().test(.router) { client in
            let refused: [(String, String)] = [
                (#"{"url":"https://93.184.216.34/hook","evnts":["order.paid"]}"#, #"unknown field \"evnts\""#),
                (#"{"url":"https://93.184.216.34/hook","events":["order.payed"]}"#, "order.payed"),
                (#"{"url":"http://93.184.216.34/hook"}"#, "https://"),
                (#"{"url":"https://127.0.0.1/hook"}"#, "loopback"),
                (#"{"url":"https://10.1.2.3/hook"}"#, "private"),
                (#"{"events":[]}"#, #"missing key \"url\""#),
            ]
            for (body, named) in refused {
                try await client.execute(uri: "/api/endpoints", method: .post, headers: Self.json, body: ByteBuffer(string: body)) {
                    #expect($0.status == .badRequest, "\(body)")
                    #expect(String(buffer: $0.body).contains(named), "\(body): \(String(buffer: $0.body))")
                }
            }
            var id = ""
            var secret = ""
            try await client.execute(
                uri: "/api/endpoints", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"url":"https://93.184.216.34/hook","events":["order.paid"],"description":"shop"}"#)
            ) {
                #expect($0.status == .created)
                let created = try Self.object($0.body)
                id = try #require(created["id"] as? String)
                secret = try #require(created["secret"] as? String)
                #expect(secret.hasPrefix("whsec_"))
            }
            try await client.execute(uri: "/api/endpoints", method: .get) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body).contains(id) && !String(buffer: $0.body).contains(secret), "listed without the secret")
            }
            try await client.execute(uri: "/api/endpoints/\(id)/disable", method: .post) {
                let shown = try Self.object($0.body)
                #expect(shown["enabled"] as? Bool == false)
            }
            try await client.execute(uri: "/api/endpoints/\(id)/explode", method: .post) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/endpoints/\(id)", method: .delete) { #expect($0.status == .noContent) }
            try await client.execute(uri: "/api/endpoints/\(id)", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/events/evt_nope", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/events?limit=0", method: .get) { #expect($0.status == .badRequest) }
        }
        #expect(try await fixture.database.read { db in try db.webhookEndpoints() }.isEmpty, "refused requests created nothing")
    }

    @Test("the API gives times in ISO 8601 UTC (the return page shows Beijing time)")
    func apiTimesAreUTC() async throws {
        let fixture = try ReceiverFixture()
        let paidAt = Date(timeIntervalSince1970: 1_796_407_318)  // 2026-12-05 02:01:58 in Beijing
        try await fixture.orders.create(
            Order(outTradeNo: "T0001", subject: "t", totalAmountFen: 100, status: .tradeSuccess, tradeNo: "2026X", paidAt: paidAt))
        try await fixture.internalApp().test(.router) { client in
            try await client.execute(uri: "/api/orders/T0001", method: .get) {
                #expect($0.status == .ok)
                let order = try Self.object($0.body)
                #expect(order["paid_at"] as? String == "2026-12-04T18:01:58Z")
            }
        }
    }

    @Test("an order number is generated when absent: 14 digits of China time plus 10 random digits")
    func generatedOrderNumber() async throws {
        let fixture = try ReceiverFixture()
        try await fixture.internalApp().test(.router) { client in
            var numbers: Set<String> = []
            for _ in 0..<3 {
                try await client.execute(
                    uri: "/api/orders", method: .post, headers: Self.json,
                    body: ByteBuffer(string: #"{"total_amount":"0.01","subject":"t"}"#)
                ) {
                    #expect($0.status == .created)
                    let number = try #require(try Self.object($0.body)["out_trade_no"] as? String)
                    #expect(number.count == 24)
                    #expect(number.allSatisfy { $0.isNumber })
                    numbers.insert(number)
                }
            }
            #expect(numbers.count == 3)
        }
    }

    @Test("strict inputs: an unknown JSON field, an unknown status or a bad limit is 400 naming it, and nothing is created")
    func strictInputs() async throws {
        let fixture = try ReceiverFixture()
        try await fixture.internalApp().test(.router) { client in
            try await client.execute(
                uri: "/api/orders", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"totalAmount":"1.00","total_amount":"1.00","subject":"typo"}"#)
            ) {
                #expect($0.status == .badRequest)
                let message = try #require(try Self.object($0.body)["error"] as? String)
                #expect(message.contains(#"unknown field "totalAmount""#), "\(message)")
            }
            for (query, field) in [("status=PAID", "status"), ("limit=abc", "limit"), ("limit=0", "limit")] {
                try await client.execute(uri: "/api/orders?\(query)", method: .get) {
                    #expect($0.status == .badRequest, "\(query)")
                    let message = try #require(try Self.object($0.body)["error"] as? String)
                    #expect(message.hasPrefix(field), "\(query): \(message)")
                }
            }
        }
        #expect(try await fixture.orders.list(status: OrderStatus?.none, limit: 10).isEmpty)
    }

    @Test("a fresh pay URL for an unpaid order keeps its deadline; a paid order gets 409, an unknown one 404")
    func freshPayURL() async throws {
        let fixture = try ReceiverFixture()
        try await fixture.internalApp().test(.router) { client in
            try await client.execute(
                uri: "/api/orders", method: .post, headers: Self.json,
                body: ByteBuffer(string: #"{"out_trade_no":"PAYURL1","total_amount":"2.50","subject":"again"}"#)
            ) { #expect($0.status == .created) }
            try await client.execute(uri: "/api/orders/PAYURL1/pay-url", method: .get) {
                #expect($0.status == .ok)
                let object = try Self.object($0.body)
                let url = try #require(object["pay_url"] as? String)
                #expect(url.contains("alipay.trade.page.pay") && url.contains("PAYURL1"))
                #expect(object["total_amount"] as? String == "2.50")
            }
            try await client.execute(uri: "/api/orders/NOPE/pay-url", method: .get) { #expect($0.status == .notFound) }
        }
        let order = try #require(try await fixture.orders.find("PAYURL1"))
        _ = try await fixture.database.write { tx in
            try tx.transition(order, to: .tradeSuccess, changes: OrderChanges(), event: OrderEvent(outTradeNo: "PAYURL1", source: "test"))
        }
        try await fixture.internalApp().test(.router) { client in
            try await client.execute(uri: "/api/orders/PAYURL1/pay-url", method: .get) { #expect($0.status == .conflict) }
        }
    }

    @Test("a duplicate out_trade_no is 409; unknown orders 404")
    func conflictAndNotFound() async throws {
        let fixture = try ReceiverFixture()
        try await fixture.internalApp().test(.router) { client in
            let body = #"{"out_trade_no":"DUP1","total_amount":"1.00","subject":"x"}"#
            try await client.execute(uri: "/api/orders", method: .post, headers: Self.json, body: ByteBuffer(string: body)) {
                #expect($0.status == .created)
            }
            try await client.execute(uri: "/api/orders", method: .post, headers: Self.json, body: ByteBuffer(string: body)) {
                #expect($0.status == .conflict)
                let message = try Self.object($0.body)["error"] as? String
                #expect(message == "an order with out_trade_no DUP1 already exists")
            }
            try await client.execute(uri: "/api/orders/NOPE", method: .get) {
                #expect($0.status == .notFound)
                let message = try Self.object($0.body)["error"] as? String
                #expect(message != nil)
            }
        }
    }

    @Test(
        "bad input is 400 with a JSON error naming the problem",
        arguments: [
            (#"{"total_amount":"88.888","subject":"x"}"#, "total_amount"),
            (#"{"total_amount":"0.00","subject":"x"}"#, "total_amount"),
            (#"{"total_amount":"100000000.01","subject":"x"}"#, "total_amount"),
            (#"{"total_amount":"1e2","subject":"x"}"#, "total_amount"),
            (#"{"total_amount":88.88,"subject":"x"}"#, "amounts are strings"),
            (#"{"total_amount":"1.00","subject":"   "}"#, "subject"),
            (#"{"total_amount":"1.00"}"#, "subject"),
            (#"{"total_amount":"1.00","subject":"x","out_trade_no":"a/b"}"#, "out_trade_no"),
            (#"{"total_amount":"1.00","subject":"x","out_trade_no":"\#(String(repeating: "9", count: 65))"}"#, "out_trade_no"),
            ("not json", "not valid JSON"),
        ])
    func badInput(body: String, mentions: String) async throws {
        let fixture = try ReceiverFixture()
        try await fixture.internalApp().test(.router) { client in
            try await client.execute(uri: "/api/orders", method: .post, headers: Self.json, body: ByteBuffer(string: body)) {
                #expect($0.status == .badRequest)
                let message = try #require(try Self.object($0.body)["error"] as? String)
                #expect(message.contains(mentions), "\(message)")
            }
        }
        #expect(try await fixture.orders.list(status: OrderStatus?.none, limit: 10).isEmpty)
    }

    @Test("with api.token: 401 without it or with a wrong one, 201 with it; /readyz stays open", arguments: Transport.allCases)
    func bearerToken(transport: Transport) async throws {
        let fixture = try ReceiverFixture()
        let token = "s3cret-\(UUID().uuidString)"
        try await fixture.internalApp(token: token).test(transport.setup) { client in
            let body = ByteBuffer(string: #"{"total_amount":"1.00","subject":"x"}"#)
            try await client.execute(uri: "/api/orders", method: .post, headers: Self.json, body: body) {
                #expect($0.status == .unauthorized)
                #expect($0.headers[.wwwAuthenticate] == "Bearer")
                #expect(!String(buffer: $0.body).contains(token))
            }
            for wrong in ["Bearer wrong", "Bearer \(token)x", "Basic \(token)", "Bearer \(token.dropLast())"] {
                try await client.execute(
                    uri: "/api/orders", method: .post, headers: Self.json + [.authorization: wrong], body: body
                ) { #expect($0.status == .unauthorized) }
            }
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/orders/X", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(
                uri: "/api/orders", method: .post, headers: Self.json + [.authorization: "Bearer \(token)"], body: body
            ) { #expect($0.status == .created) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
        #expect(try await fixture.orders.list(status: OrderStatus?.none, limit: 10).count == 1)
    }

    @Test("/metrics emits the receiver's metrics with queue depth read from the database on each scrape")
    func metricsScrape() async throws {
        let fixture = try ReceiverFixture()
        for index in 0..<3 {
            _ = try await fixture.writer.append(
                IncomingNotification(notifyId: "m-\(index)", outTradeNo: "M\(index)", tradeStatus: "TRADE_SUCCESS", body: "x=y"))
        }
        try await fixture.internalApp().test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) {
                #expect($0.status == .ok)
                #expect($0.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
                let text = String(buffer: $0.body)
                #expect(text.contains("alipay_notify_queue_jobs{state=\"pending\"} 3.0"))
                #expect(text.contains("alipay_notify_queue_jobs{state=\"dead\"} 0.0"))
                #expect(text.contains("alipay_notify_notifications_received_total 0"))
                #expect(text.contains("alipay_notify_notifications_rejected_total{reason=\"bad_signature\"} 0"))
                #expect(text.contains("alipay_notify_notification_ack_seconds_bucket"))
                #expect(text.contains("alipay_notify_queue_oldest_pending_seconds"))
                #expect(text.contains("alipay_notify_orders{status=\"TRADE_SUCCESS\"} 0.0"))
                #expect(text.contains("alipay_notify_orders_needing_review 0.0"))
            }
            try await client.execute(uri: "/readyz", method: .get) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body) == "ready")
            }
        }
    }

    @Test("/readyz is 503 while the database cannot be written")
    func readyzWhenLocked() async throws {
        let fixture = try ReceiverFixture(busyTimeout: .milliseconds(100))
        let lock = try WriteLockHolder(path: fixture.databasePath)
        try await fixture.internalApp().test(.router) { client in
            try await lock.acquire()
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
            await lock.releaseLock()
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test(
        "without a token only loopback may be bound",
        arguments: [
            ("127.0.0.1", nil, true), ("localhost", nil, true), ("::1", nil, true), ("[::1]", nil, true), ("127.1.2.3", nil, true),
            ("0.0.0.0", nil, false), ("10.0.0.5", nil, false), ("::", nil, false), ("example.com", nil, false),
            ("0.0.0.0", "token", true),
        ] as [(String, String?, Bool)])
    func loopbackRule(host: String, token: String?, allowed: Bool) {
        let result = Result { () throws(ConfigurationError) in try InternalListener.checkBinding(host: host, token: token) }
        switch result {
        case .success: #expect(allowed)
        case .failure(let error):
            #expect(!allowed)
            #expect(error.description.contains("api.token (API_TOKEN)"))
            #expect(error.description.contains(host))
        }
    }
}
