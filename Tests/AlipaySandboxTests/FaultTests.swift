import AlipayKit
import AlipaySandbox
import Foundation
import HummingbirdTesting
import Testing

/// Each fault mode does what it says, and a seeded run injects the same faults every time.
@Suite struct FaultTests {
    /// Opens an unpaid trade, sets `faults`, and sends a signed `alipay.trade.close` for it.
    private func closeUnder(_ faults: FaultConfiguration) async throws -> (outcome: GatewayOutcome<TradeCloseResponse>, status: TradeStatus?, body: String) {
        let harness = try SandboxHarness()
        let merchant = MerchantClient()
        return try await harness.run { client in
            _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "F1", totalAmount: Amount(fen: 100), subject: "fault"))
            _ = try await harness.sandbox.login(outTradeNo: "F1")
            harness.sandbox.faults.update(faults)
            let response = try await merchant.get(try merchant.parameters(TradeClose(outTradeNo: "F1")), client: client)
            let outcome = Fixtures.responseVerifier.outcome(
                for: TradeClose.self, httpStatus: Int(response.status.code), body: Array(response.body.readableBytesView))
            return (outcome, await harness.sandbox.trade(outTradeNo: "F1")?.status, String(buffer: response.body))
        }
    }

    private func faults(_ spec: String) throws -> FaultConfiguration {
        try FaultConfiguration(spec: spec, seed: 1)
    }

    @Test func http500IsRetryableAndNothingHappened() async throws {
        let (outcome, status, _) = try await closeUnder(try faults("500:1"))
        guard case .retryable(let reason) = outcome else { Issue.record("got \(outcome)"); return }
        #expect(reason.contains("HTTP 500"))
        #expect(status == .waitBuyerPay)
    }

    @Test func unknownErrorIs20000AndNothingHappened() async throws {
        let (outcome, status, body) = try await closeUnder(try faults("unknown:1"))
        guard case .retryable(let reason) = outcome else { Issue.record("got \(outcome)"); return }
        #expect(reason.contains("20000"))
        #expect(body.contains(#""sub_code":"isp.unknow-error""#))
        #expect(status == .waitBuyerPay)
    }

    @Test func badSignatureIsNotTrustedThoughTheCloseHappened() async throws {
        let (outcome, status, body) = try await closeUnder(try faults("badsign:1"))
        guard case .retryable(let reason) = outcome else { Issue.record("got \(outcome)"); return }
        #expect(reason.contains("does not verify"))
        #expect(body.contains(#""code":"10000""#))
        #expect(status == .tradeClosed)
    }

    @Test func garbageIsMalformedJSONThoughTheCloseHappened() async throws {
        let (outcome, status, body) = try await closeUnder(try faults("garbage:1"))
        guard case .retryable(let reason) = outcome else { Issue.record("got \(outcome)"); return }
        #expect(reason.contains("malformed"))
        #expect((try? JSONSerialization.jsonObject(with: Data(body.utf8))) == nil)
        #expect(status == .tradeClosed)
    }

    /// The answer is held far longer than the client's read timeout, so only the client giving up can end the call;
    /// the test asserts how it ended (a read timeout, retryable), never how long it took.
    @Test func slowAnswerOutlastsTheClientsReadTimeout() async throws {
        let harness = try SandboxHarness()
        try await harness.application.test(.live) { client in
            _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "SLOW", totalAmount: Amount(fen: 100), subject: "slow"))
            _ = try await harness.sandbox.login(outTradeNo: "SLOW")
            // 5 s against a 300 ms read timeout: no load makes the answer come first.
            harness.sandbox.faults.update(try FaultConfiguration(spec: "slow:1", slowSeconds: 5, seed: 1))
            var configuration = Fixtures.alipayConfiguration()
            configuration.gatewayURL = "http://localhost:\(client.port!)/gateway.do"
            let outcome = try await AlipayClient.withDedicatedHTTPClient(
                configuration: configuration, connectTimeout: .seconds(10), readTimeout: .milliseconds(300)
            ) { alipay in
                await alipay.execute(TradeClose(outTradeNo: "SLOW"))
            }
            guard case .retryable(let reason) = outcome else {
                Issue.record("the client should have given up on the slow answer, got \(outcome)")
                return
            }
            #expect(reason.contains("timeout calling alipay.trade.close"), "\(reason)")
            #expect(reason.contains("readTimeout"), "the socket read timed out, not the whole call's deadline: \(reason)")
            // The outcome was unknown to the client, but the close happened: querying again tells.
            try await waitUntil(harness.sandbox, "the close") { $0.trades["SLOW"]?.status == .tradeClosed }
            harness.sandbox.faults.update(FaultConfiguration())
            let query = await AlipayClient(configuration: configuration).execute(TradeQuery(outTradeNo: "SLOW"))
            #expect(query.value?.tradeStatus == .tradeClosed, "\(query)")
        }
    }

    /// A slow answer in flight must not hold a stopping sandbox for `slowSeconds` (15 s by default): the server's
    /// graceful shutdown waits for every request. With an hour-long delay, only that rule lets the run end; the
    /// deadline bounds the hang that breaking it would cause.
    @Test func gracefulShutdownDoesNotWaitOutASlowAnswer() async throws {
        let harness = try SandboxHarness()
        let outcome = try await withDeadline(seconds: 60, "the sandbox to stop while a slow answer was held") {
            try await harness.application.test(.live) { client in
                harness.sandbox.faults.update(try FaultConfiguration(spec: "slow:1", slowSeconds: 3600, seed: 1))
                var configuration = Fixtures.alipayConfiguration()
                configuration.gatewayURL = "http://localhost:\(client.port!)/gateway.do"
                return try await AlipayClient.withDedicatedHTTPClient(
                    configuration: configuration, connectTimeout: .seconds(10), readTimeout: .milliseconds(300)
                ) { alipay in
                    await alipay.execute(TradeQuery(outTradeNo: "HELD"))
                }
            }
        }
        guard case .retryable = outcome else {
            Issue.record("the answer should still have been held when the sandbox stopped, got \(outcome)")
            return
        }
    }

    @Test func seededDrawsRepeatAndHonourTheFractions() throws {
        let configuration = try FaultConfiguration(spec: "500:0.3,garbage:0.2", seed: 42)
        let first = FaultInjector(configuration: configuration)
        let second = FaultInjector(configuration: configuration)
        let a = (0..<1000).map { _ in first.gatewayFault() }
        let b = (0..<1000).map { _ in second.gatewayFault() }
        #expect(a == b)
        let http500 = a.filter { $0 == .http500 }.count
        let garbage = a.filter { $0 == .garbage }.count
        #expect((240...360).contains(http500), "\(http500) of 1000 at 0.3")
        #expect((140...260).contains(garbage), "\(garbage) of 1000 at 0.2")
        #expect(a.filter { $0 == nil }.count == 1000 - http500 - garbage)
        let other = FaultInjector(configuration: try FaultConfiguration(spec: "500:0.3,garbage:0.2", seed: 43))
        #expect((0..<1000).map { _ in other.gatewayFault() } != a)
    }

    // MARK: Notification faults

    /// Pays one trade with `faults` set and a merchant answering `answer`; returns the bodies and the deliveries.
    private func payUnder(_ spec: String, merchant: Merchant, expectDeliveries count: Int) async throws -> (bodies: [String], deliveries: [Delivery], trade: Trade?) {
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness(Fixtures.configuration(faults: try FaultConfiguration(spec: spec, seed: 5)))
            try await harness.run { _ in
                _ = try await harness.sandbox.openTrade(NewTrade(outTradeNo: "NF", totalAmount: Amount(fen: 500), subject: "faulty", notifyUrl: notifyURL))
                _ = try await harness.sandbox.pay(outTradeNo: "NF")
                try await waitUntil(harness.sandbox, "\(count) deliveries") { $0.deliveries.count >= count && $0.pendingNotifications == 0 }
            }
            return (merchant.bodies, await harness.sandbox.deliveries(), await harness.sandbox.trade(outTradeNo: "NF"))
        }
    }

    @Test func duplicateSendsEveryAttemptTwice() async throws {
        let (bodies, deliveries, _) = try await payUnder("duplicate:1", merchant: Merchant(always: "success"), expectDeliveries: 2)
        #expect(bodies.count == 2)
        let ids = try bodies.map { try Fixtures.notificationVerifier.verify(body: $0).notifyId }
        #expect(ids[0] == ids[1])
        #expect(deliveries.map(\.kind) == [.genuine, .duplicate])
        #expect(deliveries.map(\.attempt) == [1, 1])
    }

    @Test func reorderSendsFinishedBeforeSuccess() async throws {
        let (bodies, deliveries, trade) = try await payUnder("reorder:1", merchant: Merchant(always: "success"), expectDeliveries: 2)
        let statuses = try bodies.map { try Fixtures.notificationVerifier.verify(body: $0).tradeStatus }
        #expect(statuses == [.tradeFinished, .tradeSuccess])
        #expect(Set(deliveries.map(\.notifyId)).count == 2)
        #expect(trade?.status == .tradeFinished)
    }

    @Test func dropFirstSendsNothingButCountsTheAttempts() async throws {
        let (bodies, deliveries, _) = try await payUnder("drop:2", merchant: Merchant(always: "success"), expectDeliveries: 3)
        #expect(deliveries.map(\.answer) == ["dropped", "dropped", "success"])
        #expect(deliveries.map(\.attempt) == [1, 2, 3])
        #expect(Set(deliveries.map(\.notifyId)).count == 1)
        #expect(bodies.count == 1, "dropped attempts never reach the merchant")
    }

    @Test func forgedCopyIsSignedWithTheWrongKey() async throws {
        // A careful merchant: answers success only to what verifies with Alipay's public key.
        let merchant = Merchant { _, body in
            ((try? Fixtures.notificationVerifier.verify(body: body)) != nil ? "success" : "failure", nil)
        }
        let (bodies, deliveries, _) = try await payUnder("forged:1", merchant: merchant, expectDeliveries: 2)
        #expect(bodies.count == 2)
        #expect(throws: NotificationError.invalidSignature) { try Fixtures.notificationVerifier.verify(body: bodies[0]) }
        #expect(throws: Never.self) { try Fixtures.notificationVerifier.verify(body: bodies[1]) }
        #expect(deliveries.map(\.kind) == [.forged, .genuine])
        #expect(deliveries.map(\.answer) == ["failure", "success"])
    }

    // MARK: Specification

    @Test func specificationParsesAndPrintsBack() throws {
        let faults = try FaultConfiguration(spec: "500:0.2,slow:0.1,badsign:0.1,garbage:0.1,unknown:0.05,duplicate:0.5,reorder:1,forged:0.25,drop:3")
        #expect(faults.http500 == 0.2 && faults.slow == 0.1 && faults.badSign == 0.1 && faults.garbage == 0.1 && faults.unknownError == 0.05)
        #expect(faults.duplicate == 0.5 && faults.reorder == 1 && faults.forged == 0.25 && faults.dropFirst == 3)
        #expect(try FaultConfiguration(spec: faults.spec) == faults)
        #expect(try FaultConfiguration(spec: "") == FaultConfiguration())
    }

    @Test(arguments: ["500:0.7,slow:0.5", "bogus:1", "drop:x", "500", "slow:-0.1", "duplicate:2"])
    func invalidSpecificationIsRefused(_ spec: String) {
        #expect(throws: SandboxError.self) { try FaultConfiguration(spec: spec) }
    }
}
