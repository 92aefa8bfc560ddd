import AlipayKit
import Foundation
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

/// The outbox (an event and its deliveries written with the order change), the retry schedule, and the URL and
/// address rules of webhook endpoints.
@Suite("Webhooks: events, schedule, endpoint rules")
struct WebhookTests {
    static func endpoint(_ id: String = "ep_test", events: [String] = [], enabled: Bool = true) -> WebhookEndpoint {
        WebhookEndpoint(
            endpointId: id, url: "https://shop.example/hook", eventTypes: events, secret: "whsec_" + Data(repeating: 7, count: 32).base64EncodedString(),
            enabled: enabled, createdAt: Date(), updatedAt: Date())
    }

    @Test("a payment writes order.paid with its deliveries in the transaction of the change; a partial refund order.refunded")
    func paymentPublishes() async throws {
        let fixture = try WorkerFixture()
        try await fixture.database.write { tx in
            try tx.insertWebhookEndpoint(Self.endpoint("ep_all"))
            try tx.insertWebhookEndpoint(Self.endpoint("ep_refunds", events: ["order.refunded"]))
            try tx.insertWebhookEndpoint(Self.endpoint("ep_off", enabled: false))
        }
        try await fixture.order("E1", fen: 8888)
        #expect(try await fixture.deliver(TestAlipay.notification("E1", .tradeSuccess, total: "88.88")).outcome == .applied)
        let events = try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "E1", type: nil, since: nil, limit: 10) }
        let paid = try #require(events.first)
        #expect(events.count == 1 && paid.type == "order.paid" && paid.sequence == 1)
        let change = try #require(try await fixture.transitions("E1").last)
        #expect(paid.orderEventId == change.id)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(paid.payload.utf8)) as? [String: Any])
        #expect(Set(payload.keys) == ["id", "type", "created_at", "data"])
        #expect(payload["id"] as? String == paid.eventId)
        let data = try #require(payload["data"] as? [String: Any])
        #expect(data["total_amount"] as? String == "88.88" && data["refunded_amount"] as? String == "0.00")
        #expect(data["paid_at"] as? String == "2024-01-01T04:00:00Z", "gmt_payment 2024-01-01 12:00:00 Beijing time, in UTC")
        #expect(try await fixture.currentOrder("E1").paidAt == Date(timeIntervalSince1970: 1_704_081_600), "the order keeps Alipay's payment time")
        #expect(data["trade_no"] as? String == "2024010122001400000000000001")
        #expect(data.keys.contains("reason") == false)
        var deliveries = try await fixture.database.read { db in try db.jobs(state: nil, kind: .deliver, outTradeNo: "E1", limit: 10) }
        #expect(deliveries.compactMap(DeliveryTarget.init(job:)) == [DeliveryTarget(event: paid.eventId, endpoint: "ep_all")])

        try await fixture.deliver(TestAlipay.notification("E1", .tradeSuccess, total: "88.88", refundFee: "8.88"))
        let refunded = try #require(try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "E1", type: "order.refunded", since: nil, limit: 10) }.first)
        #expect(refunded.sequence == 2)
        #expect(refunded.payload.contains(#""refunded_amount":"8.88""#) && refunded.payload.contains(#""status":"TRADE_SUCCESS""#))
        deliveries = try await fixture.database.read { db in try db.jobs(state: nil, kind: .deliver, outTradeNo: "E1", limit: 10) }
        #expect(Set(deliveries.compactMap(DeliveryTarget.init(job:)).map(\.endpoint)) == ["ep_all", "ep_refunds"])
        #expect(deliveries.count == 3, "paid → ep_all; refunded → ep_all and ep_refunds; never the disabled one")
    }

    @Test("a review writes order.needs_review with the reason and changes nothing; an unchanged fact writes no event")
    func reviewPublishes() async throws {
        let fixture = try WorkerFixture()
        try await fixture.order("E2", fen: 100)
        let report = try await fixture.deliver(TestAlipay.notification("E2", .tradeSuccess, total: "99.00"))
        #expect(report.outcome == .review)
        let review = try #require(try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "E2", type: nil, since: nil, limit: 10) }.first)
        #expect(review.type == "order.needs_review" && review.orderEventId == nil)
        #expect(review.payload.contains(#""reason":"amount_mismatch""#) && review.payload.contains(#""status":"WAIT_BUYER_PAY""#))
        // An unknown order: the event names the number Alipay sent, with no status.
        try await fixture.deliver(TestAlipay.notification("NOPE", .tradeSuccess, total: "1.00"))
        let unknown = try #require(try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "NOPE", type: nil, since: nil, limit: 10) }.first)
        #expect(unknown.payload.contains(#""reason":"unknown_order""#) && unknown.payload.contains(#""status":null"#))
        // A re-delivery changes nothing and tells nobody.
        try await fixture.order("E3", fen: 100)
        try await fixture.deliver(TestAlipay.notification("E3", .tradeSuccess, total: "1.00"))
        try await fixture.deliver(TestAlipay.notification("E3", .tradeSuccess, total: "1.00"))
        #expect(try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "E3", type: nil, since: nil, limit: 10) }.count == 1)
    }

    @Test("a change rolled back (lease lost) leaves no event and no delivery")
    func rollbackTakesTheEvent() async throws {
        let fixture = try WorkerFixture()
        try await fixture.database.write { tx in try tx.insertWebhookEndpoint(Self.endpoint()) }
        try await fixture.order("E4", fen: 100)
        let job = try await fixture.notify(TestAlipay.notification("E4", .tradeSuccess, total: "1.00"))
        let claimed = try #require(try await fixture.claim().first { $0.id == job.id })
        let stale = try #require(claimed.lease)
        // Another worker took the job over: the stale lease's apply must roll back, event and deliveries included.
        let fact = TradeFact(outTradeNo: "E4", status: .tradeSuccess, totalAmount: Amount(fen: 100), source: .query)
        let applier = TradeApplier(appId: TestAlipay.appId, sellerId: nil)
        await #expect(throws: StoreError.self) {
            try await fixture.database.write { tx in
                _ = try applier.apply(fact, lease: JobLease(jobId: stale.jobId, owner: "someone-else", attempt: stale.attempt), now: Date(), in: tx)
            }
        }
        #expect(try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "E4", type: nil, since: nil, limit: 10) }.isEmpty)
        #expect(try await fixture.database.read { db in try db.jobs(state: nil, kind: .deliver, outTradeNo: nil, limit: 10) }.isEmpty)
        #expect(try await fixture.currentOrder("E4").status == .waitBuyerPay)
    }

    @Test("an endpoint failing for 5 days is disabled with the reason; a failure before that is retried on the schedule, a success clears it")
    func failingForDays() async throws {
        // The endpoint is on loopback and the worker's policy refuses private addresses: every attempt fails before
        // anything is sent, which is all this test needs (no network).
        let fixture = try WorkerFixture(jitter: { _ in 1 }, webhooks: true)
        let now = fixture.clock.now
        var loopback = Self.endpoint()
        loopback.url = "https://127.0.0.1:9/hook"
        let endpoint = loopback
        try await fixture.database.write { tx in try tx.insertWebhookEndpoint(endpoint) }
        try await fixture.order("E5", fen: 100)
        try await fixture.deliver(TestAlipay.notification("E5", .tradeSuccess, total: "1.00"))
        var reports = try await fixture.drain()
        let first = try #require(reports.first { $0.kind == .deliver })
        #expect(first.outcome == .retry && first.retryAt == now.addingTimeInterval(5), "\(first.message)")
        var stored = try #require(try await fixture.database.read { db in try db.webhookEndpoint("ep_test") })
        #expect(abs(stored.failingSince?.timeIntervalSince(now) ?? 99) < 0.01 && stored.enabled)
        let attempts = try await fixture.database.read { db in try db.deliveryAttempts(eventId: try #require(db.webhookEvents(outTradeNo: "E5", type: nil, since: nil, limit: 1).first).eventId, endpointId: nil) }
        #expect(attempts.count == 1 && attempts[0].status == nil && attempts[0].error?.contains("loopback") == true)

        // Five days of failures later (the clock moves; the job is due again), the next failure disables it.
        fixture.clock.advance(5 * 86_400 + 60)
        reports = try await fixture.drain()
        let last = try #require(reports.first { $0.kind == .deliver })
        #expect(last.outcome == .dead && last.message.contains("failed for 5 days: disabled"), "\(last.message)")
        stored = try #require(try await fixture.database.read { db in try db.webhookEndpoint("ep_test") })
        #expect(!stored.enabled && stored.disabledReason?.contains("every delivery failed since") == true)
        #expect(fixture.counter("alipay_notify_webhook_endpoints_disabled_total", []) == 1)
        #expect(fixture.counter("alipay_notify_webhook_deliveries_total", [("result", "refused")]) == 2)
    }

    @Test("the schedule: 5 s, 5 min, 30 min, 2 h, 5 h, then 10 h six times, ±10 %; 12 attempts over about 2.8 days")
    func schedule() {
        let low = DeliverySchedule(random: { $0.lowerBound })
        let high = DeliverySchedule(random: { $0.upperBound })
        let exact = DeliverySchedule(random: { _ in 1 })
        #expect(exact.delay(afterAttempt: 1) == 5 && exact.delay(afterAttempt: 2) == 300 && exact.delay(afterAttempt: 5) == 18_000)
        #expect(low.delay(afterAttempt: 1) == 4.5 && high.delay(afterAttempt: 1) == 5.5)
        #expect(exact.delay(afterAttempt: 11) == 36_000 && exact.delay(afterAttempt: 12) == nil && exact.delay(afterAttempt: 0) == nil)
        #expect(DeliverySchedule.maxAttempts == 12)
        let total = (1...11).compactMap { exact.delay(afterAttempt: $0) }.reduce(0, +)
        #expect((2.5 * 86_400...3.2 * 86_400).contains(total), "\(total / 86_400) days")
        #expect(DeliverySchedule(scale: 0.002, random: { _ in 1 }).delay(afterAttempt: 2) == 0.6)
        #expect(DeliverySchedule(random: { _ in 7 }).delay(afterAttempt: 1) == 5.5, "a misbehaving generator stays within ±10 %")
    }

    @Test("Retry-After: seconds or an HTTP date, at most a day; anything else is ignored")
    func retryAfter() {
        let now = Date(timeIntervalSince1970: 1_796_407_318)
        #expect(WebhookDeliverer.retryAfter("120", now: now) == 120)
        #expect(WebhookDeliverer.retryAfter("999999", now: now) == 86_400)
        #expect(WebhookDeliverer.retryAfter("Fri, 04 Dec 2026 18:02:58 GMT", now: now) == 60)
        #expect(WebhookDeliverer.retryAfter("soon", now: now) == nil)
        #expect(WebhookDeliverer.retryAfter("-5", now: now) == nil)
    }

    @Test("endpoint URLs: https (http only when allowed), no credentials, no fragment, absolute")
    func urls() throws {
        let strict = EndpointPolicy()
        let lax = EndpointPolicy(allowInsecureUrls: true, allowPrivateNetworks: true)
        #expect(try strict.validate("https://shop.example/hook").absoluteString == "https://shop.example/hook")
        #expect(throws: EndpointError.self) { try strict.validate("http://shop.example/hook") }
        #expect(try lax.validate("http://127.0.0.1:3000/hook").host == "127.0.0.1")
        for bad in ["ftp://shop.example/", "https://user:pw@shop.example/", "https://shop.example/#x", "/relative", "https://", ""] {
            #expect(throws: EndpointError.self, "\(bad)") { try lax.validate(bad) }
        }
        do {
            _ = try strict.validate("https://user:secret-password@shop.example/")
        } catch {
            #expect(!error.description.contains("secret-password"), "an error never repeats a password")
        }
    }

    @Test("addresses: loopback, private, link-local, shared, mapped IPv4 and the like are refused; public ones pass")
    func addresses() async throws {
        let table: [([UInt8], Bool)] = [
            ([127, 0, 0, 1], false), ([10, 1, 2, 3], false), ([172, 16, 0, 1], false), ([172, 32, 0, 1], true), ([192, 168, 1, 1], false),
            ([169, 254, 169, 254], false), ([100, 64, 0, 1], false), ([0, 0, 0, 0], false), ([224, 0, 0, 1], false), ([8, 8, 8, 8], true),
            ([93, 184, 216, 34], true),
            (Array(repeating: 0, count: 15) + [1], false), (Array(repeating: 0, count: 16), false),
            ([0xfe, 0x80] + Array(repeating: 0, count: 13) + [1], false), ([0xfd, 0] + Array(repeating: 0, count: 14), false),
            (Array(repeating: 0, count: 10) + [0xff, 0xff, 127, 0, 0, 1], false), (Array(repeating: 0, count: 10) + [0xff, 0xff, 8, 8, 8, 8], true),
            ([0x26, 0x06, 0x28, 0] + Array(repeating: 0, count: 11) + [1], true),
        ]
        for (bytes, isPublic) in table {
            let address = EndpointPolicy.ResolvedAddress(bytes)
            #expect(address.isPublic == isPublic, "\(address.text): \(address.kind)")
        }
        let strict = EndpointPolicy(allowInsecureUrls: true)
        for host in ["127.0.0.1", "localhost", "[::1]", "10.0.0.7", "169.254.169.254"] {
            await #expect(throws: EndpointError.self, "\(host)") { try await strict.checkAddresses(of: URL(string: "http://\(host)/hook")!) }
        }
        try await EndpointPolicy(allowInsecureUrls: true, allowPrivateNetworks: true).checkAddresses(of: URL(string: "http://127.0.0.1/hook")!)
    }

    @Test("endpoints service: unknown event types and bad URLs are refused naming them; secrets shown only when made")
    func service() async throws {
        let fixture = try WorkerFixture()
        let service = WebhookService(store: fixture.database, policy: EndpointPolicy())
        await #expect(throws: WebhookServiceError.invalid("events: \"order.payed\" is not one of order.paid, order.finished, order.closed, order.refunded, order.waiting, order.needs_review")) {
            try await service.add(url: "https://93.184.216.34/hook", events: ["order.payed"], note: nil)
        }
        await #expect(throws: WebhookServiceError.self) { try await service.add(url: "http://93.184.216.34/hook", events: [], note: nil) }
        let added = try await service.add(url: "https://93.184.216.34/hook", events: ["order.paid", "order.paid"], note: "shop")
        #expect(added.secret?.hasPrefix("whsec_") == true && added.events == ["order.paid"])
        let listed = try await service.list()
        #expect(listed.map(\.id) == [added.id] && listed.allSatisfy { $0.secret == nil })
        let rotated = try await service.rotateSecret(added.id)
        #expect(rotated.secret != added.secret && rotated.previousSecretExpiresAt != nil)
        let stored = try #require(try await fixture.database.read { db in try db.webhookEndpoint(added.id) })
        #expect(stored.signingSecrets(at: Date()) == [rotated.secret!, added.secret!])
        #expect(stored.signingSecrets(at: Date().addingTimeInterval(25 * 3600)) == [rotated.secret!], "the old secret stops after 24 h")
        #expect(!"\(stored)".contains(stored.secret), "an endpoint printed never shows its secret")
        // Replays: one new delivery per enabled endpoint of the event's type; by endpoint, every event since a time.
        try await fixture.order("E6", fen: 100)
        try await fixture.deliver(TestAlipay.notification("E6", .tradeSuccess, total: "1.00"))
        let paid = try #require(try await fixture.database.read { db in try db.webhookEvents(outTradeNo: "E6", type: nil, since: nil, limit: 1) }.first)
        try await fixture.drain()  // this fixture runs no deliveries: the first deliver job ends dead; a replay queues a new one
        let replayed = try await service.replay(eventIds: [paid.eventId])
        #expect(replayed.map(\.endpoint) == [added.id] && replayed.map(\.event) == [paid.eventId])
        let since = try await service.replay(endpointId: added.id, since: paid.createdAt.addingTimeInterval(-1))
        #expect(since.map(\.event) == [paid.eventId])
        await #expect(throws: WebhookServiceError.notFound("no event evt_nope")) { try await service.replay(eventIds: ["evt_nope"]) }
        #expect(try await service.disable(added.id).enabled == false)
        await #expect(throws: WebhookServiceError.self) { try await service.replay(endpointId: added.id, since: Date.distantPast) }
        #expect(try await service.enable(added.id).enabled == true)
        try await service.remove(added.id)
        await #expect(throws: WebhookServiceError.notFound("no endpoint \(added.id)")) { try await service.show(added.id) }
    }
}
