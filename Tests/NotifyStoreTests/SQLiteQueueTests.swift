import Foundation
import GRDB
import Testing

@testable import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport

@Suite("The SQLite job queue")
struct SQLiteQueueTests {
    @Test("enqueue is idempotent on the unique key among live jobs")
    func enqueueIsIdempotent() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let first = try await queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:T1", outTradeNo: "T1", runAt: testNow))
            let second = try await queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:T1", outTradeNo: "T1", runAt: testNow))
            #expect(first.inserted)
            #expect(!second.inserted)
            #expect(second.job.id == first.job.id)
            #expect(try database.count("jobs") == 1)

            // Still one while it runs; a new one once it is done.
            let claimed = try await queue.claim(owner: "w1", limit: 10, lease: .seconds(30), now: testNow)
            #expect(claimed.map(\.id) == [first.job.id])
            #expect(try await !queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:T1", runAt: testNow)).inserted)
            try await queue.complete(first.job.id!, owner: "w1")
            let third = try await queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:T1", runAt: testNow))
            #expect(third.inserted)
            #expect(third.job.id != first.job.id)

            // Jobs without a key are never merged.
            _ = try await queue.enqueue(NewJob(kind: .close, runAt: testNow))
            _ = try await queue.enqueue(NewJob(kind: .close, runAt: testNow))
            #expect(try await queue.list(state: nil, kind: .close, limit: 10).count == 2)
        }
    }

    @Test("claim leases due jobs, counts the attempt and skips jobs not yet due")
    func claimSetsLease() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let due = try await queue.enqueue(NewJob(kind: .notification, outTradeNo: "T1", runAt: testNow.addingTimeInterval(-5))).job
            let later = try await queue.enqueue(NewJob(kind: .notification, outTradeNo: "T2", runAt: testNow.addingTimeInterval(60))).job

            let claimed = try await queue.claim(owner: "worker-a", limit: 10, lease: .seconds(300), now: testNow)
            let job = try #require(claimed.first)
            #expect(claimed.count == 1)
            #expect(job.id == due.id)
            #expect(job.state == .running)
            #expect(job.attempts == 1)
            #expect(job.leaseOwner == "worker-a")
            #expect(abs(job.leaseExpiresAt!.timeIntervalSince(testNow) - 300) < 0.01)
            #expect(try await queue.claim(owner: "worker-b", limit: 10, lease: .seconds(30), now: testNow).isEmpty)

            let afterwards = try await queue.claim(owner: "worker-b", limit: 10, lease: .seconds(30), now: testNow.addingTimeInterval(61))
            #expect(afterwards.map(\.id) == [later.id])
        }
    }

    @Test("a claim that finds nothing due answers without the writer: another connection's write transaction does not hold it up")
    func claimOfNothingNeedsNoWriter() async throws {
        try await withDatabase(busyTimeout: .milliseconds(200)) { database in
            let queue = StoreQueue(database)
            let later = try await queue.enqueue(NewJob(kind: .reconcile, outTradeNo: "T1", runAt: testNow.addingTimeInterval(60))).job
            // Another process in the middle of a write transaction (a worker's batch committing, say).
            var configuration = Configuration()
            configuration.allowsUnsafeTransactions = true
            let other = try DatabaseQueue(path: database.path, configuration: configuration)
            try await other.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }

            // Nothing due: answered from a reader at once (it used to wait for the writer, then fail as busy).
            #expect(try await queue.claim(owner: "w1", limit: 8, lease: .seconds(30), now: testNow, kinds: [.reconcile, .close]).isEmpty)
            // Something due: that is a write, and waits for the writer like any other.
            await #expect(throws: StoreError.self) {
                try await queue.claim(owner: "w1", limit: 8, lease: .seconds(30), now: testNow.addingTimeInterval(61), kinds: [.reconcile])
            }

            try await other.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
            let claimed = try await queue.claim(owner: "w1", limit: 8, lease: .seconds(30), now: testNow.addingTimeInterval(61), kinds: [.reconcile])
            #expect(claimed.map(\.id) == [later.id])
        }
    }

    @Test("a job taken inside a write goes from pending to done without running; one not finished stays pending, and its lease ends with the write")
    func takenJobsNeverRun() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            for name in ["T1", "T2"] { _ = try await queue.enqueue(NewJob(kind: .notification, outTradeNo: name, runAt: testNow)) }
            let candidates = try await database.read { db in try db.claimableJobs(kinds: [.notification], now: testNow, limit: 10) }
            #expect(candidates.count == 2)
            // Every state the jobs' row passes through, as the triggers of a watcher would see them.
            try await database.pool.write { db in
                try db.execute(sql: "CREATE TABLE seen (state TEXT)")
                try db.execute(sql: "CREATE TRIGGER watch AFTER UPDATE OF state ON jobs BEGIN INSERT INTO seen VALUES (new.state); END")
            }
            let leases = try await database.write { tx in
                let taken = try tx.take(candidates, owner: "w1", lease: .seconds(30), now: testNow)
                try tx.complete(taken[0].lease!)
                return taken.map { $0.lease! }
            }
            #expect(try await database.pool.read { db in try String.fetchAll(db, sql: "SELECT state FROM seen") } == ["done"])
            let untouched = try #require(try await database.read { db in try db.job(candidates[1].id!) })
            #expect(untouched.state == .pending && untouched.attempts == 0, "not finished: as it was, the attempt not counted")
            await #expect(throws: StoreError.leaseLost(jobId: candidates[1].id!)) {
                try await database.write { tx in try tx.complete(leases[1]) }
            }
        }
    }

    @Test("many concurrent claimers never get the same job")
    func concurrentClaimsAreExclusive() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            try await database.write { tx in
                for index in 0..<300 {
                    _ = try tx.enqueue(NewJob(kind: .notification, outTradeNo: "T\(index)", runAt: testNow))
                }
            }
            let claimedIds = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for worker in 0..<12 {
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let jobs = try await queue.claim(owner: "worker-\(worker)", limit: 7, lease: .seconds(60), now: testNow)
                            if jobs.isEmpty { return mine }
                            #expect(jobs.allSatisfy { $0.leaseOwner == "worker-\(worker)" && $0.attempts == 1 })
                            mine += jobs.map { $0.id! }
                        }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(claimedIds.count == 300)
            #expect(Set(claimedIds).count == 300)
            #expect(try await queue.stats() == QueueStats(pending: 0, running: 300, done: 0, dead: 0))
        }
    }

    @Test("an expired lease is claimed again by another owner, and the old owner is fenced off")
    func expiredLeaseIsTakenOver() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let id = try await queue.enqueue(NewJob(kind: .notification, runAt: testNow)).job.id!
            _ = try await queue.claim(owner: "dead-worker", limit: 1, lease: .seconds(30), now: testNow)

            // Before the lease ends nobody else gets it.
            #expect(try await queue.claim(owner: "worker-b", limit: 1, lease: .seconds(30), now: testNow.addingTimeInterval(29)).isEmpty)

            let retaken = try await queue.claim(owner: "worker-b", limit: 1, lease: .seconds(30), now: testNow.addingTimeInterval(31))
            #expect(retaken.map(\.id) == [id])
            #expect(retaken.first?.attempts == 2)
            #expect(retaken.first?.leaseOwner == "worker-b")

            await #expect(throws: StoreError.leaseLost(jobId: id)) { try await queue.complete(id, owner: "dead-worker") }
            await #expect(throws: StoreError.leaseLost(jobId: id)) {
                try await queue.retry(id, owner: "dead-worker", at: testNow, error: "boom")
            }
            await #expect(throws: StoreError.leaseLost(jobId: id)) {
                try await queue.deadLetter(id, owner: "dead-worker", reason: "no")
            }
            // The old owner's heartbeat no longer moves the new owner's lease.
            let before = try await queue.job(id)?.leaseExpiresAt
            try await queue.extendLeases([id], owner: "dead-worker", until: testNow.addingTimeInterval(600))
            #expect(try await queue.job(id)?.leaseExpiresAt == before)

            try await queue.complete(id, owner: "worker-b")
            // Finished: even the last owner can no longer change it.
            await #expect(throws: StoreError.leaseLost(jobId: id)) { try await queue.complete(id, owner: "worker-b") }
            await #expect(throws: StoreError.notFound("job 999999")) { try await queue.complete(999_999, owner: "worker-b") }

            let job = try #require(try await queue.job(id))
            #expect(job.state == .done)
            #expect(job.leaseOwner == nil && job.leaseExpiresAt == nil)
            let history = try await queue.history(id)
            #expect(history.map(\.outcome) == [.leaseExpired, .done])
            #expect(history.map(\.owner) == ["dead-worker", "worker-b"])
            #expect(history.map(\.attempt) == [1, 2])
        }
    }

    @Test("the fenced calls work inside the caller's transaction and roll back with it")
    func fencedCallsJoinTheCallersTransaction() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let id = try await queue.enqueue(NewJob(kind: .notification, runAt: testNow)).job.id!
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await database.write { tx in
                    try tx.complete(try StoreQueue.lease(id, owner: "w", in: tx))
                    throw Abort()
                }
            }
            #expect(try await queue.job(id)?.state == .running)
            #expect(try await queue.history(id).isEmpty)
        }
    }

    @Test("extendLeases keeps long jobs from being taken over, and never touches a job leased to someone else")
    func extendLeases() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let id = try await queue.enqueue(NewJob(kind: .reconcile, runAt: testNow)).job.id!
            let other = try await queue.enqueue(NewJob(kind: .close, runAt: testNow.addingTimeInterval(1))).job.id!
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)
            _ = try await queue.claim(owner: "v", limit: 1, lease: .seconds(30), now: testNow.addingTimeInterval(1))
            try await queue.extendLeases([id, other], owner: "w", until: testNow.addingTimeInterval(300))
            let taken = try await queue.claim(owner: "x", limit: 2, lease: .seconds(30), now: testNow.addingTimeInterval(60))
            #expect(taken.map(\.id) == [other], "only w's job was extended")
            #expect(try await queue.claim(owner: "y", limit: 2, lease: .seconds(30), now: testNow.addingTimeInterval(299)).map(\.id) == [other])
            #expect(try await queue.claim(owner: "y", limit: 2, lease: .seconds(30), now: testNow.addingTimeInterval(301)).map(\.id) == [id])
        }
    }

    @Test("claim with kinds leases only jobs of those kinds, due ones and expired leases alike")
    func claimByKind() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let notification = try await queue.enqueue(NewJob(kind: .notification, runAt: testNow)).job.id!
            let reconcile = try await queue.enqueue(NewJob(kind: .reconcile, runAt: testNow)).job.id!
            let close = try await queue.enqueue(NewJob(kind: .close, runAt: testNow)).job.id!
            let batch = try await queue.claim(owner: "w", limit: 10, lease: .seconds(30), now: testNow, kinds: [.notification])
            #expect(batch.map(\.id) == [notification])
            let others = try await queue.claim(owner: "w", limit: 10, lease: .seconds(30), now: testNow, kinds: [.reconcile, .close])
            #expect(others.map(\.id) == [reconcile, close])
            #expect(try await queue.claim(owner: "w", limit: 10, lease: .seconds(30), now: testNow, kinds: []).isEmpty)
            // After the leases end, a notification-only claim takes over only the notification.
            let retaken = try await queue.claim(owner: "x", limit: 10, lease: .seconds(30), now: testNow.addingTimeInterval(31), kinds: [.notification])
            #expect(retaken.map(\.id) == [notification])
        }
    }

    @Test("retry puts the job back to pending at the given time with the error")
    func retryReschedules() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let id = try await queue.enqueue(NewJob(kind: .reconcile, runAt: testNow)).job.id!
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)
            try await queue.retry(id, owner: "w", at: testNow.addingTimeInterval(120), error: "trade.query timed out")

            let job = try #require(try await queue.job(id))
            #expect(job.state == .pending)
            #expect(job.runAt == testNow.addingTimeInterval(120))
            #expect(job.lastError == "trade.query timed out")
            #expect(job.leaseOwner == nil)
            #expect(job.attempts == 1)
            #expect(try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow.addingTimeInterval(119)).isEmpty)
            let again = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow.addingTimeInterval(120))
            #expect(again.first?.attempts == 2)
            #expect(try await queue.history(id).map(\.outcome) == [.retry])
        }
    }

    @Test("dead-lettering keeps the reason and the job is never claimed again")
    func deadLetterKeepsReason() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let id = try await queue.enqueue(NewJob(kind: .notification, outTradeNo: "T9", runAt: testNow)).job.id!
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)
            try await queue.deadLetter(id, owner: "w", reason: "total_amount 88.80 differs from the order's 88.88")

            let job = try #require(try await queue.job(id))
            #expect(job.state == .dead)
            #expect(job.lastError == "total_amount 88.80 differs from the order's 88.88")
            #expect(try await queue.claim(owner: "w", limit: 5, lease: .seconds(1), now: testNow.addingTimeInterval(86_400)).isEmpty)
            #expect(try await queue.stats().dead == 1)
            #expect(try await queue.history(id).last?.error == "total_amount 88.80 differs from the order's 88.88")
        }
    }

    @Test("replay puts dead and done jobs back with attempts reset and history kept")
    func replayResetsAttemptsAndKeepsHistory() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let dead = try await queue.enqueue(NewJob(kind: .notification, outTradeNo: "T1", runAt: testNow)).job.id!
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)
            try await queue.retry(dead, owner: "w", at: testNow, error: "transient")
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)
            try await queue.deadLetter(dead, owner: "w", reason: "gave up")
            let pending = try await queue.enqueue(NewJob(kind: .notification, outTradeNo: "T1", runAt: Date().addingTimeInterval(3600))).job.id!

            let preview = try await queue.replay(.dead, dryRun: true)
            #expect(preview.map(\.id) == [dead])
            #expect(try await queue.job(dead)?.state == .dead)

            let replayed = try await queue.replay(.dead, dryRun: false)
            #expect(replayed.map(\.id) == [dead])
            let job = try #require(replayed.first)
            #expect(job.state == .pending)
            #expect(job.attempts == 0)
            #expect(job.leaseOwner == nil)
            #expect(try await queue.history(dead).map(\.outcome) == [.retry, .dead, .replayed])
            #expect(try await queue.history(dead).last?.attempt == 2)

            // Replay by id touches only finished jobs; the pending one is left as it is.
            #expect(try await queue.replay(.ids([dead, pending]), dryRun: false).isEmpty)
            let claimed = try await queue.claim(owner: "w2", limit: 1, lease: .seconds(30), now: Date())
            #expect(claimed.map(\.id) == [dead])
            #expect(claimed.first?.attempts == 1)
            try await queue.complete(dead, owner: "w2")

            // Done jobs of an order can be replayed too.
            #expect(try await queue.replay(.outTradeNo("T1"), dryRun: false).map(\.id) == [dead])
            #expect(try await queue.history(dead).map(\.outcome) == [.retry, .dead, .replayed, .done, .replayed])
        }
    }

    @Test("replay leaves a finished job alone while another live job holds its unique key")
    func replaySkipsLiveTwin() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let old = try await queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:T1", runAt: testNow)).job.id!
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)
            try await queue.deadLetter(old, owner: "w", reason: "x")
            let live = try await queue.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:T1", runAt: testNow))
            #expect(live.inserted)
            #expect(try await queue.replay(.ids([old]), dryRun: false).isEmpty)
            #expect(try await queue.job(old)?.state == .dead)
        }
    }

    @Test("releaseLeases gives running jobs back without counting the attempt")
    func releaseLeases() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            for _ in 0..<3 { _ = try await queue.enqueue(NewJob(kind: .close, runAt: testNow)) }
            _ = try await queue.claim(owner: "leaving", limit: 2, lease: .seconds(30), now: testNow)
            _ = try await queue.claim(owner: "staying", limit: 1, lease: .seconds(30), now: testNow)
            try await queue.releaseLeases(owner: "leaving")
            #expect(try await queue.stats() == QueueStats(pending: 2, running: 1, done: 0, dead: 0))
            let pending = try await queue.list(state: .pending, kind: nil, limit: 10)
            #expect(pending.allSatisfy { $0.attempts == 0 && $0.leaseOwner == nil })
            #expect(try await queue.history(pending[0].id!).map(\.outcome) == [.released])
        }
    }

    @Test("stats, list and the oldest pending age describe the queue")
    func statsAndList() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            #expect(try await queue.stats() == QueueStats())
            #expect(try await queue.oldestPendingAge(now: testNow) == nil)
            for index in 0..<4 {
                _ = try await queue.enqueue(
                    NewJob(kind: index.isMultiple(of: 2) ? .notification : .reconcile, runAt: testNow.addingTimeInterval(Double(-10 * index))))
            }
            _ = try await queue.enqueue(NewJob(kind: .close, runAt: testNow.addingTimeInterval(500)))
            #expect(try await queue.oldestPendingAge(now: testNow) == 30)

            let claimed = try await queue.claim(owner: "w", limit: 2, lease: .seconds(30), now: testNow)
            #expect(claimed.map(\.runAt) == [testNow.addingTimeInterval(-30), testNow.addingTimeInterval(-20)])
            try await queue.complete(claimed[0].id!, owner: "w")
            try await queue.deadLetter(claimed[1].id!, owner: "w", reason: "bad")
            _ = try await queue.claim(owner: "w", limit: 1, lease: .seconds(30), now: testNow)

            let stats = try await queue.stats()
            #expect(stats == QueueStats(pending: 2, running: 1, done: 1, dead: 1))
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(stats)) as? [String: Int]
            #expect(json == ["pending": 2, "running": 1, "done": 1, "dead": 1])

            let all = try await queue.list(state: nil, kind: nil, limit: 10)
            #expect(all.map { $0.id! } == all.map { $0.id! }.sorted(by: >))
            #expect(all.count == 5)
            #expect(try await queue.list(state: nil, kind: nil, limit: 2).count == 2)
            #expect(try await queue.list(state: .dead, kind: nil, limit: 10).map(\.id) == [claimed[1].id])
            #expect(try await queue.list(state: .pending, kind: .close, limit: 10).count == 1)
            #expect(try await queue.list(state: .done, kind: .close, limit: 10).isEmpty)
            #expect(try await queue.oldestPendingAge(now: testNow) == 0)
        }
    }

    @Test("prune removes old done jobs and their notifications, never pending, running or dead ones")
    func pruneKeepsUnfinishedWork() async throws {
        try await withDatabase { database in
            let queue = StoreQueue(database)
            let writer = NotificationWriter(store: database, mode: .perRequest)
            for index in 0..<5 { _ = try await writer.append(notification("N\(index)", outTradeNo: "T\(index)")) }
            let jobs = try await queue.claim(owner: "w", limit: 5, lease: .seconds(30), now: Date())
            #expect(jobs.count == 5)
            try await queue.complete(jobs[0].id!, owner: "w")
            try await queue.complete(jobs[1].id!, owner: "w")
            try await queue.deadLetter(jobs[2].id!, owner: "w", reason: "unknown order")
            try await queue.retry(jobs[3].id!, owner: "w", at: Date(), error: "later")
            // jobs[4] stays running.

            #expect(try await queue.prune(olderThan: Date().addingTimeInterval(-3600)) == (0, 0))
            let pruned = try await queue.prune(olderThan: Date().addingTimeInterval(60))
            #expect(pruned == (2, 2))
            #expect(try await queue.stats() == QueueStats(pending: 1, running: 1, done: 0, dead: 1))
            let left = try await database.pool.read { db in
                try String.fetchSet(db, sql: "SELECT notify_id FROM notifications")
            }
            #expect(left == ["N2", "N3", "N4"])
            #expect(try await queue.history(jobs[0].id!).isEmpty)
            #expect(try await queue.history(jobs[2].id!).map(\.outcome) == [.dead])
            await writer.shutdown()
        }
    }

    @Test("claim, enqueue, prune and the pending age are answered from indexes, without a scan or a sort")
    func hotQueriesUseIndexes() async throws {
        try await withDatabase { database in
            let plans: [(sql: String, index: String)] = [
                (SQLiteQueue.Reads.dueOfKind, "jobs_pending_kind_run_at"),
                (SQLiteQueue.Reads.nextPendingKind, "jobs_pending_kind_run_at"),
                (
                    "SELECT * FROM jobs INDEXED BY jobs_running_lease WHERE state = 'running' AND lease_expires_at <= ? "
                        + "ORDER BY lease_expires_at, id LIMIT ?",
                    "jobs_running_lease"
                ),
                ("SELECT * FROM jobs WHERE unique_key = ? AND state IN ('pending', 'running')", "jobs_live_unique_key"),
                ("SELECT id FROM jobs INDEXED BY jobs_done_updated_at WHERE state = 'done' AND updated_at < ? LIMIT 1000", "jobs_done_updated_at"),
                (SQLiteQueue.Reads.oldestDueOfKind, "jobs_pending_kind_run_at"),
                (SQLiteQueue.Reads.notificationsToPrune, "INTEGER PRIMARY KEY"),
            ]
            for (sql, index) in plans {
                let plan = try database.pool.read { db in
                    try Row.fetchAll(
                        db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: StatementArguments(Array(repeating: 1, count: sql.count { $0 == "?" }))
                    )
                    .map { $0["detail"] as String }
                    .joined(separator: "; ")
                }
                #expect(plan.contains(index), "\(sql) → \(plan)")
                #expect(!plan.contains("SCAN "), "\(sql) → \(plan)")
                #expect(!plan.contains("TEMP B-TREE"), "\(sql) → \(plan)")
            }
        }
    }
}
