import AsyncHTTPClient
import Foundation
import Synchronization
import Testing

@testable import AlipayKit

@Suite("AlipayClient against a real loopback gateway")
struct AlipayClientTests {
    static let success = #"{"code":"10000","msg":"Success","out_trade_no":"O1","trade_no":"T1","trade_status":"TRADE_SUCCESS","total_amount":"88.88"}"#

    static func signed(_ json: String, key: RSAPrivateKey? = nil) -> String {
        (try? ResponseSigner.body(method: "alipay.trade.query", responseJSON: json, key: key ?? Fixture.alipayPrivateKey())) ?? ""
    }

    static func kind<R>(_ outcome: GatewayOutcome<R>) -> String { ResponseVerifierTests.kind(outcome) }

    @Test("POSTs the signed parameters form-encoded, common parameters also in the query, and returns the verified response")
    func success() async throws {
        let body = Self.signed(Self.success)
        try await StubGateway.with(reply: { _ in .respond(status: 200, body: body) }) { gateway in
            let client = AlipayClient(configuration: try Fixture.configuration(gatewayURL: gateway.url))
            let outcome = await client.execute(TradeQuery(outTradeNo: "O1"))
            guard case .success(let response) = outcome else {
                Issue.record("expected success, got \(outcome)")
                return
            }
            #expect(response.tradeStatus == .tradeSuccess)
            #expect(response.totalAmount == Amount(fen: 8888))

            let request = try #require(gateway.received.first)
            #expect(request.method == "POST")
            #expect(request.path == "/gateway.do")
            #expect(request.contentType == "application/x-www-form-urlencoded;charset=utf-8")
            let posted = try FormCodec.decode(request.body).dictionary
            #expect(posted["method"] == "alipay.trade.query")
            #expect(posted["biz_content"] == #"{"out_trade_no":"O1"}"#)
            #expect(RequestVerifier.verify(posted, appPublicKey: try Fixture.appPublicKey()))
            let query = try FormCodec.decode(request.query).dictionary
            #expect(query["biz_content"] == nil)
            #expect(query["charset"] == "utf-8")
            for (key, value) in query { #expect(posted[key] == value, "\(key) is the same in query and body") }
        }
    }

    @Test("gateway answers map to outcomes", arguments: [
        (500, "", "retryable"),
        (503, "<html>busy</html>", "retryable"),
        (200, "garbage", "retryable"),
        (200, #"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature"}}"#, "configuration_error"),
        (200, #"{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}}"#, "retryable"),
        (404, "no such page", "configuration_error"),
    ])
    func answers(status: Int, body: String, expected: String) async throws {
        try await StubGateway.with(reply: { _ in .respond(status: status, body: body) }) { gateway in
            let outcome = await AlipayClient(configuration: try Fixture.configuration(gatewayURL: gateway.url)).execute(TradeQuery(outTradeNo: "O1"))
            #expect(Self.kind(outcome) == expected, "\(outcome)")
        }
    }

    @Test("a signed TRADE_NOT_EXIST is still waiting; a 10000 signed with the wrong key is retryable, never success")
    func signedAnswers() async throws {
        let notExist = Self.signed(#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST"}"#)
        let forged = Self.signed(Self.success, key: try Fixture.appPrivateKey())
        let replies = [notExist, forged]
        let counter = Counter()
        try await StubGateway.with(reply: { _ in .respond(status: 200, body: replies[counter.next() % 2]) }) { gateway in
            let client = AlipayClient(configuration: try Fixture.configuration(gatewayURL: gateway.url))
            #expect(Self.kind(await client.execute(TradeQuery(outTradeNo: "O1"))) == "trade_not_exist")
            let outcome = await client.execute(TradeQuery(outTradeNo: "O1"))
            guard case .retryable(let reason) = outcome else {
                Issue.record("expected retryable, got \(outcome)")
                return
            }
            #expect(reason.contains("signature"))
        }
    }

    @Test("a gateway that never answers is a retryable timeout, within the configured limits")
    func timeout() async throws {
        try await StubGateway.with(reply: { _ in .hang }) { gateway in
            let client = AlipayClient(
                configuration: try Fixture.configuration(gatewayURL: gateway.url), connectTimeout: .milliseconds(200), readTimeout: .milliseconds(300))
            let started = ContinuousClock.now
            let outcome = await client.execute(TradeQuery(outTradeNo: "O1"))
            let elapsed = ContinuousClock.now - started
            guard case .retryable(let reason) = outcome else {
                Issue.record("expected retryable, got \(outcome)")
                return
            }
            #expect(reason.contains("timeout"), "\(reason)")
            // Only bounds a hang (the configured limits add up to 0.5 s); performance is for BENCHMARKS.md.
            #expect(elapsed < .seconds(30))
        }
    }

    @Test("the dedicated HTTP client times out too and is shut down on success and on error")
    func dedicatedClient() async throws {
        try await StubGateway.with(reply: { _ in .hang }) { gateway in
            let configuration = try Fixture.configuration(gatewayURL: gateway.url)
            let outcome = try await AlipayClient.withDedicatedHTTPClient(
                configuration: configuration, connectTimeout: .milliseconds(200), readTimeout: .milliseconds(300)
            ) { client in
                await client.execute(TradeClose(outTradeNo: "O1"))
            }
            #expect(Self.kind(outcome) == "retryable")
            struct Boom: Error {}
            await #expect(throws: Boom.self) {
                try await AlipayClient.withDedicatedHTTPClient(configuration: configuration) { _ in throw Boom() }
            }
        }
    }

    @Test("connection refused is retryable; an unusable gateway URL or request is a configuration error")
    func transportAndConfiguration() async throws {
        let gateway = try await StubGateway.start { _ in .respond(status: 200, body: "") }
        let closedURL = gateway.url
        try await gateway.close()
        // AsyncHTTPClient keeps retrying a refused connection until the deadline: keep the limits short.
        let client = AlipayClient(
            configuration: try Fixture.configuration(gatewayURL: closedURL), connectTimeout: .milliseconds(300), readTimeout: .milliseconds(300))
        let refused = await client.execute(TradeQuery(outTradeNo: "O1"))
        #expect(Self.kind(refused) == "retryable")

        let badURL = await AlipayClient(configuration: try Fixture.configuration(gatewayURL: "ftp://example.com/gateway.do")).execute(TradeQuery(outTradeNo: "O"))
        #expect(Self.kind(badURL) == "configuration_error")
        let badRequest = await AlipayClient(configuration: try Fixture.configuration()).execute(TradeQuery())
        #expect(Self.kind(badRequest) == "configuration_error")
    }
}

/// A thread-safe counter for stub replies that change from one request to the next.
final class Counter: Sendable {
    private let value = Mutex(0)

    func next() -> Int {
        value.withLock { current in
            defer { current += 1 }
            return current
        }
    }
}
