import Foundation
import Logging
import NotifyStoreEngines
import StoreTestSupport
import NotifyStore
import Testing

/// The store contract, written once and run against every engine.
@Suite("Store conformance")
struct StoreConformanceTests {
    static let owner = "worker-a"

    func order(_ number: String, fen: Int64 = 8888, status: OrderStatus = .waitBuyerPay, at: Date = Date()) -> Order {
        Order(outTradeNo: number, subject: "conformance", totalAmountFen: fen, status: status, createdAt: at)
    }

    func notification(_ notifyId: String, order: String = "A1") -> IncomingNotification {
        IncomingNotification(notifyId: notifyId, outTradeNo: order, tradeStatus: "TRADE_SUCCESS", body: "notify_id=\(notifyId)&sign=x")
    }

    // MARK: Notifications and enqueue

    @Test("append stores a notify_id once, with one job; re-deliveries (also within one batch) only count", arguments: Engine.allCases)
    func appendDeduplicates(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let first = try await store.append([notification("n1"), notification("n2"), notification("n1")])
            guard case .stored(let id1) = first[0], case .stored = first[1], case .duplicate(let twin) = first[2] else {
                Issue.record("unexpected results \(first)")
                return
            }
            #expect(twin == id1)
            let again = try await store.append([notification("n1")])
            #expect(again == [.duplicate(notificationId: id1)])
            let (stats, stored) = try await store.read { db in (try db.queueStats(), try db.notification(notifyId: "n1")) }
            #expect(stats.pending == 2)
            #expect(stored?.deliveryCount == 3)
            #expect(stored?.body == "notify_id=n1&sign=x")
        }
    }

    @Test("two appenders racing on the same notify_id store it once and both get an answer", arguments: Engine.allCases)
    func concurrentAppendsOfOneNotifyId(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let results = try await withThrowingTaskGroup(of: [AppendResult].self) { group in
                for _ in 0..<8 { group.addTask { try await store.append([notification("race")]) } }
                return try await group.reduce(into: [AppendResult]()) { $0 += $1 }
            }
            #expect(results.count == 8)
            #expect(results.filter { if case .stored = $0 { true } else { false } }.count == 1)
            let stats = try await store.queueStats()
            #expect(stats.pending == 1)
        }
    }

    @Test("enqueue is idempotent on a live unique key, and a finished job does not block a new one", arguments: Engine.allCases)
    func enqueueUniqueKey(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let first = try await store.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:A1", outTradeNo: "A1", payload: #"{"a":1}"#))
            let second = try await store.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:A1", outTradeNo: "A1"))
            #expect(first.inserted && !second.inserted)
            #expect(second.job.id == first.job.id)
            #expect(first.job.payload == #"{"a":1}"#)
            let claimed = try await store.claim(owner: Self.owner, limit: 10, lease: .seconds(60), now: Date())
            try await store.write { tx in try tx.complete(claimed[0].lease!) }
            let third = try await store.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:A1", outTradeNo: "A1"))
            #expect(third.inserted)
        }
    }

    // MARK: Claims and leases

    @Test("N claimers on N connections never claim a job twice", arguments: Engine.allCases)
    func claimersNeverShareAJob(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let total = 300
            for chunk in stride(from: 0, to: total, by: 100) {
                _ = try await store.append((chunk..<chunk + 100).map { notification("c\($0)") })
            }
            let claims = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var mine: [Int64] = []
                        while true {
                            let jobs = try await store.claim(owner: "w\(worker)", limit: 7, lease: .seconds(60), now: Date())
                            if jobs.isEmpty { return mine }
                            mine += jobs.compactMap(\.id)
                        }
                    }
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            #expect(claims.count == total)
            #expect(Set(claims).count == total)
            #expect(try await store.queueStats().running == total)
        }
    }

    @Test("a job whose lease ended is claimed again, and the old owner can no longer finish it", arguments: Engine.allCases)
    func leaseTakeoverFencesTheOldOwner(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            _ = try await store.enqueue(NewJob(kind: .close, outTradeNo: "A1"))
            let start = Date()
            let old = try #require(try await store.claim(owner: "old", limit: 1, lease: .seconds(1), now: start).first)
            #expect(try await store.claim(owner: "new", limit: 1, lease: .seconds(30), now: start).isEmpty)
            let taken = try #require(try await store.claim(owner: "new", limit: 1, lease: .seconds(30), now: start.addingTimeInterval(2)).first)
            #expect(taken.id == old.id)
            #expect(taken.attempts == 2)

            let stale = old.lease!
            await #expect(throws: StoreError.leaseLost(jobId: stale.jobId)) { try await store.write { tx in try tx.complete(stale) } }
            await #expect(throws: StoreError.leaseLost(jobId: stale.jobId)) {
                try await store.write { tx in try tx.retry(stale, at: Date(), error: "late") }
            }
            await #expect(throws: StoreError.leaseLost(jobId: stale.jobId)) { try await store.write { tx in try tx.deadLetter(stale, reason: "late") } }
            // Same owner, earlier attempt: still fenced (the attempt number is part of the lease).
            let staleSameOwner = JobLease(jobId: taken.id!, owner: "new", attempt: 1)
            await #expect(throws: StoreError.leaseLost(jobId: taken.id!)) { try await store.write { tx in try tx.complete(staleSameOwner) } }

            try await store.write { tx in try tx.complete(taken.lease!) }
            let history = try await store.read { db in try db.jobHistory(taken.id!) }
            #expect(history.map(\.outcome) == [.leaseExpired, .done])
            #expect(history.first?.owner == "old")
        }
    }

    @Test("a fenced completion rolls back the whole unit of work", arguments: Engine.allCases)
    func fencedCompletionRollsBack(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(order("A1"))
            _ = try await store.enqueue(NewJob(kind: .notification, outTradeNo: "A1"))
            let start = Date()
            let stale = try #require(try await store.claim(owner: "old", limit: 1, lease: .seconds(1), now: start).first)
            _ = try await store.claim(owner: "new", limit: 1, lease: .seconds(30), now: start.addingTimeInterval(2))
            await #expect(throws: StoreError.leaseLost(jobId: stale.id!)) {
                try await store.write { tx in
                    let current = try #require(try tx.order("A1", forUpdate: true))
                    _ = try tx.transition(
                        current, to: .tradeSuccess, changes: OrderChanges(tradeNo: "T1"),
                        event: OrderEvent(outTradeNo: "A1", source: "notification", jobId: stale.id))
                    try tx.complete(stale.lease!)
                }
            }
            let (after, events) = try await store.read { db in (try db.order("A1"), try db.orderEvents("A1")) }
            #expect(after?.status == .waitBuyerPay)
            #expect(after?.tradeNo == nil)
            #expect(events.count == 1)
        }
    }

    @Test("extendLeases moves only leases still held; releaseLeases gives jobs back without counting the attempt", arguments: Engine.allCases)
    func extendAndRelease(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            _ = try await store.append([notification("e1"), notification("e2")])
            let now = Date()
            let jobs = try await store.claim(owner: Self.owner, limit: 2, lease: .seconds(1), now: now)
            let foreign = JobLease(jobId: jobs[1].id!, owner: "someone-else", attempt: 1)
            try await store.extendLeases([jobs[0].lease!, foreign], until: now.addingTimeInterval(600))
            let taken = try await store.claim(owner: "other", limit: 5, lease: .seconds(30), now: now.addingTimeInterval(5))
            #expect(taken.map(\.id) == [jobs[1].id])
            try await store.releaseLeases(owner: Self.owner)
            let released = try await store.read { db in try db.job(jobs[0].id!) }
            #expect(released?.state == .pending)
            #expect(released?.attempts == 0)
            #expect(released?.leaseOwner == nil)
        }
    }

    @Test("only due jobs of the asked kinds are claimed, oldest runAt first", arguments: Engine.allCases)
    func claimFiltersAndOrders(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Date()
            _ = try await store.enqueue(NewJob(kind: .reconcile, outTradeNo: "late", runAt: now.addingTimeInterval(-10)))
            _ = try await store.enqueue(NewJob(kind: .close, outTradeNo: "early", runAt: now.addingTimeInterval(-20)))
            _ = try await store.enqueue(NewJob(kind: .reconcile, outTradeNo: "future", runAt: now.addingTimeInterval(60)))
            _ = try await store.enqueue(NewJob(kind: "deliver", outTradeNo: "other-kind", runAt: now.addingTimeInterval(-30)))
            let claimed = try await store.claim(owner: Self.owner, limit: 10, lease: .seconds(30), now: now, kinds: [.reconcile, .close])
            #expect(claimed.map(\.outTradeNo) == ["early", "late"])
            #expect(claimed.allSatisfy { $0.state == .running && $0.attempts == 1 && $0.leaseOwner == Self.owner })
            let open = try await store.claim(owner: Self.owner, limit: 10, lease: .seconds(30), now: now)
            #expect(open.map(\.kind) == ["deliver"])
        }
    }

    // MARK: Retry, dead letters, replay

    @Test("retry, dead-letter and replay keep the history and reset attempts", arguments: Engine.allCases)
    func retryDeadReplay(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let enqueued = try await store.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:A1", outTradeNo: "A1"))
            let now = Date()
            let first = try #require(try await store.claim(owner: Self.owner, limit: 1, lease: .seconds(30), now: now).first)
            try await store.write { tx in try tx.retry(first.lease!, at: now.addingTimeInterval(5), error: "gateway 502") }
            #expect(try await store.claim(owner: Self.owner, limit: 1, lease: .seconds(30), now: now).isEmpty)
            let second = try #require(try await store.claim(owner: Self.owner, limit: 1, lease: .seconds(30), now: now.addingTimeInterval(6)).first)
            #expect(second.attempts == 2)
            #expect(second.lastError == "gateway 502")
            try await store.write { tx in try tx.deadLetter(second.lease!, reason: "gave up") }
            #expect(try await store.queueStats() == QueueStats(dead: 1))

            // A live job with the same key blocks the replay of its dead twin.
            let twin = try await store.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:A1", outTradeNo: "A1"))
            #expect(try await store.replay(.dead, dryRun: false).isEmpty)
            let twinClaim = try #require(try await store.claim(owner: Self.owner, limit: 1, lease: .seconds(30), now: Date().addingTimeInterval(7)).first)
            #expect(twinClaim.id == twin.job.id)
            try await store.write { tx in try tx.complete(twinClaim.lease!) }

            let dry = try await store.replay(.ids([enqueued.job.id!]), dryRun: true)
            #expect(dry.map(\.id) == [enqueued.job.id])
            #expect(try await store.read { db in try db.job(enqueued.job.id!) }?.state == .dead)
            let replayed = try await store.replay(.outTradeNo("A1"), dryRun: false)
            #expect(Set(replayed.compactMap(\.id)) == [enqueued.job.id!])
            let job = try await store.read { db in try db.job(enqueued.job.id!) }
            #expect(job?.state == .pending)
            #expect(job?.attempts == 0)
            let history = try await store.read { db in try db.jobHistory(enqueued.job.id!) }
            #expect(history.map(\.outcome) == [.retry, .dead, .replayed])
        }
    }

    // MARK: Prune

    @Test("prune deletes old done jobs and their notifications, never pending, running or dead ones", arguments: Engine.allCases)
    func prune(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            _ = try await store.append((0..<5).map { notification("p\($0)") })
            let now = Date()
            let jobs = try await store.claim(owner: Self.owner, limit: 5, lease: .seconds(30), now: now)
            try await store.write { tx in
                try tx.complete(jobs[0].lease!)
                try tx.complete(jobs[1].lease!)
                try tx.deadLetter(jobs[2].lease!, reason: "bad")
                try tx.retry(jobs[3].lease!, at: now, error: "later")
            }
            let nothing = try await store.prune(olderThan: now.addingTimeInterval(-3600))
            #expect(nothing.jobs == 0 && nothing.notifications == 0)
            let pruned = try await store.prune(olderThan: Date().addingTimeInterval(3600))
            #expect(pruned.jobs == 2)
            #expect(pruned.notifications == 2)
            let (stats, kept) = try await store.read { db in (try db.queueStats(), try db.notification(notifyId: jobs[2].notifyId!)) }
            #expect(stats == QueueStats(pending: 1, running: 1, done: 0, dead: 1))
            #expect(kept != nil)
        }
    }

    // MARK: Orders

    @Test("an order number is taken once; its creation is its first event", arguments: Engine.allCases)
    func insertOrder(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(order("A1"))
            await #expect(throws: StoreError.duplicate("order A1")) { try await store.insertOrder(order("A1")) }
            // A broken rule is not a duplicate, and writes nothing.
            do {
                try await store.insertOrder(order("ZERO", fen: 0))
                Issue.record("an order of 0 fen was stored")
            } catch let error as StoreError {
                guard case .constraint = error else { Issue.record("expected .constraint, got \(error)"); return }
            }
            let (found, events, counts) = try await store.read { db in (try db.order("A1"), try db.orderEvents("A1"), try db.orderCounts()) }
            #expect(found?.status == .waitBuyerPay)
            #expect(found?.totalAmountFen == 8888)
            #expect(events.map(\.toStatus) == [.waitBuyerPay])
            #expect(events.first?.fromStatus == nil)
            #expect(counts == [.waitBuyerPay: 1])
        }
    }

    @Test("a transition from a stale snapshot writes nothing", arguments: Engine.allCases)
    func staleTransition(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(order("A1"))
            let seen = try #require(try await store.order("A1"))
            let first = try await store.write { tx in
                try tx.transition(seen, to: .tradeSuccess, changes: OrderChanges(tradeNo: "T1"), event: OrderEvent(outTradeNo: "A1", source: "test"))
            }
            let second = try await store.write { tx in
                try tx.transition(seen, to: .tradeClosed, changes: OrderChanges(), event: OrderEvent(outTradeNo: "A1", source: "test"))
            }
            #expect(first && !second)
            // Same status, other refunded amount: a partial refund from an old snapshot is stale too.
            let paid = try #require(try await store.order("A1"))
            #expect(try await store.write { tx in try tx.transition(paid, to: .tradeSuccess, changes: OrderChanges(refundedFen: 100), event: OrderEvent(outTradeNo: "A1", source: "test")) })
            #expect(!(try await store.write { tx in try tx.transition(paid, to: .tradeSuccess, changes: OrderChanges(refundedFen: 200), event: OrderEvent(outTradeNo: "A1", source: "test")) }))
            let (after, events) = try await store.read { db in (try db.order("A1"), try db.orderEvents("A1")) }
            #expect(after?.status == .tradeSuccess)
            #expect(after?.refundedFen == 100)
            #expect(events.map(\.toStatus) == [.waitBuyerPay, .tradeSuccess, .tradeSuccess])
            #expect(events[1].fromStatus == .waitBuyerPay)
        }
    }

    @Test("concurrent units of work on one order never lose an update or double a transition", arguments: Engine.allCases)
    func concurrentTransitionsOnOneOrder(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            try await store.insertOrder(order("A1", fen: 10_000))
            // 8 writers each add a refund of 1 fen to what they read (for update): with a lost update the total
            // would fall short; with a doubled transition there would be more events than writers.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<8 {
                    group.addTask {
                        try await store.write { tx in
                            let current = try #require(try tx.order("A1", forUpdate: true))
                            let moved = try tx.transition(
                                current, to: .waitBuyerPay, changes: OrderChanges(refundedFen: current.refundedFen + 1),
                                event: OrderEvent(outTradeNo: "A1", source: "writer-\(index)"))
                            #expect(moved)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let (after, events) = try await store.read { db in (try db.order("A1"), try db.orderEvents("A1")) }
            #expect(after?.refundedFen == 8)
            #expect(events.count == 9)
        }
    }

    @Test("review flags, the sweeper's query and listing", arguments: Engine.allCases)
    func reviewAndSweepQueries(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let old = Date().addingTimeInterval(-3600)
            try await store.insertOrder(order("OLD1", at: old))
            try await store.insertOrder(order("OLD2", at: old.addingTimeInterval(1)))
            try await store.insertOrder(order("PAID", status: .tradeSuccess, at: old))
            try await store.insertOrder(order("NEW", at: Date()))
            try await store.insertOrder(order("FLAGGED", at: old))
            _ = try await store.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:OLD2", outTradeNo: "OLD2"))
            #expect(try await store.write { tx in try tx.flagForReview("PAID", reason: "amount_mismatch: test") })
            // A flagged unpaid order waits for a person: the sweeper schedules nothing more for it.
            #expect(try await store.write { tx in try tx.flagForReview("FLAGGED", reason: "amount_mismatch: test") })
            #expect(!(try await store.write { tx in try tx.flagForReview("NOPE", reason: "x") }))
            let (sweep, review, listed, latest) = try await store.read { db in
                (
                    try db.ordersWithoutJobs(
                        statuses: OrderStatus.unpaid, createdBefore: Date().addingTimeInterval(-60), liveKinds: [.reconcile, .close],
                        deadKinds: [.close], limit: 10),
                    try db.ordersNeedingReview(),
                    try db.orders(status: .waitBuyerPay, limit: 10),
                    try db.latestJob(kind: .reconcile, outTradeNo: "OLD2")
                )
            }
            #expect(sweep.map(\.outTradeNo) == ["OLD1"])
            #expect(review == 2)
            #expect(Set(listed.map(\.outTradeNo)) == ["OLD1", "OLD2", "NEW", "FLAGGED"])
            #expect(latest?.outTradeNo == "OLD2")
        }
    }

    // MARK: Refused bodies

    @Test("refused bodies are kept newest first, only the newest `keep`", arguments: Engine.allCases)
    func rejectedBodies(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            for index in 0..<7 {
                try await store.recordRejected(
                    RejectedNotification(receivedAt: Date(), reason: "bad_signature", detail: "signature \(index) does not verify", body: "a=\(index)&sign=x"),
                    keep: 5)
            }
            let (rows, first) = try await store.read { db in (try db.rejectedNotifications(limit: 100), try db.rejectedNotification(id: 1)) }
            #expect(rows.map(\.body) == (2..<7).reversed().map { "a=\($0)&sign=x" })
            #expect(first == nil, "the oldest were dropped")
            let newest = try #require(rows.first)
            #expect(try await store.read { db in try db.rejectedNotification(id: newest.id!) } == newest)
        }
    }

    // MARK: Wake-ups

    @Test("a commit that enqueued jobs wakes the workers (PostgreSQL: LISTEN/NOTIFY; SQLite: a datagram per listener)", arguments: Engine.allCases)
    func wakeUps(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let stream = try #require(store.jobWakeUps(), "\(engine) offers no wake-ups")
            // The listener connects in the background: keep appending until a wake-up arrives (bounded).
            let woke = try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in stream { return true }
                    return false
                }
                group.addTask {
                    for index in 0..<100 {
                        _ = try await store.append([notification("wake\(index)")])
                        try await Task.sleep(for: .milliseconds(100))
                    }
                    return false
                }
                let first = try await group.next() ?? false
                group.cancelAll()
                return first
            }
            #expect(woke, "no wake-up within 100 commits that enqueued jobs")
        }
    }

    // MARK: Copy

    @Test(
        "a copy keeps every row and id, is idempotent, and new rows continue after the copied ids (each engine to each)",
        arguments: [(Engine.sqlite, Engine.sqlite), (.sqlite, .postgres), (.postgres, .sqlite), (.postgres, .postgres)])
    func copy(from sourceEngine: Engine, to engine: Engine) async throws {
        try await sourceEngine.withFreshStore { source, _ in
            try await source.insertOrder(order("C1"))
            try await source.insertOrder(order("C2", status: .tradeSuccess))
            _ = try await source.append((0..<5).map { notification("copy\($0)", order: "C1") })
            let claimed = try await source.claim(owner: Self.owner, limit: 2, lease: .seconds(30), now: Date())
            try await source.write { tx in
                try tx.complete(claimed[0].lease!)
                try tx.retry(claimed[1].lease!, at: Date(), error: "later")
                let current = try #require(try tx.order("C1", forUpdate: true))
                _ = try tx.transition(current, to: .tradeSuccess, changes: OrderChanges(tradeNo: "T1"), event: OrderEvent(outTradeNo: "C1", source: "test"))
            }
            try await engine.withFreshStore { target, _ in
                let first = try await StoreCopier.copy(from: source, to: target, pageSize: 2)
                #expect(first.allSatisfy { $0.source == $0.target && $0.copied == $0.source }, "\(first)")
                #expect(first.first { $0.table == .jobAttempts }?.source == 2)
                let again = try await StoreCopier.copy(from: source, to: target, pageSize: 2)
                #expect(again.allSatisfy { $0.copied == 0 && $0.source == $0.target }, "\(again)")

                let (copiedOrder, events, job) = try await target.read { db in
                    (try db.order("C1"), try db.orderEvents("C1"), try db.job(claimed[1].id!))
                }
                #expect(copiedOrder?.status == .tradeSuccess && copiedOrder?.tradeNo == "T1")
                #expect(events.map(\.toStatus) == [.waitBuyerPay, .tradeSuccess])
                #expect(job?.lastError == "later" && job?.attempts == 1)
                // New writes in the target get ids after the copied ones.
                let fresh = try await target.append([notification("after-copy", order: "C2")])
                guard case .stored(let id) = fresh[0] else { Issue.record("\(fresh)"); return }
                let maxCopied = try await source.read { db in try db.notification(notifyId: "copy4")?.id } ?? 0
                #expect(id > maxCopied)
                #expect(try await target.queueStats().pending == 5)
            }
        }
    }

    // MARK: Savepoints, migrations, health

    @Test("a failing savepoint undoes only its own writes", arguments: Engine.allCases)
    func savepoints(engine: Engine) async throws {
        struct Boom: Error {}
        try await engine.withFreshStore { store, _ in
            try await store.write { tx in
                try tx.insertOrder(order("KEEP"))
                _ = try? tx.savepoint {
                    try tx.insertOrder(order("DROP"))
                    throw Boom()
                }
                try tx.insertOrder(order("ALSO"))
            }
            let counts = try await store.read { db in try db.orders(status: nil, limit: 10).map(\.outTradeNo) }
            #expect(Set(counts) == ["KEEP", "ALSO"])
        }
    }

    @Test("several hosts starting at once on an empty database: every one opens, the migrations run once", arguments: Engine.allCases)
    func concurrentStartMigratesOnce(engine: Engine) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        guard let (text, remove) = try engine.freshLocationOrReport(folder: folder) else { return }
        defer { remove() }
        let url = try StoreURL(parsing: text)
        var quiet = Logger(label: "conformance")
        quiet.logLevel = .warning
        let logger = quiet
        let applied = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await StoreEngines.withStore(url, logger: logger) { store in store.migrationsAppliedOnOpen }
                }
            }
            return try await group.reduce(into: [[String]]()) { $0.append($1) }
        }
        #expect(applied.filter { !$0.isEmpty }.count == 1, "exactly one opener migrated: \(applied)")
        let known = try await StoreEngines.withStore(url, logger: logger) { $0.knownMigrations }
        #expect(applied.flatMap { $0 } == known)
    }

    @Test("migrations are named, applied once, and readiness commits", arguments: Engine.allCases)
    func migrationsAndHealth(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            #expect(store.knownMigrations.starts(with: ["v1-initial-schema", "v2-job-payload"]))
            let pending = try await store.pendingMigrations()
            let applied = try await store.migrate()
            #expect(pending.isEmpty)
            #expect(applied.isEmpty)
            #expect(await store.isWritable())
            #expect(!store.location.contains("secret"))
        }
    }
}
