import AlipayKit
import Foundation
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Testing

@testable import NotifyCore

/// `notifyctl db backup` while the receiver and the worker write: every backup is one consistent snapshot.
@Suite("Backups under concurrent writes")
struct BackupConsistencyTests {
    @Test("backups taken while notifications are stored and applied each pass the invariants: every job has its notification, every order its events, every change its order event")
    func backupsMidLoad() async throws {
        let fixture = try WorkerFixture()
        try await fixture.database.write { tx in
            try tx.insertWebhookEndpoint(
                WebhookEndpoint(endpointId: "ep_b", url: "https://shop.example/hook", secret: "whsec_" + Data(repeating: 3, count: 32).base64EncodedString(), createdAt: Date(), updatedAt: Date()))
        }
        let orders = (0..<120).map { "BC\($0)" }
        for number in orders { try await fixture.order(number, fen: 100) }
        let backups = fixture.directory.appendingPathComponent("backups")
        try FileManager.default.createDirectory(at: backups, withIntermediateDirectories: true)

        // The load: notifications stored and applied (each payment in its own transaction with its event and outbox).
        let loadEnded = Gate()
        let load = Task {
            defer { loadEnded.open() }
            for number in orders {
                try await fixture.deliver(TestAlipay.notification(number, .tradeSuccess, total: "1.00"))
            }
        }
        // Meanwhile, backups of the live file.
        var taken: [String] = []
        var index = 0
        // Until the load ends (a failing load ends the loop too: its error comes out of `load.value` below), bounded.
        let deadline = ContinuousClock.now + .seconds(300)
        while !loadEnded.isOpen, ContinuousClock.now < deadline {
            let path = backups.appendingPathComponent("b\(index).sqlite").path
            _ = try SQLiteBackup.backup(databaseAt: fixture.databasePath, to: path)
            taken.append(path)
            index += 1
            if (try? await fixture.database.read({ db in try db.orderCounts()[.tradeSuccess] ?? 0 })) == orders.count { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await load.value
        #expect(taken.count >= 3, "the load should have spanned several backups (\(taken.count))")

        var sawPartial = false
        for path in taken {
            let copy = try SQLiteStore(path: path, migrate: false)
            let problems = try await copy.read { db -> [String] in
                var problems: [String] = []
                let jobs = try db.jobs(state: nil, kind: nil, outTradeNo: nil, limit: 100_000)
                let notificationIds = jobs.compactMap(\.notificationId)
                let found = Set(try db.notifications(ids: notificationIds).compactMap(\.id))
                for id in notificationIds where !found.contains(id) { problems.append("job without its notification \(id)") }
                for number in orders {
                    guard let order = try db.order(number) else { problems.append("order \(number) missing"); continue }
                    let events = try db.orderEvents(number)
                    if events.last?.toStatus != order.status { problems.append("\(number) is \(order.status) but its last event says \(String(describing: events.last?.toStatus))") }
                    let changes = events.filter { $0.fromStatus != nil }
                    let published = try db.webhookEvents(outTradeNo: number, type: nil, since: nil, limit: 100)
                    if Set(published.compactMap(\.orderEventId)) != Set(changes.compactMap(\.id)) { problems.append("\(number): changes and events differ") }
                    let deliveries = try db.jobs(state: nil, kind: .deliver, outTradeNo: number, limit: 100)
                    if deliveries.count != published.count { problems.append("\(number): \(published.count) events, \(deliveries.count) deliveries") }
                }
                return problems
            }
            let paid = try await copy.read { db in try db.orderCounts()[.tradeSuccess] ?? 0 }
            if paid > 0 && paid < orders.count { sawPartial = true }
            await copy.close()
            #expect(problems.isEmpty, "\(path): \(problems.prefix(5))")
        }
        #expect(sawPartial, "at least one backup was taken mid-load (some orders paid, not all)")
    }
}
