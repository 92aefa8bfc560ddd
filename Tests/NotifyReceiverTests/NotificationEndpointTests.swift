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

/// `POST /alipay/notify` through the router in process: what is stored, what is refused, what is answered.
@Suite("POST /alipay/notify (router)")
struct NotificationEndpointTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded; charset=utf-8"]

    @Test("a verified notification is stored with its job and answered success")
    func storesVerifiedNotification() async throws {
        let fixture = try ReceiverFixture()
        let body = try ReceiverFixture.signedBody(notifyId: "n-1", outTradeNo: "T0001")
        try await fixture.publicApp().test(.router) { client in
            try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body)) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body) == "success")
            }
        }
        let stored = try fixture.storedNotifications()
        #expect(stored.count == 1)
        #expect(stored.first?.notifyId == "n-1")
        #expect(stored.first?.outTradeNo == "T0001")
        #expect(stored.first?.tradeStatus == "TRADE_SUCCESS")
        #expect(stored.first?.body == body, "the exact body is kept so it can be verified again")
        // Sealed for the worker with the app's key: its MAC of the body agrees, anyone else's does not.
        let seal = try #require(stored.first?.seal)
        #expect(NotificationSeal(appPrivateKey: ReceiverFixture.keys.app).verifies(body, seal: seal))
        #expect(!NotificationSeal(appPrivateKey: ReceiverFixture.keys.stranger).verifies(body, seal: seal))
        let jobs = try fixture.jobs()
        #expect(jobs.count == 1)
        #expect(jobs.first?.kind == .notification)
        #expect(jobs.first?.notifyId == "n-1")
        #expect(jobs.first?.state == .pending)
        #expect(fixture.metric("alipay_notify_notifications_received_total") == 1)
        #expect(fixture.metric("alipay_notify_notifications_accepted_total") == 1)
    }

    @Test("an authentic notification this version cannot read (unknown trade_status, another notify_type, an odd fund_bill_list) is stored and answered success, never refused")
    func keepsAuthenticButUnsupported() async throws {
        let fixture = try ReceiverFixture()
        let bodies = [
            try ReceiverFixture.signedBody(notifyId: "u-1", outTradeNo: "U1", overrides: ["trade_status": "TRADE_PENDING_REVIEW"]),
            try ReceiverFixture.signedBody(notifyId: "u-2", outTradeNo: "U2", overrides: ["notify_type": "trade_refund_sync"]),
            try ReceiverFixture.signedBody(notifyId: "u-3", outTradeNo: "U3", overrides: ["fund_bill_list": "{\"unexpected\":true}"]),
        ]
        // Forged the same way (another key): refused as before, nothing stored for it.
        let forged = try ReceiverFixture.signedBody(
            notifyId: "u-4", outTradeNo: "U4", overrides: ["trade_status": "TRADE_PENDING_REVIEW"], key: ReceiverFixture.keys.app)
        try await fixture.publicApp().test(.router) { client in
            for body in bodies {
                try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body)) {
                    #expect($0.status == .ok)
                    #expect(String(buffer: $0.body) == "success")
                }
            }
            try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: forged)) {
                #expect($0.status == .badRequest)
            }
        }
        let stored = try fixture.storedNotifications()
        #expect(Set(stored.map(\.notifyId)) == ["u-1", "u-2", "u-3"])
        #expect(stored.first { $0.notifyId == "u-1" }?.tradeStatus == "TRADE_PENDING_REVIEW")
        #expect(try fixture.jobs().count == 3, "each waits for the worker, which parks it for review")
        #expect(fixture.metric("alipay_notify_notifications_unsupported_total") == 3)
        #expect(fixture.metric("alipay_notify_notifications_accepted_total") == 3)
    }

    @Test("a content type other than a form is refused with 415 failure, nothing stored")
    func refusesOtherContentTypes() async throws {
        let fixture = try ReceiverFixture()
        let body = try ReceiverFixture.signedBody(notifyId: "n-json")
        try await fixture.publicApp().test(.router) { client in
            for contentType in ["application/json", "text/plain", "multipart/form-data; boundary=x"] {
                try await client.execute(
                    uri: "/alipay/notify", method: .post, headers: [.contentType: contentType], body: ByteBuffer(string: body)
                ) {
                    #expect($0.status == .unsupportedMediaType)
                    #expect(String(buffer: $0.body) == "failure")
                }
            }
            try await client.execute(uri: "/alipay/notify", method: .post, body: ByteBuffer(string: body)) {
                #expect($0.status == .unsupportedMediaType)
            }
        }
        #expect(try fixture.storedNotifications().isEmpty)
        #expect(fixture.metric("alipay_notify_notifications_rejected_total{reason=\"content_type\"}") == 4)
    }

    @Test("the token bucket allows a burst of one second's worth, then refills at the rate")
    func tokenBucket() {
        let start = ContinuousClock.now
        let limiter = RateLimiter(perSecond: 3)
        #expect((0..<4).map { _ in limiter.allow("a", now: start) } == [true, true, true, false])
        #expect(limiter.allow("b", now: start), "each client has its own bucket")
        #expect(!limiter.allow("a", now: start + .milliseconds(200)))
        #expect(limiter.allow("a", now: start + .milliseconds(400)), "one token back after a third of a second")
        #expect(!limiter.allow("a", now: start + .milliseconds(400)))
    }

    @Test("GET /healthz answers ok")
    func healthz() async throws {
        let fixture = try ReceiverFixture()
        try await fixture.publicApp().test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body) == "ok")
            }
        }
    }

    @Test("a '+' in a value is a space, exactly once: the subject with spaces and CJK verifies")
    func formDecodingOnce() async throws {
        let fixture = try ReceiverFixture()
        let body = try ReceiverFixture.signedBody(notifyId: "n-plus", overrides: ["passback_params": "a+b=c&d %2B"])
        #expect(body.contains("+"), "the signer writes spaces as '+'")
        try await fixture.publicApp().test(.router) { client in
            try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body)) {
                #expect(String(buffer: $0.body) == "success")
            }
        }
        #expect(try fixture.storedNotifications().count == 1)
    }

    @Test("the rate limit answers 429 failure past the configured rate, per client address")
    func rateLimit() async throws {
        let fixture = try ReceiverFixture(limits: ReceiverFixture.limits(rateLimitPerSecond: 2, trustForwardedFor: true))
        // A stopped clock: the buckets do not refill however slowly the requests run.
        let frozen = ContinuousClock.now
        try await fixture.publicApp(rateLimiter: RateLimiter(perSecond: 2, clock: { frozen })).test(.router) { client in
            var statuses: [HTTPResponse.Status] = []
            for _ in 0..<3 {
                try await client.execute(
                    uri: "/alipay/notify", method: .post, headers: Self.form + [.init("X-Forwarded-For")!: "198.51.100.7"],
                    body: ByteBuffer(string: "a=b")
                ) {
                    statuses.append($0.status)
                    if $0.status == .tooManyRequests {
                        #expect(String(buffer: $0.body) == "failure")
                        #expect($0.headers[.retryAfter] == "1")
                    }
                }
            }
            #expect(statuses == [.badRequest, .badRequest, .tooManyRequests])
            // Another client (the last X-Forwarded-For entry, appended by our proxy) has its own bucket.
            try await client.execute(
                uri: "/alipay/notify", method: .post,
                headers: Self.form + [.init("X-Forwarded-For")!: "198.51.100.7, 203.0.113.9"], body: ByteBuffer(string: "a=b")
            ) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
        #expect(fixture.metric("alipay_notify_notifications_rejected_total{reason=\"rate_limited\"}") == 1)
    }
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var result = lhs
        result.append(contentsOf: rhs)
        return result
    }
}
