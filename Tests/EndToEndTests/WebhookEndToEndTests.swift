import AlipayNotifyWebhooks
import Foundation
import NotifyStore
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Order events pushed to the merchant's application (docs/webhooks.md), through the real daemons: the sandbox pays,
/// the receiver stores, the worker applies and delivers to a sink on loopback that answers from a script.
@Suite("webhooks end to end", .serialized)
struct WebhookEndToEndTests {
    /// Endpoints on 127.0.0.1 over http: development switches the tests set (as scripts/dev and the demo do).
    static let allow = ["WEBHOOKS_ALLOW_INSECURE_URLS": "true", "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true"]
    /// The retry schedule ×0.002: 5 s → 10 ms, 5 min → 0.6 s, 30 min → 3.6 s.
    static let fast = allow.merging(["WEBHOOKS_RETRY_SCALE": "0.002"]) { $1 }

    /// Adds an endpoint through the receiver's API; returns its id and secret.
    static func addEndpoint(_ stack: WorkerStack, url: String, events: [String]? = nil) async throws -> (id: String, secret: String) {
        let eventList = events.map { ", \"events\": [" + $0.map { "\"\($0)\"" }.joined(separator: ",") + "]" } ?? ""
        let reply = try await HTTP.send(
            .POST, "\(stack.receiver.internalURL)/api/endpoints", headers: [("Content-Type", "application/json")],
            body: #"{"url": "\#(url)"\#(eventList), "description": "e2e sink"}"#)
        guard reply.status == 201, let object = try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any],
            let id = object["id"] as? String, let secret = object["secret"] as? String
        else { throw HarnessError("POST /api/endpoints answered \(reply.status): \(reply.body)") }
        return (id, secret)
    }

