import AlipayKit
import Foundation
import GRDB
import Hummingbird
import HummingbirdTesting
import NotifyReceiver
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

/// How a test reaches the application: Hummingbird's router in process, or a real socket on loopback.
enum Transport: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case router, live

    var setup: TestingSetup { self == .router ? .router : .live }
    var testDescription: String { rawValue }
}

/// docs/architecture.md invariants 1, 2, 3 and 7, each over the router and over real HTTP.
@Suite("receiver invariants")
struct InvariantTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    @Test(
        "invariant 1: a commit that fails (database locked past the timeout) answers 503 failure, stores nothing, then recovers",
        arguments: Transport.allCases)
    func successOnlyAfterCommit(transport: Transport) async throws {
        let fixture = try ReceiverFixture(busyTimeout: .milliseconds(200))
        let body = try ReceiverFixture.signedBody(notifyId: "locked-1", outTradeNo: "L0001")
        let lock = try WriteLockHolder(path: fixture.databasePath)

        try await fixture.publicApp().test(transport.setup) { client in
            try await lock.acquire()
            try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body)) {
                #expect($0.status == .serviceUnavailable)
                #expect(String(buffer: $0.body) == "failure")
            }
            await lock.releaseLock()
            #expect(try fixture.storedNotifications().isEmpty, "a failed commit must leave nothing behind")
            #expect(try fixture.jobs().isEmpty)

            // Alipay retries the same notification; now the commit succeeds.
            try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body)) {
                #expect($0.status == .ok)
                #expect(String(buffer: $0.body) == "success")
            }
        }
        let stored = try fixture.storedNotifications()
        #expect(stored.map(\.notifyId) == ["locked-1"])
        #expect(stored.first?.deliveryCount == 1)
        #expect(try fixture.jobs().count == 1)
        #expect(fixture.metric("alipay_notify_notifications_rejected_total{reason=\"store_unavailable\"}") == 1)
        #expect(fixture.metric("alipay_notify_notifications_accepted_total") == 1)
    }

    /// One way a notification must be refused, and the metric reason it counts under.
    struct Refusal: Sendable, CustomTestStringConvertible {
        let name: String
        let reason: String
        let status: HTTPResponse.Status
        let body: @Sendable () throws -> String
        var testDescription: String { name }

        static let all: [Refusal] = [
            Refusal(name: "bad sign", reason: "bad_signature", status: .badRequest) {
                // Signed by someone who is not Alipay.
                try ReceiverFixture.signedBody(notifyId: "r-1", key: ReceiverFixture.keys.stranger)
            },
            Refusal(name: "tampered amount", reason: "bad_signature", status: .badRequest) {
                try ReceiverFixture.signedBody(notifyId: "r-2").replacingOccurrences(of: "total_amount=88.88", with: "total_amount=0.01")
            },
            Refusal(name: "missing sign", reason: "missing_sign", status: .badRequest) {
                let body = try ReceiverFixture.signedBody(notifyId: "r-3")
                return body.split(separator: "&").filter { !$0.hasPrefix("sign=") }.joined(separator: "&")
            },
            Refusal(name: "sign not base64", reason: "bad_sign_encoding", status: .badRequest) {
                let body = try ReceiverFixture.signedBody(notifyId: "r-4")
                return body.split(separator: "&").map { $0.hasPrefix("sign=") ? "sign=%21%21not-base64%21%21" : String($0) }
                    .joined(separator: "&")
            },
            Refusal(name: "sign_type RSA when RSA2 is configured", reason: "sign_type", status: .badRequest) {
                try ReceiverFixture.signedBody(notifyId: "r-5", signType: .rsa)
            },
            Refusal(name: "foreign app_id", reason: "foreign_app_id", status: .badRequest) {
                try ReceiverFixture.signedBody(notifyId: "r-6", overrides: ["app_id": "2021999999999999"])
            },
            Refusal(name: "malformed body", reason: "bad_form", status: .badRequest) {
                "notify_id=r-7&sign=%ZZ&out_trade_no=T1"
            },
            Refusal(name: "repeated key", reason: "bad_form", status: .badRequest) {
                try ReceiverFixture.signedBody(notifyId: "r-8") + "&out_trade_no=T9"
            },
            Refusal(name: "oversized body", reason: "too_large", status: .contentTooLarge) {
                try ReceiverFixture.signedBody(notifyId: "r-9", overrides: ["body": String(repeating: "x", count: 70 * 1024)])
            },
        ]
    }

    @Test(
        "invariant 2: nothing unverified is stored; failure with 400/413 and a rejected metric by reason",
        arguments: Transport.allCases, Refusal.all)
    func nothingUnverifiedStored(transport: Transport, refusal: Refusal) async throws {
        let fixture = try ReceiverFixture()
        let body = try refusal.body()
        try await fixture.publicApp().test(transport.setup) { client in
            try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body)) {
                #expect($0.status == refusal.status)
                #expect(String(buffer: $0.body) == "failure")
            }
        }
        #expect(try fixture.storedNotifications().isEmpty)
        #expect(try fixture.jobs().isEmpty)
        #expect(fixture.metric("alipay_notify_notifications_rejected_total{reason=\"\(refusal.reason)\"}") == 1)
        #expect(fixture.metric("alipay_notify_notifications_accepted_total") == 0)
    }

    @Test(
        "invariant 3: the same notify_id twice is success twice, one row with delivery_count 2, one job",
        arguments: Transport.allCases)
    func redeliveryDeduplicated(transport: Transport) async throws {
        let fixture = try ReceiverFixture()
        let body = try ReceiverFixture.signedBody(notifyId: "dup-1", outTradeNo: "D0001")
        try await fixture.publicApp().test(transport.setup) { client in
            for _ in 0..<2 {
                try await client.execute(uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body)) {
                    #expect($0.status == .ok)
                    #expect(String(buffer: $0.body) == "success")
                }
            }
        }
        let stored = try fixture.storedNotifications()
        #expect(stored.count == 1)
        #expect(stored.first?.deliveryCount == 2)
        #expect(try fixture.jobs().count == 1)
        #expect(fixture.metric("alipay_notify_notifications_accepted_total") == 1)
        #expect(fixture.metric("alipay_notify_notifications_duplicates_total") == 1)
    }

    @Test("invariant 3 under concurrency: 20 simultaneous deliveries of one notify_id store one row and one job")
    func concurrentRedeliveries() async throws {
        let fixture = try ReceiverFixture()
        let body = try ReceiverFixture.signedBody(notifyId: "dup-burst", outTradeNo: "D0002")
        try await fixture.publicApp().test(.live) { client in
            try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let response = try await client.execute(
                            uri: "/alipay/notify", method: .post, headers: Self.form, body: ByteBuffer(string: body))
                        return String(buffer: response.body)
                    }
                }
                for try await answer in group { #expect(answer == "success") }
            }
        }
        let stored = try fixture.storedNotifications()
        #expect(stored.count == 1)
        #expect(stored.first?.deliveryCount == 20)
        #expect(try fixture.jobs().count == 1)
    }

    @Test(
        "invariant 7: a valid return_url shows the status and changes nothing: bytes and rows before == after",
        arguments: Transport.allCases)
    func returnURLReadsOnly(transport: Transport) async throws {
        let fixture = try ReceiverFixture()
        try await fixture.orders.create(Order(outTradeNo: "R0001", subject: "Green tea 绿茶", totalAmountFen: 8888, status: .waitBuyerPay))
        let query = try ReceiverFixture.signedReturnQuery(outTradeNo: "R0001")
        let before = try DatabaseState(fixture)

        try await fixture.publicApp().test(transport.setup) { client in
            try await client.execute(uri: "/alipay/return?\(query)", method: .get) {
                #expect($0.status == .ok)
                #expect($0.headers[.contentType]?.hasPrefix("text/html") == true)
                let page = String(buffer: $0.body)
                #expect(page.contains("R0001"))
                #expect(page.contains("88.88"))
                #expect(page.contains("Green tea 绿茶"))
                #expect(page.contains("waiting for payment"))
                #expect(page.contains("confirmation of a payment reaches us separately"))
            }
            // A tampered return (the browser says it paid more) is refused and shows no order.
            let tampered = query.replacingOccurrences(of: "total_amount=88.88", with: "total_amount=1.00")
            try await client.execute(uri: "/alipay/return?\(tampered)", method: .get) {
                #expect($0.status == .badRequest)
                let page = String(buffer: $0.body)
                #expect(page.contains("could not be verified"))
                #expect(!page.contains("R0001"))
            }
            try await client.execute(uri: "/alipay/return", method: .get) {
                #expect($0.status == .badRequest)
            }
        }
        let after = try DatabaseState(fixture)
        #expect(before == after)
    }

    @Test("the return page of a paid order says so; an unknown order gets 404")
    func returnPageStates() async throws {
        let fixture = try ReceiverFixture()
        // 2026-12-04T18:01:58Z: a buyer in China reads 2026-12-05 02:01:58 Beijing time.
        let paidAt = Date(timeIntervalSince1970: 1_796_407_318)
        try await fixture.orders.create(
            Order(outTradeNo: "R0002", subject: "<script>x</script>", totalAmountFen: 100, status: .tradeSuccess, tradeNo: "2025X", paidAt: paidAt))
        try await fixture.publicApp().test(.router) { client in
            let paid = try ReceiverFixture.signedReturnQuery(outTradeNo: "R0002", totalAmount: "1.00")
            try await client.execute(uri: "/alipay/return?\(paid)", method: .get) {
                #expect($0.status == .ok)
                let page = String(buffer: $0.body)
                #expect(page.contains("Payment received"))
                #expect(page.contains("1.00"))
                #expect(!page.contains("<script>x"), "order data is HTML-escaped")
                #expect(page.contains("&lt;script&gt;"))
                #expect(!page.contains("http-equiv=\"refresh\""), "a final status does not refresh")
                #expect(page.contains("2026-12-05 02:01:58 (Beijing, UTC+8 / 北京时间)"), "the paid time in Beijing time, with the zone")
                #expect(!page.contains("2026-12-04T18:01:58Z"), "not the API's UTC timestamp")
            }
            let unknown = try ReceiverFixture.signedReturnQuery(outTradeNo: "NOPE")
            try await client.execute(uri: "/alipay/return?\(unknown)", method: .get) {
                #expect($0.status == .notFound)
            }
        }
    }
}

/// The database as files and rows, to prove a request changed nothing.
struct DatabaseState: Equatable {
    let files: [String: Data]
    let rows: [String: [String]]

    init(_ fixture: ReceiverFixture) throws {
        var files: [String: Data] = [:]
        for suffix in ["", "-wal"] {
            files[suffix.isEmpty ? "db" : suffix] = FileManager.default.contents(atPath: fixture.databasePath + suffix)
        }
        self.files = files
        rows = try fixture.database.pool.read { db in
            var rows: [String: [String]] = [:]
            let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            for table in tables {
                rows[table] = try Row.fetchAll(db, sql: "SELECT * FROM \"\(table)\"").map(\.description)
            }
            return rows
        }
    }
}
