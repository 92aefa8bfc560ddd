import Foundation
import GRDB
import MetricsTestKit
import Testing

@testable import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport

@Suite("Group commit of notifications")
struct NotificationWriterTests {
    @Test("200 concurrent appends are all stored, in fewer transactions than appends")
    func concurrentAppendsShareTransactions() async throws {
        try await withDatabase { database in
            let metrics = TestMetrics()
            let writer = NotificationWriter(
                store: database, mode: .groupCommit(maxBatch: 64, maxWait: .milliseconds(20)), metricsFactory: metrics)
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for index in 0..<200 {
                    group.addTask { try await writer.append(notification("N\(index)", outTradeNo: "T\(index)")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            var ids: Set<Int64> = []
            for case .stored(let id) in results { ids.insert(id) }
            #expect(ids.count == 200)
            #expect(try database.count("notifications") == 200)
            #expect(try database.count("jobs") == 200)

            let counts = writer.counts
            #expect(counts.stored == 200)
            #expect(counts.failedBatches == 0)
            #expect(counts.committedBatches < 200)
            #expect(counts.committedBatches >= 4)  // maxBatch 64

            #expect(try metrics.expectTimer("alipay_notify_enqueue_commit_seconds").values.count == counts.committedBatches)
            let sizes = try metrics.expectRecorder("alipay_notify_enqueue_batch_size").values
            #expect(sizes.reduce(0, +) == 200)
            #expect(sizes.allSatisfy { $0 <= 64 })
            #expect(metrics.counterTotal(label: "alipay_notify_notifications_stored_total") == 200)
            await writer.shutdown()
        }
    }

    @Test("a lone append right after a full batch is committed at once, not held for the gathering window; a lone one after a lone one waits for company")
    func loneAppendAfterABatchIsNotHeld() async throws {
        try await withDatabase { database in
            let writer = NotificationWriter(store: database, mode: .groupCommit(maxBatch: 5, maxWait: .seconds(30)))
            // Five fill the first batch (the first append waited for them).
            let first = try await appendTogether(writer, (0..<5).map { notification("B\($0)") })
            #expect(try first.allSatisfy { try $0.get().isStored })
            #expect(writer.counts.committedBatches == 1)
            // Traffic was heavy: the next lone append is committed without waiting out the 30 s window.
            let started = ContinuousClock.now
            #expect(try await writer.append(notification("AFTER")).isStored)
            #expect(ContinuousClock.now - started < .seconds(15), "held for the gathering window")
            #expect(writer.counts.committedBatches == 2)
            // Now traffic is light (the last batch was one): a lone append waits for company, up to the window.
            let lone = Task { try await writer.append(notification("LONE")) }
            let held = ContinuousClock.now + .seconds(60)
            while !writer.isGathering {
                try #require(ContinuousClock.now < held, "a lone append after a lone one was not held for company")
                try await Task.sleep(for: .milliseconds(1))
            }
            #expect(writer.counts.committedBatches == 2)
            await writer.shutdown()  // commits what waits
            #expect(try await lone.value.isStored)
        }
    }

    @Test("a stored notification keeps the exact body and gets one notification job")
    func storesBodyAndJob() async throws {
        try await withDatabase { database in
            let writer = NotificationWriter(store: database)
            let incoming = notification("2025061200222112345", outTradeNo: "ORDER-1")
            guard case .stored(let id) = try await writer.append(incoming) else {
                Issue.record("expected .stored")
                return
            }
            let stored = try await database.read { db in try db.notifications(ids: [id]).first }
            #expect(stored?.body == incoming.body)
            #expect(stored?.notifyId == "2025061200222112345")
            #expect(stored?.outTradeNo == "ORDER-1")
            #expect(stored?.tradeStatus == "TRADE_SUCCESS")
            #expect(stored?.deliveryCount == 1)

            let jobs = try await StoreQueue(database).list(state: .pending, kind: .notification, limit: 10)
            #expect(jobs.count == 1)
            #expect(jobs.first?.notificationId == id)
            #expect(jobs.first?.notifyId == "2025061200222112345")
            #expect(jobs.first?.outTradeNo == "ORDER-1")
            #expect(jobs.first?.uniqueKey == "notification:2025061200222112345")
            await writer.shutdown()
        }
    }

    @Test("re-deliveries bump the delivery count and create no job, in the same batch or later")
    func duplicatesAreCounted() async throws {
        try await withDatabase { database in
            let writer = NotificationWriter(store: database, mode: .groupCommit(maxBatch: 8, maxWait: .seconds(10)))
            // Eight appends fill one batch: the same notify_id arrives four times inside it.
            let results = try await appendTogether(writer, (0..<8).map { notification($0 < 4 ? "DUP" : "U\($0)") }).map { try $0.get() }
            #expect(writer.counts.committedBatches == 1)
            #expect(results.filter(\.isStored).count == 5)
            let later = try await NotificationWriter(store: database, mode: .perRequest).append(notification("DUP"))
            guard case .duplicate(let id) = later else {
                Issue.record("expected .duplicate, got \(later)")
                return
            }
            let row = try database.pool.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT id, delivery_count, first_received_at <= last_received_at AS ordered FROM notifications WHERE notify_id = 'DUP'")
            }
            #expect(row?["id"] == id)
            #expect(row?["delivery_count"] == 5)
            #expect(row?["ordered"] == true)
            #expect(try database.count("jobs") == 5)
            #expect(writer.counts.duplicates == 3)
            await writer.shutdown()
        }
    }

    @Test("a failed commit fails every caller of its batch, stores none of it, and the next batch works")
    func failedCommitFailsTheWholeBatch() async throws {
        try await withDatabase { database in
            try await database.pool.write { db in
                try db.execute(
                    sql: """
                        CREATE TRIGGER poison BEFORE INSERT ON notifications WHEN NEW.notify_id = 'POISON'
                        BEGIN SELECT RAISE(ABORT, 'poisoned notification'); END
                        """)
            }
            let writer = NotificationWriter(store: database, mode: .groupCommit(maxBatch: 10, maxWait: .seconds(10)))
            let outcomes = try await appendTogether(writer, (0..<10).map { notification($0 == 5 ? "POISON" : "GOOD\($0)") })
            #expect(outcomes.count == 10)
            for outcome in outcomes {
                #expect(throws: StoreError.self) { try outcome.get() }
                if case .failure(let error) = outcome, case StoreError.unavailable(let reason)? = error as? StoreError {
                    #expect(reason.contains("poisoned notification"))
                }
            }
            #expect(writer.counts == NotificationWriter.Counts(committedBatches: 0, failedBatches: 1, stored: 0, duplicates: 0))
            #expect(try database.count("notifications") == 0)
            #expect(try database.count("jobs") == 0)

            // Alipay retries; the writer is still running and the next appends commit. (After a full batch the writer
            // does not hold a lone append for company, so how the ten split into batches is not fixed.)
            let retried = try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for index in 0..<10 {
                    let id = index == 5 ? "GOOD-NEW" : "GOOD\(index)"
                    group.addTask { try await writer.append(notification(id)) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(retried.allSatisfy { $0.isStored })
            #expect(try database.count("notifications") == 10)
            let counts = writer.counts
            #expect(counts.failedBatches == 1 && counts.stored == 10 && counts.duplicates == 0 && counts.committedBatches >= 1, "\(counts)")
            await writer.shutdown()
        }
    }

    @Test("a database locked by another connection past the busy timeout fails the append; the next one succeeds")
    func lockedDatabaseFailsThenRecovers() async throws {
        try await withDatabase(busyTimeout: .milliseconds(200)) { database in
            let writer = NotificationWriter(store: database, mode: .groupCommit(maxBatch: 16, maxWait: .zero))
            // Another process holding the write lock.
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true  // the transaction stays open across accesses on purpose
            let other = try DatabaseQueue(path: database.path, configuration: configuration)
            try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }

            await #expect(throws: StoreError.self) { try await writer.append(notification("LOCKED")) }
            #expect(writer.counts.failedBatches == 1)

            try await other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
            try other.close()
            #expect(try await writer.append(notification("LOCKED")).isStored)
            #expect(try database.count("notifications") == 1)
            await writer.shutdown()
        }
    }

    @Test("shutdown commits what is queued, without waiting out the gathering window, then refuses")
    func shutdownFlushesThenRefuses() async throws {
        try await withDatabase { database in
            let writer = NotificationWriter(store: database, mode: .groupCommit(maxBatch: 1000, maxWait: .seconds(600)))
            let appends = Task { try await appendTogether(writer, (0..<50).map { notification("S\($0)") }).map { try $0.get() } }
            let queued = ContinuousClock.now + .seconds(60)
            while writer.queuedCount < 50 {
                try #require(ContinuousClock.now < queued, "only \(writer.queuedCount) of 50 appends queued within a minute")
                try await Task.sleep(for: .milliseconds(1))
            }
            let started = ContinuousClock.now
            await writer.shutdown()
            #expect(ContinuousClock.now - started < .seconds(60))
            let results = try await appends.value
            #expect(results.count == 50)
            #expect(try database.count("notifications") == 50)
            #expect(writer.counts.committedBatches == 1)
            await #expect(throws: StoreError.shutDown) { try await writer.append(notification("LATE")) }
        }
    }

    @Test("per-request mode commits one transaction per append")
    func perRequestMode() async throws {
        try await withDatabase { database in
            let writer = NotificationWriter(store: database, mode: .perRequest)
            try await withThrowingTaskGroup(of: AppendResult.self) { group in
                for index in 0..<20 { group.addTask { try await writer.append(notification("P\(index)")) } }
                try await group.waitForAll()
            }
            #expect(writer.counts.committedBatches == 20)
            #expect(try await !writer.append(notification("P0")).isStored)
            #expect(writer.counts.duplicates == 1)
            await writer.shutdown()
            await #expect(throws: StoreError.shutDown) { try await writer.append(notification("LATE")) }
        }
    }
}

extension AppendResult {
    var isStored: Bool {
        if case .stored = self { return true }
        return false
    }
}

/// Appends `notifications` so that they form one batch: the first alone, until the writer holds it for company, then
/// the rest (a writer that finds two or more waiting takes them at once, so appending all together would race the
/// loop). Waits for every append; the results in the order of `notifications` are not promised, only their set.
func appendTogether(_ writer: NotificationWriter, _ notifications: [IncomingNotification]) async throws -> [Result<AppendResult, any Error>] {
    guard let first = notifications.first else { return [] }
    let lead = Task { () -> Result<AppendResult, any Error> in
        do { return .success(try await writer.append(first)) } catch { return .failure(error) }
    }
    let deadline = ContinuousClock.now + .seconds(60)
    while !writer.isGathering {
        guard ContinuousClock.now < deadline else { throw CancellationError() }
        try await Task.sleep(for: .milliseconds(1))
    }
    var results = await withTaskGroup(of: Result<AppendResult, any Error>.self) { group in
        for notification in notifications.dropFirst() {
            group.addTask {
                do { return .success(try await writer.append(notification)) } catch { return .failure(error) }
            }
        }
        return await group.reduce(into: []) { $0.append($1) }
    }
    results.append(await lead.value)
    return results
}
