import AlipayKit
import AlipaySandbox
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// The control API contract: paths, JSON in and out, error shape.
@Suite struct ControlAPITests {
    private func json(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    private func post(_ client: some TestClientProtocol, _ uri: String, _ body: String = "") async throws -> TestResponse {
        try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body))
    }

    @Test func createShowListPayRefundCancel() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            let created = try await post(client, "/sandbox/trades", #"{"out_trade_no":"API1","total_amount":"12.34","subject":"Control"}"#)
            #expect(created.status == .created)
            let trade = try json(created)
            #expect(trade["out_trade_no"] as? String == "API1")
            #expect(trade["status"] as? String == "WAIT_BUYER_PAY")
            #expect(trade["total_amount"] as? String == "12.34")
            let tradeNo = try #require(trade["trade_no"] as? String)
            #expect(trade["cashier_url"] as? String == "/cashier/\(tradeNo)")

            let generated = try json(try await post(client, "/sandbox/trades", #"{"total_amount":"1","subject":"No number"}"#))
            #expect((generated["out_trade_no"] as? String)?.hasPrefix("SBX") == true)

            let shown = try json(try await client.execute(uri: "/sandbox/trades/API1", method: .get))
            #expect(shown["trade_no"] as? String == tradeNo)
            let list = try #require(try JSONSerialization.jsonObject(with: Data(try await client.execute(uri: "/sandbox/trades", method: .get).body.readableBytesView)) as? [[String: Any]])
            #expect(list.count == 2)

            let paid = try await post(client, "/sandbox/trades/API1/pay")
            #expect(paid.status == .ok)
            #expect(try json(paid)["status"] as? String == "TRADE_SUCCESS")
            let again = try await post(client, "/sandbox/trades/API1/pay")
            #expect(again.status == .conflict)
            #expect((try json(again)["error"] as? [String: Any])?["code"] as? String == "ACQ.TRADE_HAS_SUCCESS")

            let refunded = try json(try await post(client, "/sandbox/trades/API1/refund", #"{"refund_amount":"1.00"}"#))
            #expect(refunded["refunded_amount"] as? String == "1.00")
            #expect(refunded["status"] as? String == "TRADE_SUCCESS")
            let tooMuch = try await post(client, "/sandbox/trades/API1/refund", #"{"refund_amount":"11.35"}"#)
            #expect(tooMuch.status == .conflict)
            #expect((try json(tooMuch)["error"] as? [String: Any])?["code"] as? String == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
            let rest = try json(try await post(client, "/sandbox/trades/API1/refund", #"{"refund_amount":"11.34"}"#))
            #expect(rest["status"] as? String == "TRADE_CLOSED")

            let cancelPaid = try await post(client, "/sandbox/trades/API1/cancel")
            #expect(cancelPaid.status == .conflict)
            let generatedNo = try #require(generated["out_trade_no"] as? String)
            let cancelled = try json(try await post(client, "/sandbox/trades/\(generatedNo)/cancel"))
            #expect(cancelled["status"] as? String == "TRADE_CLOSED")
        }
    }

    @Test func errorsHaveOneShape() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            let missing = try await client.execute(uri: "/sandbox/trades/NOPE", method: .get)
            #expect(missing.status == .notFound)
            let error = try #require(try json(missing)["error"] as? [String: Any])
            #expect(error["code"] as? String == "ACQ.TRADE_NOT_EXIST")
            #expect(error["message"] as? String != nil)
            #expect(try await post(client, "/sandbox/trades/NOPE/pay").status == .notFound)
            #expect(try await post(client, "/sandbox/trades", "{").status == .badRequest)
            #expect(try await post(client, "/sandbox/trades", #"{"total_amount":"1.001","subject":"x"}"#).status == .badRequest)
            #expect(try await post(client, "/sandbox/trades", #"{"out_trade_no":"bad no","total_amount":"1","subject":"x"}"#).status == .badRequest)
            let noAmount = try await post(client, "/sandbox/trades", #"{"subject":"x"}"#)
            #expect(noAmount.status == .badRequest)
            #expect(String(buffer: noAmount.body).contains("total_amount"))
        }
    }

    @Test func deliveriesListEveryAttempt() async throws {
        let merchant = Merchant { count, _ in (count == 1 ? "failure" : "success", nil) }
        try await merchant.serve { notifyURL in
            let harness = try SandboxHarness()
            try await harness.run { client in
                let body = #"{"out_trade_no":"DLV","total_amount":"2.00","subject":"deliveries","notify_url":"\#(notifyURL)"}"#
                #expect(try await post(client, "/sandbox/trades", body).status == .created)
                #expect(try await post(client, "/sandbox/trades/DLV/pay").status == .ok)
                try await waitUntil(harness.sandbox, "two attempts") { $0.deliveries.count == 2 && $0.pendingNotifications == 0 }
                let response = try await client.execute(uri: "/sandbox/deliveries?out_trade_no=DLV", method: .get)
                let deliveries = try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [[String: Any]])
                #expect(deliveries.count == 2)
                #expect(deliveries.map { $0["attempt"] as? Int } == [1, 2])
                #expect(deliveries.map { $0["answer"] as? String } == ["failure", "success"])
                #expect(deliveries.allSatisfy { $0["trade_status"] as? String == "TRADE_SUCCESS" && $0["out_trade_no"] as? String == "DLV" })
                #expect(Set(deliveries.compactMap { $0["notify_id"] as? String }).count == 1)
                #expect(deliveries.allSatisfy { ($0["time"] as? String)?.hasSuffix("Z") == true })
                let none = try await client.execute(uri: "/sandbox/deliveries?out_trade_no=OTHER", method: .get)
                #expect(String(buffer: none.body) == "[]")
            }
        }
    }

    @Test func faultsCanBeSetAndRead() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            let set = try json(try await post(client, "/sandbox/faults", #"{"spec":"500:0.25,drop:2","seed":9}"#))
            #expect(set["http_500"] as? Double == 0.25)
            #expect(set["drop_first"] as? Int == 2 && set["drops_remaining"] as? Int == 2)
            #expect(set["spec"] as? String == "500:0.25,drop:2")
            let fields = try json(try await post(client, "/sandbox/faults", #"{"duplicate":0.5,"forged":1}"#))
            #expect(fields["spec"] as? String == "duplicate:0.5,forged:1")
            let read = try json(try await client.execute(uri: "/sandbox/faults", method: .get))
            #expect(read["duplicate"] as? Double == 0.5 && read["http_500"] as? Double == 0)
            #expect(harness.sandbox.faults.configuration.forged == 1)
            let invalid = try await post(client, "/sandbox/faults", #"{"spec":"500:0.9,slow:0.9"}"#)
            #expect(invalid.status == .badRequest)
            #expect(String(buffer: invalid.body).contains("add up to"))
            let cleared = try json(try await post(client, "/sandbox/faults", "{}"))
            #expect(cleared["spec"] as? String == "")
        }
    }

    @Test("reset forgets every trade, but never hands out a trade_no again (nor a notify_id: the same sequences)")
    func resetForgetsEverything() async throws {
        let harness = try SandboxHarness()
        try await harness.run { client in
            let before = try await post(client, "/sandbox/trades", #"{"out_trade_no":"R1","total_amount":"1","subject":"x"}"#)
            let reset = try await post(client, "/sandbox/reset")
            #expect(reset.status == .ok)
            #expect(String(buffer: try await client.execute(uri: "/sandbox/trades", method: .get).body) == "[]")
            let after = try await post(client, "/sandbox/trades", #"{"out_trade_no":"R1","total_amount":"1","subject":"x"}"#)
            let tradeNo = { (reply: String) in reply.firstMatch(of: /"trade_no":"(\d+)"/).map { String($0.1) } }
            #expect(tradeNo(String(buffer: before.body)) != nil)
            #expect(tradeNo(String(buffer: before.body)) != tradeNo(String(buffer: after.body)))
            #expect(String(buffer: try await client.execute(uri: "/healthz", method: .get).body) == "ok")
        }
    }
}
