import Foundation
import NotifyStore
import StoreTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The transactional outbox under `kill -9`: no order change without its event, no event without its change, and
/// every event delivered (at least once) in the end.
@Suite("webhooks under kill -9", .serialized)
struct WebhookCrashTests {
    @Test("the worker killed 3 times while 40 payments are applied: each change has exactly one event, each event reached the endpoint", arguments: TestEngine.allCases)
    func outboxSurvivesKills(engine: TestEngine) async throws {
        // Each delivery takes 100 ms, so kills land while deliveries and payments are in flight.
        let sink = try await WebhookSink(otherwise: .hang(.milliseconds(100)))
        defer { sink.stop() }
        var worker = WebhookEndToEndTests.fast
        worker["WORKER_LEASE_SECONDS"] = "1"
        guard let stack = try await WorkerStack.start(name: "webhook-crash", engine: engine, worker: worker, receiver: WebhookEndToEndTests.allow)
        else { return }
        var workers = [stack.worker]
        do {
            _ = try await WebhookEndToEndTests.addEndpoint(stack, url: sink.url)
            let orders = (1...40).map { "WHC\($0)" }
            for order in orders { try await stack.createOrder(order, totalAmount: "1.00") }
            // Pay in four rounds of ten; in each of the first three, kill the worker once two more deliveries arrived
            // (the rest of the round is being applied and delivered), then start a new one.
            for round in 0..<4 {
                let seen = sink.deliveries.count
                for order in orders[(round * 10)..<(round * 10 + 10)] { _ = try await stack.sandboxControl(order, "pay") }
                guard round < 3 else { break }
                try await sink.waitFor(seen + 2, "worker log:\n\(workers.last?.log ?? "")")
                workers.last?.signal(SIGKILL)
                _ = try await workers.last?.waitForExit()
                workers.append(
                    try DaemonProcess.start("notify-worker", environment: stack.workerEnvironment, logFile: stack.workspace.file("worker-\(round).log")))
            }
            // Every payment applied and every delivery settled (done) once the last worker runs.
            let deadline = ContinuousClock.now + .seconds(60)
            var paid = 0
            while ContinuousClock.now < deadline {
                paid = try await stack.database.read { db in try db.orderCounts()[.tradeSuccess] ?? 0 }
                if paid == orders.count { break }
                guard workers.last?.isRunning == true else { throw HarnessError("the last worker exited; log:\n\(workers.last?.log ?? "")") }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(paid == orders.count, "\(paid) of \(orders.count) paid; last worker log:\n\(workers.last?.log ?? "")")
            var pending = -1
            while ContinuousClock.now < deadline {
                let jobs = try await stack.database.read { db in try db.jobs(state: nil, kind: .deliver, outTradeNo: nil, limit: 1000) }
                pending = jobs.filter { $0.state != .done }.count
                if jobs.count == orders.count && pending == 0 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(pending == 0, "deliveries not done; last worker log:\n\(workers.last?.log ?? "")")

            var eventIds: Set<String> = []
            for order in orders {
                let (changes, events) = try await stack.database.read { db in
                    (try db.orderEvents(order).filter { $0.fromStatus != nil }, try db.webhookEvents(outTradeNo: order, type: nil, since: nil, limit: 100))
                }
                #expect(changes.count == 1 && events.count == 1, "\(order): \(changes.count) changes, \(events.count) events")
                #expect(Set(events.compactMap(\.orderEventId)) == Set(changes.compactMap(\.id)), "\(order): the event names its change")
                #expect(events.map(\.sequence) == [1])
                eventIds.formUnion(events.map(\.eventId))
            }
            let received = Set(sink.deliveries.map(\.id))
            #expect(eventIds.count == orders.count)
            #expect(eventIds.isSubset(of: received), "never delivered: \(eventIds.subtracting(received).sorted())")
            #expect(received.isSubset(of: eventIds), "a delivery of an event that does not exist")
            print("webhook crash summary: engine=\(engine) orders=\(orders.count) events=\(eventIds.count) deliveries=\(sink.deliveries.count) kills=3")
        } catch {
            for process in workers { await process.stop() }
            await stack.kill()
            throw error
        }
        workers.last?.signal(SIGTERM)
        #expect(try await workers.last?.waitForExit() == 0)
        stack.receiver.process.signal(SIGTERM)
        _ = try? await stack.receiver.process.waitForExit()
        await stack.sandbox.stop()
        await stack.database.close()
        stack.workspace.remove()
    }
}