    static func payload(_ delivery: WebhookSink.Delivery) throws -> (type: String, data: [String: Any]) {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body.utf8)) as? [String: Any])
        return (try #require(object["type"] as? String), try #require(object["data"] as? [String: Any]))
    }

    @Test("a payment and a refund reach the endpoint as order.paid and order.refunded, signed, in sequence", arguments: TestEngine.allCases)
    func paidAndRefunded(engine: TestEngine) async throws {
        let sink = try await WebhookSink()
        defer { sink.stop() }
        guard let stack = try await WorkerStack.start(name: "webhook-paid", engine: engine, worker: Self.fast, receiver: Self.allow) else { return }
        do {
            let endpoint = try await Self.addEndpoint(stack, url: sink.url)
            try await stack.createOrder("WH1", totalAmount: "88.88")
            _ = try await stack.sandboxControl("WH1", "pay")
            let paid = try await sink.waitFor(1, "worker log:\n\(stack.worker.log)")[0]
            let verifier = try WebhookVerifier(secret: endpoint.secret)
            #expect(try verifier.verify(body: Data(paid.body.utf8), headers: paid.headers) == paid.id)
            #expect(paid.id.hasPrefix("evt_"))
            #expect(paid.headers["content-type"] == "application/json")
            let (type, data) = try Self.payload(paid)
            #expect(type == "order.paid")
            #expect(data["out_trade_no"] as? String == "WH1")
            #expect(data["status"] as? String == "TRADE_SUCCESS")
            #expect(data["previous_status"] as? String == "WAIT_BUYER_PAY")
            #expect(data["total_amount"] as? String == "88.88")
            #expect(data["refunded_amount"] as? String == "0.00")
            #expect(data["sequence"] as? Int == 1)
            #expect((data["trade_no"] as? String)?.isEmpty == false)
            #expect((data["paid_at"] as? String)?.hasSuffix("Z") == true, "Alipay's gmt_payment, in UTC")
            // The body is the stored event, byte for byte.
            let stored = try await stack.database.read { db in try db.webhookEvent(paid.id) }
            #expect(stored?.payload == paid.body)
            #expect(stored?.orderEventId != nil, "the event names the order change it reports")

            _ = try await stack.sandboxControl("WH1", "refund", body: #"{"refund_amount":"1.00"}"#)
            let refunded = try await sink.waitFor(2, "worker log:\n\(stack.worker.log)")[1]
            let (refundType, refundData) = try Self.payload(refunded)
            #expect(refundType == "order.refunded")
            #expect(refundData["refunded_amount"] as? String == "1.00")
            #expect(refundData["status"] as? String == "TRADE_SUCCESS", "a partial refund keeps the status")
            #expect(refundData["sequence"] as? Int == 2)
            #expect(try verifier.verify(body: Data(refunded.body.utf8), headers: refunded.headers) == refunded.id)

            // The independent check: Standard Webhooks' reference library accepts what the worker sent.
            if let python = StandardWebhooksReference.python() {
                for delivery in [paid, refunded] {
                    #expect(try await StandardWebhooksReference.verifies(python, secret: endpoint.secret, body: delivery.body, headers: delivery.headers), "\(delivery.headers)")
                    #expect(try await !StandardWebhooksReference.verifies(python, secret: WebhookSecret.generate().text, body: delivery.body, headers: delivery.headers))
                }
            }
            let attempts = try await stack.database.read { db in try db.deliveryAttempts(eventId: paid.id, endpointId: nil) }
            #expect(attempts.map(\.status) == [204])
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("an endpoint answering 500 twice then 204 gets exactly 3 attempts, at the scheduled times, with one webhook-id")
    func retrySchedule() async throws {
        let sink = try await WebhookSink(script: [.status(500, body: String(repeating: "b", count: 3000)), .status(500)])
        defer { sink.stop() }
        guard let stack = try await WorkerStack.start(name: "webhook-retry", worker: Self.fast, receiver: Self.allow) else { return }
        do {
            _ = try await Self.addEndpoint(stack, url: sink.url)
            try await stack.createOrder("WH2", totalAmount: "5.00")
            _ = try await stack.sandboxControl("WH2", "pay")
            let deliveries = try await sink.waitFor(3, "worker log:\n\(stack.worker.log)")
            let id = deliveries[0].id
            #expect(deliveries.allSatisfy { $0.id == id }, "every retry carries the same webhook-id")
            // Schedule ×0.002 with ±10 % jitter: the third attempt waits at least 0.9 × 0.6 s after the second.
            #expect(deliveries[1].at - deliveries[0].at >= .milliseconds(9))
            #expect(deliveries[2].at - deliveries[1].at >= .milliseconds(540), "\(deliveries[2].at - deliveries[1].at)")
            let job = try await Self.waitForDeliveryJob(stack, state: .done)
            let attempts = try await stack.database.read { db in try db.deliveryAttempts(eventId: id, endpointId: nil) }
            #expect(attempts.map(\.status) == [500, 500, 204])
            #expect(attempts.first?.response == String(repeating: "b", count: 1024), "the first 1 KiB of the answer is kept")
            #expect(job.attempts == 3)
            #expect(sink.deliveries.count == 3, "done after the 204: no fourth attempt")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("a redirect is a failure (not followed) and a timeout is a failure: both retried, the attempts say why")
    func redirectAndTimeout() async throws {
        let target = try await WebhookSink()
        let sink = try await WebhookSink(script: [.status(302, headers: [("Location", target.url)]), .hang(.seconds(5))])
        defer {
            sink.stop()
            target.stop()
        }
        var worker = Self.fast
        worker["WEBHOOKS_TIMEOUT_SECONDS"] = "1"
        guard let stack = try await WorkerStack.start(name: "webhook-redirect", worker: worker, receiver: Self.allow) else { return }
        do {
            _ = try await Self.addEndpoint(stack, url: sink.url)
            try await stack.createOrder("WH9", totalAmount: "5.00")
            _ = try await stack.sandboxControl("WH9", "pay")
            let deliveries = try await sink.waitFor(3, "worker log:\n\(stack.worker.log)")
            try await Self.waitForDeliveryJob(stack, state: .done)
            let attempts = try await stack.database.read { db in try db.deliveryAttempts(eventId: deliveries[0].id, endpointId: nil) }
            #expect(attempts.map(\.status) == [302, nil, 204])
            #expect(attempts[0].error?.contains("redirects are not followed") == true, "\(attempts[0].error ?? "")")
            #expect(attempts[1].error?.contains("timed out") == true, "\(attempts[1].error ?? "")")
            #expect(target.deliveries.isEmpty, "the redirect was not followed")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("410 Gone disables the endpoint: no retry, and later events get no delivery")
    func goneDisables() async throws {
        let sink = try await WebhookSink(script: [.status(410)])
        defer { sink.stop() }
        guard let stack = try await WorkerStack.start(name: "webhook-gone", worker: Self.fast, receiver: Self.allow) else { return }
        do {
            let endpoint = try await Self.addEndpoint(stack, url: sink.url)
            try await stack.createOrder("WH3", totalAmount: "5.00")
            _ = try await stack.sandboxControl("WH3", "pay")
            try await sink.waitFor(1)
            let dead = try await Self.waitForDeliveryJob(stack, state: .dead)
            #expect(dead.lastError?.contains("410") == true)
            let shown = try await HTTP.send(.GET, "\(stack.receiver.internalURL)/api/endpoints/\(endpoint.id)")
            #expect(shown.body.contains(#""enabled":false"#), "\(shown.body)")
            #expect(shown.body.contains("410 Gone"), "\(shown.body)")
            #expect(!shown.body.contains(endpoint.secret), "the secret is shown only when made")
            try await stack.createOrder("WH4", totalAmount: "6.00")
            _ = try await stack.sandboxControl("WH4", "pay")
            try await stack.waitForStatus("WH4", "TRADE_SUCCESS")
            let deliveries = try await stack.database.read { db in try db.jobs(state: nil, kind: .deliver, outTradeNo: nil, limit: 100) }
            #expect(deliveries.count == 1, "the event of WH4 was written, but no delivery to a disabled endpoint")
            #expect(try await stack.database.read { db in try db.webhookEvents(outTradeNo: "WH4", type: nil, since: nil, limit: 10) }.count == 1)
            #expect(sink.deliveries.count == 1)
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("503 with Retry-After: the next attempt waits that long, not the (shorter) scheduled delay")
    func retryAfter() async throws {
        let sink = try await WebhookSink(script: [.status(503, headers: [("Retry-After", "1")])])
        defer { sink.stop() }
        guard let stack = try await WorkerStack.start(name: "webhook-retry-after", worker: Self.fast, receiver: Self.allow) else { return }
        do {
            _ = try await Self.addEndpoint(stack, url: sink.url)
            try await stack.createOrder("WH5", totalAmount: "5.00")
            _ = try await stack.sandboxControl("WH5", "pay")
            let deliveries = try await sink.waitFor(2)
            #expect(deliveries[1].at - deliveries[0].at >= .milliseconds(950), "\(deliveries[1].at - deliveries[0].at); the schedule alone says 10 ms")
            try await Self.waitForDeliveryJob(stack, state: .done)
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("an endpoint on a private address is refused when the worker connects (not only when added), and nothing is sent")
    func privateAddressRefusedWhenConnecting() async throws {
        let sink = try await WebhookSink()
        defer { sink.stop() }
        // The receiver allows it (it was added while allowed, or the name pointed elsewhere then); the worker does not.
        var worker = Self.fast
        worker["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = "false"
        guard let stack = try await WorkerStack.start(name: "webhook-private", worker: worker, receiver: Self.allow) else { return }
        do {
            _ = try await Self.addEndpoint(stack, url: sink.url.replacingOccurrences(of: "127.0.0.1", with: "localhost"))
            try await stack.createOrder("WH6", totalAmount: "5.00")
            _ = try await stack.sandboxControl("WH6", "pay")
            try await stack.waitForStatus("WH6", "TRADE_SUCCESS")
            let event = try #require(try await stack.database.read { db in try db.webhookEvents(outTradeNo: "WH6", type: nil, since: nil, limit: 1) }.first)
            let deadline = ContinuousClock.now + .seconds(30)
            var attempts: [DeliveryAttempt] = []
            while attempts.isEmpty, ContinuousClock.now < deadline {
                attempts = try await stack.database.read { db in try db.deliveryAttempts(eventId: event.eventId, endpointId: nil) }
                if attempts.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            }
            let first = try #require(attempts.first, "no attempt recorded; worker log:\n\(stack.worker.log)")
            #expect(first.status == nil)
            #expect(first.error?.contains("loopback") == true, "\(first.error ?? "")")
            #expect(sink.deliveries.isEmpty, "nothing reached the private address")
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("after rotate-secret a delivery carries two signatures: the new secret and the old one both verify it")
    func rotation() async throws {
        let sink = try await WebhookSink()
        defer { sink.stop() }
        guard let stack = try await WorkerStack.start(name: "webhook-rotate", worker: Self.fast, receiver: Self.allow) else { return }
        do {
            let endpoint = try await Self.addEndpoint(stack, url: sink.url)
            let rotated = try await HTTP.send(.POST, "\(stack.receiver.internalURL)/api/endpoints/\(endpoint.id)/rotate-secret")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(rotated.body.utf8)) as? [String: Any])
            let fresh = try #require(object["secret"] as? String)
            #expect(fresh != endpoint.secret && object["previous_secret_expires_at"] is String)
            try await stack.createOrder("WH7", totalAmount: "5.00")
            _ = try await stack.sandboxControl("WH7", "pay")
            let delivery = try await sink.waitFor(1)[0]
            #expect(delivery.headers["webhook-signature"]?.split(separator: " ").count == 2)
            for secret in [fresh, endpoint.secret] {
                #expect(try WebhookVerifier(secret: secret).verify(body: Data(delivery.body.utf8), headers: delivery.headers) == delivery.id)
            }
        } catch {
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    @Test("kill -9 of the worker mid-delivery: the event is delivered again, same webhook-id, and never lost", arguments: TestEngine.allCases)
    func workerKilledMidDelivery(engine: TestEngine) async throws {
        let sink = try await WebhookSink(script: [.hang(.seconds(20))])
        defer { sink.stop() }
        var worker = Self.fast
        worker["WORKER_LEASE_SECONDS"] = "1"
        guard let stack = try await WorkerStack.start(name: "webhook-kill", engine: engine, worker: worker, receiver: Self.allow) else { return }
        var second: DaemonProcess?
        do {
            _ = try await Self.addEndpoint(stack, url: sink.url)
            try await stack.createOrder("WH8", totalAmount: "5.00")
            _ = try await stack.sandboxControl("WH8", "pay")
            let first = try await sink.waitFor(1)[0]
            stack.worker.signal(SIGKILL)
            #expect(try await stack.worker.waitForExit() == 128 + SIGKILL)
            second = try DaemonProcess.start("notify-worker", environment: stack.workerEnvironment, logFile: stack.workspace.file("worker2.log"))
            let again = try await sink.waitFor(2, "second worker log:\n\(second?.log ?? "")")[1]
            #expect(again.id == first.id, "at least once, with the same webhook-id")
            #expect(again.body == first.body)
            try await Self.waitForDeliveryJob(stack, state: .done)
            second?.signal(SIGTERM)
            #expect(try await second?.waitForExit() == 0)
        } catch {
            await second?.stop()
            await stack.kill()
            throw error
        }
        stack.receiver.process.signal(SIGTERM)
        _ = try? await stack.receiver.process.waitForExit()
        await stack.sandbox.stop()
        await stack.database.close()
        stack.workspace.remove()
    }

    @Test("a hanging endpoint never delays another: 10 payments reach the healthy endpoint while every delivery to the other hangs")
    func slowEndpointDelaysNoOther() async throws {
        let hanging = try await WebhookSink(otherwise: .hang(.seconds(30)))
        let healthy = try await WebhookSink()
        defer {
            hanging.stop()
            healthy.stop()
        }
        var worker = Self.fast
        worker["WEBHOOKS_TIMEOUT_SECONDS"] = "20"
        worker["WEBHOOKS_CONCURRENCY"] = "8"
        worker["WEBHOOKS_PER_ENDPOINT_CONCURRENCY"] = "2"
        guard let stack = try await WorkerStack.start(name: "webhook-slow", worker: worker, receiver: Self.allow) else { return }
        do {
            _ = try await Self.addEndpoint(stack, url: hanging.url)
            _ = try await Self.addEndpoint(stack, url: healthy.url)
            let orders = (1...10).map { "WHS\($0)" }
            for order in orders { try await stack.createOrder(order, totalAmount: "1.00") }
            for order in orders { _ = try await stack.sandboxControl(order, "pay") }
            // Every delivery to the hanging endpoint waits 20 s; the healthy one gets all ten long before that.
            let started = ContinuousClock.now
            let received = try await healthy.waitFor(10, timeout: .seconds(15), "worker log:\n\(stack.worker.log)")
            #expect(ContinuousClock.now - started < .seconds(15))
            #expect(Set(received.map(\.type)) == ["order.paid"])
            #expect(hanging.deliveries.count <= 2, "at most webhooks.perEndpointConcurrency in flight to the hanging one")
        } catch {
            await stack.kill()
            throw error
        }
        await stack.kill()
        stack.workspace.remove()
    }

    @Test("notifyctl events listen: a temporary endpoint that prints each delivery, forwards it with its headers, and is removed on Ctrl-C")
    func listen() async throws {
        let app = try await WebhookSink(otherwise: .status(202))
        defer { app.stop() }
        guard let stack = try await WorkerStack.start(name: "webhook-listen", worker: Self.fast, receiver: Self.allow) else { return }
        var listener: DaemonProcess?
        do {
            listener = try DaemonProcess.start(
                "notifyctl", arguments: ["events", "listen", "--forward", app.url], environment: stack.workerEnvironment,
                logFile: stack.workspace.file("listen.log"))
            let deadline = ContinuousClock.now + .seconds(30)
            while !(listener?.log.contains("as endpoint ep_") ?? false), ContinuousClock.now < deadline {
                guard listener?.isRunning == true else { throw HarnessError("notifyctl events listen exited:\n\(listener?.log ?? "")") }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await stack.database.read { db in try db.webhookEndpoints() }.count == 1, "\(listener?.log ?? "")")
            try await stack.createOrder("WHL1", totalAmount: "3.00")
            _ = try await stack.sandboxControl("WHL1", "pay")
            let forwarded = try await app.waitFor(1, "listen log:\n\(listener?.log ?? "")")[0]
            #expect(forwarded.type == "order.paid" && forwarded.id.hasPrefix("evt_"))
            #expect(forwarded.headers["webhook-signature"]?.hasPrefix("v1,") == true, "forwarded with the signature headers")
            try await Self.waitForDeliveryJob(stack, state: .done)
            let log = listener?.log ?? ""
            #expect(log.contains("order.paid") && log.contains("[signature ok]") && log.contains("202"), "\(log)")
            listener?.signal(SIGINT)
            #expect(try await listener?.waitForExit() == 0, "\(listener?.log ?? "")")
            #expect(listener?.log.contains("removed") == true)
            #expect(try await stack.database.read { db in try db.webhookEndpoints() }.isEmpty, "the temporary endpoint is gone")
        } catch {
            await listener?.stop()
            await stack.kill()
            throw error
        }
        #expect(try await stack.shutdown() == 0)
        stack.workspace.remove()
    }

    /// Waits until the (single) delivery job reaches `state`.
    @discardableResult
    static func waitForDeliveryJob(_ stack: WorkerStack, state: JobState, timeout: Duration = .seconds(30)) async throws -> Job {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let jobs = try await stack.database.read { db in try db.jobs(state: nil, kind: .deliver, outTradeNo: nil, limit: 10) }
            if let job = jobs.first(where: { $0.state == state }) { return job }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw HarnessError("no deliver job reached \(state) within \(timeout); worker log:\n\(stack.worker.log)")
    }
}
