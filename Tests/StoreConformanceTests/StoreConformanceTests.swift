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

    func notification(_ notifyId: String, order: String = "A1", seal: String? = nil) -> IncomingNotification {
        IncomingNotification(notifyId: notifyId, outTradeNo: order, tradeStatus: "TRADE_SUCCESS", body: "notify_id=\(notifyId)&sign=x", seal: seal)
    }

    // MARK: Notifications and enqueue

    @Test("append stores a notify_id once, with one job; re-deliveries (also within one batch) only count", arguments: Engine.allCases)
    func appendDeduplicates(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let first = try await store.append([notification("n1", seal: "c2VhbA=="), notification("n2"), notification("n1", seal: "b3RoZXI=")])
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
            // The receiver's seal is the first delivery's; a notification stored without one has none.
            let byId = try await store.read { db in try db.notifications(ids: [id1]) + [try db.notification(notifyId: "n2")].compactMap { $0 } }
            #expect(byId.map(\.seal) == ["c2VhbA==", nil])
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

    @Test("a first-try success writes no history row; any job with history (a retry, a replay) keeps adding to it", arguments: Engine.allCases)
    func firstTrySuccessHasNoHistoryRow(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let clean = try await store.enqueue(NewJob(kind: .close, outTradeNo: "A1")).job
            let retried = try await store.enqueue(NewJob(kind: .close, outTradeNo: "A2")).job
            let both = try await store.claim(owner: Self.owner, limit: 2, lease: .seconds(30), now: Date())
            #expect(both.count == 2)
            let cleanLease = try #require(both.first { $0.id == clean.id }?.lease)
            let retriedLease = try #require(both.first { $0.id == retried.id }?.lease)
            try await store.write { tx in
                try tx.complete(cleanLease)
                try tx.retry(retriedLease, at: Date(), error: "busy")
            }
            let again = try #require(try await store.claim(owner: Self.owner, limit: 1, lease: .seconds(30), now: Date().addingTimeInterval(1)).first)
            try await store.write { tx in try tx.complete(again.lease!) }
            // Replaying the clean job (done, no history) and running it again: the replay is history, so is the run.
            _ = try await store.replay(.ids([clean.id!]), dryRun: false)
            let rerun = try #require(try await store.claim(owner: Self.owner, limit: 1, lease: .seconds(30), now: Date().addingTimeInterval(2)).first)
            #expect(rerun.id == clean.id && rerun.attempts == 1)
            try await store.write { tx in try tx.complete(rerun.lease!) }
            let (cleanJob, retriedHistory, cleanHistory) = try await store.read { db in
                (try db.job(clean.id!), try db.jobHistory(retried.id!), try db.jobHistory(clean.id!))
            }
            #expect(cleanJob?.state == .done && cleanJob?.attempts == 1)
            #expect(retriedHistory.map(\.outcome) == [.retry, .done])
            #expect(cleanHistory.map(\.outcome) == [.replayed, .done])
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

    @Test(
        "only due jobs of the asked kinds are claimed, oldest runAt first; reads naming no kind see every kind",
        arguments: Engine.allCases)
    func claimFiltersAndOrders(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
            _ = try await store.enqueue(NewJob(kind: .reconcile, outTradeNo: "late", runAt: now.addingTimeInterval(-10)))
            _ = try await store.enqueue(NewJob(kind: .close, outTradeNo: "early", runAt: now.addingTimeInterval(-20)))
            _ = try await store.enqueue(NewJob(kind: .reconcile, outTradeNo: "future", runAt: now.addingTimeInterval(60)))
            _ = try await store.enqueue(NewJob(kind: "deliver", outTradeNo: "other-kind", runAt: now.addingTimeInterval(-30)))
            // Without kinds (SQLite reads its pending jobs kind by kind since v12): counts, the oldest due, the choice.
            let (stats, oldestAge, due) = try await store.read { db in
                (try db.queueStats(), try db.oldestPendingAge(now: now), try db.claimableJobs(kinds: nil, now: now, limit: 2))
            }
            #expect(stats.pending == 4)
            #expect(oldestAge == 30)
            #expect(due.map(\.outTradeNo) == ["other-kind", "early"])
            let claimed = try await store.claim(owner: Self.owner, limit: 10, lease: .seconds(30), now: now, kinds: [.reconcile, .close])
            #expect(claimed.map(\.outTradeNo) == ["early", "late"])
            #expect(claimed.allSatisfy { $0.state == .running && $0.attempts == 1 && $0.leaseOwner == Self.owner })
            let open = try await store.claim(owner: Self.owner, limit: 10, lease: .seconds(30), now: now)
            #expect(open.map(\.kind) == ["deliver"])
        }
    }

    @Test(
        "claiming inside a write: the chosen jobs still claimable are leased in it; ones taken, finished or not due are left out",
        arguments: Engine.allCases)
    func claimInsideWrite(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Date()
            for (name, offset) in [("A", -40.0), ("B", -30), ("C", -20), ("D", -10), ("E", -5)] {
                _ = try await store.enqueue(NewJob(kind: .notification, outTradeNo: name, runAt: now.addingTimeInterval(offset)))
            }
            let future = try await store.enqueue(NewJob(kind: .notification, outTradeNo: "future", runAt: now.addingTimeInterval(60))).job
            _ = try await store.enqueue(NewJob(kind: .reconcile, outTradeNo: "other-kind", runAt: now.addingTimeInterval(-50)))
            // A and B run under a worker that dies: their 1-second leases have ended by `later`.
            let died = try await store.claim(owner: "dead", limit: 2, lease: .seconds(1), now: now, kinds: [.notification])
            #expect(died.map(\.outTradeNo) == ["A", "B"])

            let later = now.addingTimeInterval(2)
            let candidates = try await store.read { db in try db.claimableJobs(kinds: [.notification], now: later, limit: 10) }
            #expect(candidates.map(\.outTradeNo) == ["A", "B", "C", "D", "E"], "due, of the kind, oldest first")
            #expect(candidates.map(\.state) == [.running, .running, .pending, .pending, .pending], "choosing leases nothing")
            #expect(try await store.read { db in try db.claimableJobs(kinds: [.notification], now: later, limit: 2) }.count == 2)
            let anyKind = try await store.read { db in try db.claimableJobs(kinds: nil, now: later, limit: 10) }
            #expect(anyKind.map(\.outTradeNo) == ["other-kind", "A", "B", "C", "D", "E"], "without kinds: every kind, oldest first")
            let byName = Dictionary(uniqueKeysWithValues: candidates.map { ($0.outTradeNo!, $0) })
            // Jobs chosen by batches still running are left out, and the limit counts only the others.
            let excluded = try await store.read { db in
                try db.claimableJobs(kinds: [.notification], now: later, limit: 2, excluding: [byName["A"]!.id!, byName["C"]!.id!])
            }
            #expect(excluded.map(\.outTradeNo) == ["B", "D"])
            let asStored = try await store.read { db in try excluded.map { try #require(try db.job($0.id!)) } }
            #expect(excluded == asStored, "every column as a job read by id has it")

            // Meanwhile another worker takes A over (its lease now runs) and finishes C.
            try await store.write { tx in
                let taken = try tx.claim([byName["A"]!, byName["C"]!], owner: "other", lease: .seconds(30), now: later)
                #expect(taken.map(\.outTradeNo) == ["A", "C"])
                try tx.complete(taken[1].lease!)
            }

            let claimed = try await store.write { tx in try tx.claim(candidates + [future], owner: "me", lease: .seconds(30), now: later) }
            #expect(claimed.map(\.outTradeNo) == ["B", "D", "E"], "A is held, C is done, the future job is not due")
            #expect(claimed.allSatisfy { $0.state == .running && $0.leaseOwner == "me" })
            #expect(claimed.map(\.attempts) == [2, 1, 1])
            let stored = try await store.read { db in try claimed.map { try #require(try db.job($0.id!)) } }
            #expect(stored.map(\.lease) == claimed.map(\.lease), "the leases returned are the stored ones")
            // B's previous attempt ended with its lease: recorded as such, under its owner.
            let history = try await store.read { db in try db.jobHistory(byName["B"]!.id!) }
            #expect(history.map(\.outcome) == [.leaseExpired])
            #expect(history.first?.owner == "dead")
            #expect(try await store.read { db in try db.job(byName["A"]!.id!) }?.leaseOwner == "other")
            #expect(try await store.read { db in try db.job(future.id!) }?.state == .pending)
        }
    }

    @Test(
        "taking inside a write: a claim's choice; completed, retried or dead-lettered in that write with a claimed job's history, also after a savepoint rolled back",
        arguments: Engine.allCases)
    func takeInsideWrite(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Date()
            for (name, offset) in [("R", -50.0), ("P1", -40), ("P2", -30), ("P3", -20), ("P4", -10)] {
                _ = try await store.enqueue(NewJob(kind: .notification, outTradeNo: name, runAt: now.addingTimeInterval(offset)))
            }
            let future = try await store.enqueue(NewJob(kind: .notification, outTradeNo: "future", runAt: now.addingTimeInterval(60))).job
            // R runs under a worker that dies: its lease has ended by `later`.
            #expect(try await store.claim(owner: "dead", limit: 1, lease: .seconds(1), now: now, kinds: [.notification]).map(\.outTradeNo) == ["R"])
            let later = now.addingTimeInterval(2)
            let candidates = try await store.read { db in try db.claimableJobs(kinds: [.notification], now: later, limit: 10) }
            struct Rollback: Error {}

            let taken = try await store.write { tx in
                let taken = try tx.take(candidates + [future], owner: "me", lease: .seconds(30), now: later)
                let byName = Dictionary(uniqueKeysWithValues: taken.map { ($0.outTradeNo!, $0.lease!) })
                try tx.complete(byName["R"]!)
                try tx.complete(byName["P1"]!)
                try tx.retry(byName["P2"]!, at: later.addingTimeInterval(60), error: "gateway 502")
                try tx.deadLetter(byName["P3"]!, reason: "amount differs")
                // A job completed inside a savepoint that rolls back is as it was taken: it can still be finished.
                #expect(throws: Rollback.self) {
                    try tx.savepoint {
                        try tx.complete(byName["P4"]!)
                        throw Rollback()
                    }
                }
                #expect(throws: Rollback.self) {
                    try tx.savepoint {
                        try tx.retry(byName["P4"]!, at: later, error: "undone")
                        throw Rollback()
                    }
                }
                try tx.complete(byName["P4"]!)
                #expect(throws: StoreError.self) { try tx.complete(byName["P1"]!) }
                return taken
            }
            #expect(taken.map(\.outTradeNo) == ["R", "P1", "P2", "P3", "P4"], "the future job is not due")
            #expect(taken.map(\.attempts) == [2, 1, 1, 1, 1])
            #expect(taken.allSatisfy { $0.state == .running && $0.leaseOwner == "me" })

            let jobs = try await store.read { db in try taken.map { try #require(try db.job($0.id!)) } }
            #expect(jobs.map(\.state) == [.done, .done, .pending, .dead, .done])
            #expect(jobs.map(\.attempts) == [2, 1, 1, 1, 1])
            #expect(jobs.allSatisfy { $0.leaseOwner == nil && $0.leaseExpiresAt == nil })
            #expect(jobs[2].lastError == "gateway 502")
            #expect(jobs[3].lastError == "amount differs")
            let history = try await store.read { db in try taken.map { try db.jobHistory($0.id!).map(\.outcome) } }
            #expect(history == [[.leaseExpired, .done], [], [.retry], [.dead], []], "a first-try success leaves no history row")
            #expect(try await store.read { db in try db.jobHistory(taken[2].id!) }.first?.owner == "me")

            // P2, taken again once due, completes its second attempt with a history row.
            let again = try await store.write { tx in
                let taken = try tx.take([try #require(try tx.job(jobs[2].id!))], owner: "me", lease: .seconds(30), now: later.addingTimeInterval(61))
                try tx.complete(try #require(taken.first?.lease))
                return taken
            }
            #expect(again.map(\.attempts) == [2])
            #expect(try await store.read { db in try db.jobHistory(jobs[2].id!).map(\.outcome) } == [.retry, .done])
            #expect(try await store.read { db in try db.job(future.id!) }?.state == .pending)

            // A job with history but no attempt counted (replayed after it died) completes with a history row; a
            // postponed job's lease is spent, though its row is pending as it was taken.
            let replayedId = try await store.enqueue(NewJob(kind: .reconcile, outTradeNo: "P5")).job.id!
            let died = try #require(
                try await store.claim(owner: "me", limit: 1, lease: .seconds(30), now: Date().addingTimeInterval(1), kinds: [.reconcile]).first)
            try await store.write { tx in try tx.deadLetter(died.lease!, reason: "gave up") }
            #expect(try await store.replay(.ids([replayedId]), dryRun: false).count == 1)
            let postponedId = try await store.enqueue(NewJob(kind: .close, outTradeNo: "P6")).job.id!
            let soon = Date().addingTimeInterval(5)
            try await store.write { tx in
                let jobs = try [replayedId, postponedId].map { try #require(try tx.job($0)) }
                let taken = try tx.take(jobs, owner: "me", lease: .seconds(30), now: soon)
                #expect(taken.map(\.attempts) == [1, 1])
                try tx.complete(taken[0].lease!)
                try tx.postpone(taken[1].lease!, at: soon.addingTimeInterval(60))
                #expect(throws: StoreError.leaseLost(jobId: postponedId)) { try tx.complete(taken[1].lease!) }
                #expect(throws: StoreError.leaseLost(jobId: postponedId)) { try tx.retry(taken[1].lease!, at: soon, error: "twice") }
            }
            #expect(try await store.read { db in try db.jobHistory(replayedId).map(\.outcome) } == [.dead, .replayed, .done])
            let postponed = try #require(try await store.read { db in try db.job(postponedId) })
            #expect(postponed.state == .pending && postponed.attempts == 0 && postponed.runAt > soon)
            #expect(try await store.read { db in try db.jobHistory(postponedId) }.isEmpty)
        }
    }

    // MARK: Retry, dead letters, replay
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
            #expect(first != nil && second == nil)
            // Same status, other refunded amount: a partial refund from an old snapshot is stale too.
            let paid = try #require(try await store.order("A1"))
            let refunded = try await store.write { tx in try tx.transition(paid, to: .tradeSuccess, changes: OrderChanges(refundedFen: 100), event: OrderEvent(outTradeNo: "A1", source: "test")) }
            #expect(refunded != nil)
            #expect(try await store.write { tx in try tx.transition(paid, to: .tradeSuccess, changes: OrderChanges(refundedFen: 200), event: OrderEvent(outTradeNo: "A1", source: "test")) } == nil)
            let (after, events) = try await store.read { db in (try db.order("A1"), try db.orderEvents("A1")) }
            #expect(after?.status == .tradeSuccess)
            #expect(after?.refundedFen == 100)
            #expect(events.map(\.toStatus) == [.waitBuyerPay, .tradeSuccess, .tradeSuccess])
            #expect(events[1].fromStatus == .waitBuyerPay)
            #expect(first == events[1].id && refunded == events[2].id, "transition returns the id of the event it appended")
        }
    }

    @Test("Alipay's times on the order: paid_at and closed_at set once, refunded_at replaced by each refund, all read back as written", arguments: Engine.allCases)
    func alipayTimes(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let base = Self.wholeSecond()
            var copied = order("B1")
            copied.refundedAt = base.addingTimeInterval(-60)
            try await store.insertOrder(copied)
            #expect(try await store.order("B1")?.refundedAt == base.addingTimeInterval(-60), "inserted as given (db copy keeps it)")
            try await store.insertOrder(order("A1"))
            let start = try #require(try await store.order("A1"))
            _ = try await store.write { tx in
                try tx.transition(start, to: .tradeSuccess, changes: OrderChanges(paidAt: base), event: OrderEvent(outTradeNo: "A1", source: "test"))
            }
            let paid = try #require(try await store.order("A1"))
            _ = try await store.write { tx in
                try tx.transition(
                    paid, to: .tradeSuccess, changes: OrderChanges(refundedFen: 100, refundedAt: base.addingTimeInterval(60)),
                    event: OrderEvent(outTradeNo: "A1", source: "test"))
            }
            let partly = try #require(try await store.order("A1"))
            #expect(partly.refundedAt == base.addingTimeInterval(60) && partly.paidAt == base)
            _ = try await store.write { tx in
                try tx.transition(
                    partly, to: .tradeClosed,
                    changes: OrderChanges(refundedFen: partly.totalAmountFen, closedAt: base.addingTimeInterval(120), refundedAt: base.addingTimeInterval(120)),
                    event: OrderEvent(outTradeNo: "A1", source: "test"))
            }
            let closed = try #require(try await store.order("A1"))
            #expect(closed.refundedAt == base.addingTimeInterval(120) && closed.closedAt == base.addingTimeInterval(120) && closed.paidAt == base)
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
                            #expect(moved != nil)
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
            _ = try await source.append((0..<5).map { notification("copy\($0)", order: "C1", seal: $0 == 0 ? "c2VhbA==" : nil) })
            let claimed = try await source.claim(owner: Self.owner, limit: 2, lease: .seconds(30), now: Date())
            try await source.write { tx in
                try tx.complete(claimed[0].lease!)
                try tx.retry(claimed[1].lease!, at: Date(), error: "later")
                let current = try #require(try tx.order("C1", forUpdate: true))
                _ = try tx.transition(current, to: .tradeSuccess, changes: OrderChanges(tradeNo: "T1"), event: OrderEvent(outTradeNo: "C1", source: "test"))
            }
            // The webhook outbox: three endpoints (more than a page), events and attempts, with every column used.
            let now = Self.wholeSecond()
            try await source.write { tx in
                try tx.insertWebhookEndpoint(endpoint("ep_b", types: ["order.paid", "order.refunded"], at: now))
                try tx.insertWebhookEndpoint(
                    WebhookEndpoint(
                        endpointId: "ep_a", url: "https://a.example/h", note: "note", secret: "whsec_a", previousSecret: "whsec_old",
                        previousSecretExpiresAt: now.addingTimeInterval(60), enabled: false, disabledReason: "operator",
                        failingSince: now.addingTimeInterval(-60), createdAt: now, updatedAt: now.addingTimeInterval(1)))
                try tx.insertWebhookEndpoint(endpoint("ep_c", types: ["order.closed"], at: now))
                // Refund requests, every column used.
                _ = try tx.insertRefund(
                    Refund(
                        outTradeNo: "C2", outRequestNo: "R1", amountFen: 1000, reason: "damaged", status: .succeeded, refundedAt: now,
                        fundChange: true, createdAt: now, updatedAt: now.addingTimeInterval(1)))
                _ = try tx.insertRefund(
                    Refund(outTradeNo: "C2", outRequestNo: "R2", amountFen: 2000, status: .failed, failure: "ACQ.X: no", createdAt: now))
                _ = try tx.insertRefund(Refund(outTradeNo: "C2", outRequestNo: "R3", amountFen: 3000, createdAt: now))
                let paid = try #require(try tx.orderEvents("C1").last?.id)
                try tx.publish(webhookEvent("evt_1", order: "C1", sequence: 1, orderEventId: paid, at: now), now: now)
                try tx.publish(webhookEvent("evt_2", order: "C1", sequence: 2, type: "order.refunded", at: now), now: now)
                try tx.publish(webhookEvent("evt_3", order: "C2", sequence: 1, type: "order.closed", at: now), now: now)
                for attempt in 1...3 {
                    try tx.insertDeliveryAttempt(
                        DeliveryAttempt(
                            eventId: "evt_1", endpointId: "ep_b", jobId: nil, attempt: attempt, status: attempt == 3 ? 200 : nil, response: "r",
                            error: attempt == 3 ? nil : "timed out", durationMilliseconds: 100 * attempt,
                            at: now.addingTimeInterval(Double(attempt))))
                }
            }
            let (sourceEndpoints, sourceEvents, sourceAttempts) = try await source.read { db in
                (
                    try db.webhookEndpoints(), try db.webhookEvents(outTradeNo: nil, type: nil, since: nil, limit: 10),
                    try db.deliveryAttempts(eventId: "evt_1", endpointId: nil)
                )
            }
            #expect(sourceEndpoints.count == 3 && sourceEvents.count == 3 && sourceAttempts.count == 3)
            try await engine.withFreshStore { target, _ in
                let first = try await StoreCopier.copy(from: source, to: target, pageSize: 2)
                #expect(first.allSatisfy { $0.source == $0.target && $0.copied == $0.source }, "\(first)")
                // The retry's row; the first-try success of the other job writes none (its job row is its record).
                #expect(first.first { $0.table == .jobAttempts }?.source == 1)
                #expect(first.first { $0.table == .webhookEndpoints }?.copied == 3)
                #expect(first.first { $0.table == .refunds }?.copied == 3)
                #expect(first.first { $0.table == .webhookEvents }?.copied == 3)
                #expect(first.first { $0.table == .deliveryAttempts }?.copied == 3)
                let again = try await StoreCopier.copy(from: source, to: target, pageSize: 2)
                #expect(again.allSatisfy { $0.copied == 0 && $0.source == $0.target }, "\(again)")

                let (copiedOrder, events, job) = try await target.read { db in
                    (try db.order("C1"), try db.orderEvents("C1"), try db.job(claimed[1].id!))
                }
                #expect(copiedOrder?.status == .tradeSuccess && copiedOrder?.tradeNo == "T1")
                #expect(events.map(\.toStatus) == [.waitBuyerPay, .tradeSuccess])
                #expect(job?.lastError == "later" && job?.attempts == 1)
                // The outbox, ids and references kept.
                let (copiedEndpoints, copiedEvents, copiedAttempts, undelivered) = try await target.read { db in
                    (
                        try db.webhookEndpoints(), try db.webhookEvents(outTradeNo: nil, type: nil, since: nil, limit: 10),
                        try db.deliveryAttempts(eventId: "evt_1", endpointId: nil), try db.oldestUndeliveredByEndpoint()
                    )
                }
                #expect(copiedEndpoints == sourceEndpoints)
                let (sourceRefunds, copiedRefunds) = (
                    try await source.read { db in try db.refunds("C2") }, try await target.read { db in try db.refunds("C2") }
                )
                #expect(copiedRefunds == sourceRefunds && copiedRefunds.count == 3)
                let newRefund = try await target.write { tx in
                    try tx.insertRefund(Refund(outTradeNo: "C2", outRequestNo: "R4", amountFen: 1, createdAt: now))
                }
                #expect(try #require(newRefund.id) > sourceRefunds.compactMap(\.id).max()!)
                #expect(copiedEvents == sourceEvents)
                #expect(copiedAttempts == sourceAttempts)
                #expect(Set(undelivered.keys) == ["ep_b", "ep_c"])
                // New writes in the target get ids after the copied ones.
                let seals = try await target.read { db in try ["copy0", "copy1"].map { try db.notification(notifyId: $0)?.seal } }
                #expect(seals == ["c2VhbA==", nil])
                let fresh = try await target.append([notification("after-copy", order: "C2")])
                guard case .stored(let id) = fresh[0] else { Issue.record("\(fresh)"); return }
                let maxCopied = try await source.read { db in try db.notification(notifyId: "copy4")?.id } ?? 0
                #expect(id > maxCopied)
                // 4 notification jobs still pending, the new one, and 3 deliveries (ep_b: evt_1 and evt_2; ep_c: evt_3).
                #expect(try await target.queueStats().pending == 8)
                let (event, attempt) = try await target.write { tx in
                    (
                        try tx.insertWebhookEvent(webhookEvent("evt_4", order: "C1", sequence: 3, at: now)),
                        try tx.insertDeliveryAttempt(
                            DeliveryAttempt(
                                eventId: "evt_4", endpointId: "ep_b", jobId: nil, attempt: 1, status: 200, response: nil, error: nil,
                                durationMilliseconds: 1, at: now))
                    )
                }
                #expect(try #require(event.id) > sourceEvents.compactMap(\.id).max()!)
                #expect(try #require(attempt.id) > sourceAttempts.compactMap(\.id).max()!)
                #expect(try await target.read { db in try db.lastWebhookSequence(outTradeNo: "C1") } == 3)
            }
        }
    }

    // MARK: Webhooks

    /// Whole seconds: every engine stores them exactly (SQLite keeps milliseconds, PostgreSQL microseconds), so
    /// records read back compare equal to the ones written.
    static func wholeSecond(_ offset: TimeInterval = 0) -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + offset).rounded(.down))
    }

    func endpoint(_ id: String, types: [String] = [], enabled: Bool = true, at: Date) -> WebhookEndpoint {
        WebhookEndpoint(
            endpointId: id, url: "https://shop.example/hooks/\(id)", eventTypes: types, secret: "whsec_\(id)", enabled: enabled, createdAt: at,
            updatedAt: at)
    }

    func webhookEvent(
        _ eventId: String, order: String = "A1", sequence: Int64, type: String = "order.paid", orderEventId: Int64? = nil, at: Date
    ) -> WebhookEvent {
        WebhookEvent(
            eventId: eventId, type: type, outTradeNo: order, sequence: sequence, orderEventId: orderEventId,
            payload: #"{"id":"\#(eventId)","type":"\#(type)"}"#, createdAt: at)
    }

    /// Runs `body` and records an issue unless it throws ``StoreError/duplicate(_:)`` (the message is the engine's).
    func expectDuplicate(_ what: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("\(what): no error")
        } catch StoreError.duplicate {
        } catch {
            Issue.record("\(what): expected .duplicate, got \(error)")
        }
    }

    @Test("webhook endpoints: a taken id is a duplicate, update replaces every column, delete, oldest first", arguments: Engine.allCases)
    func webhookEndpoints(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Self.wholeSecond()
            let b = endpoint("ep_b", at: now)
            try await store.write { tx in
                try tx.insertWebhookEndpoint(b)
                try tx.insertWebhookEndpoint(endpoint("ep_a", types: ["order.paid"], at: now))
                try tx.insertWebhookEndpoint(endpoint("ep_c", at: now.addingTimeInterval(-10)))
            }
            await expectDuplicate("a taken endpoint id") {
                try await store.write { tx in try tx.insertWebhookEndpoint(endpoint("ep_a", at: now)) }
            }
            // Oldest first, ties by id.
            #expect(try await store.read { db in try db.webhookEndpoints() }.map(\.endpointId) == ["ep_c", "ep_a", "ep_b"])
            #expect(try await store.read { db in try db.webhookEndpoint("ep_b") } == b)
            #expect(try await store.read { db in try db.webhookEndpoint("ep_a") }?.eventTypes == ["order.paid"])

            let changed = WebhookEndpoint(
                endpointId: "ep_a", url: "https://other.example/h", eventTypes: ["order.paid", "order.refunded"], note: "shop",
                secret: "whsec_new", previousSecret: "whsec_ep_a", previousSecretExpiresAt: now.addingTimeInterval(86_400), enabled: false,
                disabledReason: "410 Gone", failingSince: now.addingTimeInterval(-3600), createdAt: now.addingTimeInterval(100),
                updatedAt: now.addingTimeInterval(200))
            #expect(try await store.write { tx in try tx.updateWebhookEndpoint(changed) })
            #expect(try await store.read { db in try db.webhookEndpoint("ep_a") } == changed)
            // Back to defaults: every column is replaced, nils too.
            let cleared = endpoint("ep_a", at: now.addingTimeInterval(100))
            #expect(try await store.write { tx in try tx.updateWebhookEndpoint(cleared) })
            #expect(try await store.read { db in try db.webhookEndpoint("ep_a") } == cleared)
            #expect(!(try await store.write { tx in try tx.updateWebhookEndpoint(endpoint("ep_none", at: now)) }))
            #expect(try await store.read { db in try db.webhookEndpoint("ep_none") } == nil)

            #expect(try await store.write { tx in try tx.deleteWebhookEndpoint("ep_b") })
            #expect(!(try await store.write { tx in try tx.deleteWebhookEndpoint("ep_b") }))
            #expect(try await store.read { db in try db.webhookEndpoints() }.map(\.endpointId) == ["ep_c", "ep_a"])
        }
    }

    @Test("webhook events: ids, duplicates, filters newest first, the last sequence of an order", arguments: Engine.allCases)
    func webhookEvents(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Self.wholeSecond()
            try await store.insertOrder(order("A1"))
            let created = try #require(try await store.read { db in try db.orderEvents("A1") }.first?.id)
            #expect(try await store.read { db in try db.lastWebhookSequence(outTradeNo: "A1") } == 0)

            let (e1, e2, e3) = try await store.write { tx in
                (
                    try tx.insertWebhookEvent(webhookEvent("evt_1", sequence: 1, orderEventId: created, at: now.addingTimeInterval(-20))),
                    try tx.insertWebhookEvent(webhookEvent("evt_2", sequence: 2, type: "order.refunded", at: now.addingTimeInterval(-10))),
                    try tx.insertWebhookEvent(webhookEvent("evt_3", order: "B1", sequence: 1, at: now))
                )
            }
            let ids = try [e1, e2, e3].map { try #require($0.id) }
            #expect(ids == ids.sorted() && Set(ids).count == 3)
            var expected = webhookEvent("evt_1", sequence: 1, orderEventId: created, at: now.addingTimeInterval(-20))
            expected.id = ids[0]
            #expect(e1 == expected)
            #expect(try await store.read { db in try db.webhookEvent("evt_1") } == e1)
            #expect(try await store.read { db in try db.webhookEvent("evt_none") } == nil)

            await expectDuplicate("a taken event_id") {
                _ = try await store.write { tx in try tx.insertWebhookEvent(webhookEvent("evt_1", sequence: 3, at: now)) }
            }
            await expectDuplicate("a taken (order, sequence)") {
                _ = try await store.write { tx in try tx.insertWebhookEvent(webhookEvent("evt_4", sequence: 2, at: now)) }
            }
            await expectDuplicate("an order event reported twice") {
                _ = try await store.write { tx in try tx.insertWebhookEvent(webhookEvent("evt_5", sequence: 5, orderEventId: created, at: now)) }
            }
            // A broken rule is not a duplicate.
            do {
                _ = try await store.write { tx in try tx.insertWebhookEvent(webhookEvent("evt_6", sequence: 0, at: now)) }
                Issue.record("an event with sequence 0 was stored")
            } catch let error as StoreError {
                guard case .constraint = error else { Issue.record("expected .constraint, got \(error)"); return }
            }

            let (all, ofA1, paid, recent, one, paidOfA1) = try await store.read { db in
                (
                    try db.webhookEvents(outTradeNo: nil, type: nil, since: nil, limit: 10),
                    try db.webhookEvents(outTradeNo: "A1", type: nil, since: nil, limit: 10),
                    try db.webhookEvents(outTradeNo: nil, type: "order.paid", since: nil, limit: 10),
                    try db.webhookEvents(outTradeNo: nil, type: nil, since: now.addingTimeInterval(-10), limit: 10),
                    try db.webhookEvents(outTradeNo: nil, type: nil, since: nil, limit: 1),
                    try db.webhookEvents(outTradeNo: "A1", type: "order.paid", since: nil, limit: 10)
                )
            }
            #expect(all == [e3, e2, e1])
            #expect(ofA1.map(\.eventId) == ["evt_2", "evt_1"])
            #expect(paid.map(\.eventId) == ["evt_3", "evt_1"])
            #expect(recent.map(\.eventId) == ["evt_3", "evt_2"])
            #expect(one.map(\.eventId) == ["evt_3"])
            #expect(paidOfA1.map(\.eventId) == ["evt_1"])
            let (lastA1, lastB1) = try await store.read { db in
                (try db.lastWebhookSequence(outTradeNo: "A1"), try db.lastWebhookSequence(outTradeNo: "B1"))
            }
            #expect(lastA1 == 2 && lastB1 == 1)
        }
    }

    @Test("publish enqueues one delivery per enabled endpoint receiving the type, and a write that throws keeps neither", arguments: Engine.allCases)
    func publishEvent(engine: Engine) async throws {
        struct Boom: Error {}
        try await engine.withFreshStore { store, _ in
            let now = Self.wholeSecond()
            try await store.write { tx in
                try tx.insertWebhookEndpoint(endpoint("ep_all", at: now))
                try tx.insertWebhookEndpoint(endpoint("ep_paid", types: ["order.paid", "order.closed"], at: now))
                try tx.insertWebhookEndpoint(endpoint("ep_refunds", types: ["order.refunded"], at: now))
                try tx.insertWebhookEndpoint(endpoint("ep_off", enabled: false, at: now))
            }
            let (published, deliveries) = try await store.write { tx in try tx.publish(webhookEvent("evt_1", sequence: 1, at: now), now: now) }
            #expect(published.id != nil)
            #expect(try await store.read { db in try db.webhookEvent("evt_1") } == published)
            let expectedTargets: Set = [DeliveryTarget(event: "evt_1", endpoint: "ep_all"), DeliveryTarget(event: "evt_1", endpoint: "ep_paid")]
            #expect(Set(deliveries.compactMap(DeliveryTarget.init(job:))) == expectedTargets)
            let jobs = try await store.read { db in try db.jobs(state: nil, kind: .deliver, outTradeNo: nil, limit: 10) }
            #expect(Set(jobs.compactMap(\.id)) == Set(deliveries.compactMap(\.id)))
            #expect(jobs.count == 2)
            #expect(jobs.allSatisfy { $0.state == .pending && $0.outTradeNo == "A1" && $0.runAt == now })
            #expect(Set(jobs.compactMap(\.uniqueKey)) == ["deliver:ep_all:evt_1", "deliver:ep_paid:evt_1"])

            await #expect(throws: Boom.self) {
                try await store.write { tx in
                    let (_, more) = try tx.publish(webhookEvent("evt_2", sequence: 2, at: now), now: now)
                    #expect(more.count == 2)
                    throw Boom()
                }
            }
            let (gone, stillTwo, last) = try await store.read { db in
                (
                    try db.webhookEvent("evt_2"), try db.jobs(state: nil, kind: .deliver, outTradeNo: nil, limit: 10).count,
                    try db.lastWebhookSequence(outTradeNo: "A1")
                )
            }
            #expect(gone == nil)
            #expect(stillTwo == 2)
            #expect(last == 1)
        }
    }

    @Test("one transaction publishing many events sees every endpoint change it makes itself, and none a savepoint undid", arguments: Engine.allCases)
    func publishSeesEndpointChangesOfItsTransaction(engine: Engine) async throws {
        struct Undo: Error {}
        try await engine.withFreshStore { store, _ in
            let now = Self.wholeSecond()
            let counts = try await store.write { tx -> [Int] in
                var counts: [Int] = []
                counts.append(try tx.publish(webhookEvent("evt_1", sequence: 1, at: now), now: now).deliveries.count)
                try tx.insertWebhookEndpoint(endpoint("ep_a", at: now))
                counts.append(try tx.publish(webhookEvent("evt_2", sequence: 2, at: now), now: now).deliveries.count)
                var disabled = endpoint("ep_a", enabled: false, at: now)
                disabled.updatedAt = now
                _ = try tx.updateWebhookEndpoint(disabled)
                counts.append(try tx.publish(webhookEvent("evt_3", sequence: 3, at: now), now: now).deliveries.count)
                _ = try tx.updateWebhookEndpoint(endpoint("ep_a", at: now))
                // An endpoint added, read by a publish, then undone by its savepoint: later events must not target it.
                _ = try? tx.savepoint {
                    try tx.insertWebhookEndpoint(endpoint("ep_b", at: now))
                    counts.append(try tx.publish(webhookEvent("evt_4", sequence: 4, at: now), now: now).deliveries.count)
                    throw Undo()
                }
                counts.append(try tx.publish(webhookEvent("evt_5", sequence: 5, at: now), now: now).deliveries.count)
                _ = try tx.deleteWebhookEndpoint("ep_a")
                counts.append(try tx.publish(webhookEvent("evt_6", sequence: 6, at: now), now: now).deliveries.count)
                return counts
            }
            #expect(counts == [0, 1, 0, 2, 1, 0])
        }
    }

    @Test("delivery attempts come back as written, oldest first, for one event or one event and endpoint", arguments: Engine.allCases)
    func deliveryAttempts(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Self.wholeSecond()
            let written = try await store.write { tx in
                _ = try tx.insertWebhookEvent(webhookEvent("evt_1", sequence: 1, at: now))
                _ = try tx.insertWebhookEvent(webhookEvent("evt_2", sequence: 2, at: now))
                return [
                    try tx.insertDeliveryAttempt(
                        DeliveryAttempt(
                            eventId: "evt_1", endpointId: "ep_a", jobId: 7, attempt: 1, status: nil, response: nil, error: "connection refused",
                            durationMilliseconds: 12, at: now)),
                    try tx.insertDeliveryAttempt(
                        DeliveryAttempt(
                            eventId: "evt_1", endpointId: "ep_b", jobId: nil, attempt: 1, status: 204, response: "", error: nil,
                            durationMilliseconds: 80, at: now.addingTimeInterval(1))),
                    try tx.insertDeliveryAttempt(
                        DeliveryAttempt(
                            eventId: "evt_1", endpointId: "ep_a", jobId: 7, attempt: 2, status: 500, response: "boom", error: "HTTP 500",
                            durationMilliseconds: 30_000, at: now.addingTimeInterval(2))),
                ]
            }
            let ids = try written.map { try #require($0.id) }
            #expect(ids == ids.sorted() && Set(ids).count == 3)
            #expect(written[0].error == "connection refused" && written[0].status == nil && written[0].jobId == 7)
            #expect(written.map(\.succeeded) == [false, true, false])
            let (all, toA, toB, none) = try await store.read { db in
                (
                    try db.deliveryAttempts(eventId: "evt_1", endpointId: nil), try db.deliveryAttempts(eventId: "evt_1", endpointId: "ep_a"),
                    try db.deliveryAttempts(eventId: "evt_1", endpointId: "ep_b"), try db.deliveryAttempts(eventId: "evt_2", endpointId: nil)
                )
            }
            #expect(all == written)
            #expect(toA == [written[0], written[2]])
            #expect(toB == [written[1]])
            #expect(none.isEmpty)
            // An endpoint removed keeps its history.
            try await store.write { tx in
                try tx.insertWebhookEndpoint(endpoint("ep_a", at: now))
                #expect(try tx.deleteWebhookEndpoint("ep_a"))
            }
            #expect(try await store.read { db in try db.deliveryAttempts(eventId: "evt_1", endpointId: "ep_a") } == toA)
        }
    }

    @Test("oldestUndeliveredByEndpoint: when each endpoint's oldest pending or running delivery was enqueued", arguments: Engine.allCases)
    func oldestUndeliveredByEndpoint(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let now = Date()
            #expect(try await store.read { db in try db.oldestUndeliveredByEndpoint() }.isEmpty)
            // runAt orders the claim below: ep_a/evt_1, ep_c and ep_d are claimed; ep_a/evt_2 and ep_b stay pending.
            let jobs = try await store.write { tx in
                [
                    try tx.enqueueDelivery(DeliveryTarget(event: "evt_1", endpoint: "ep_a"), outTradeNo: "A1", at: now.addingTimeInterval(-40)),
                    try tx.enqueueDelivery(DeliveryTarget(event: "evt_1", endpoint: "ep_c"), outTradeNo: "A1", at: now.addingTimeInterval(-30)),
                    try tx.enqueueDelivery(DeliveryTarget(event: "evt_1", endpoint: "ep_d"), outTradeNo: "A1", at: now.addingTimeInterval(-20)),
                    try tx.enqueueDelivery(DeliveryTarget(event: "evt_2", endpoint: "ep_a"), outTradeNo: "A1", at: now.addingTimeInterval(600)),
                    try tx.enqueueDelivery(DeliveryTarget(event: "evt_1", endpoint: "ep_b"), outTradeNo: "A1", at: now.addingTimeInterval(600)),
                ]
            }
            _ = try await store.enqueue(NewJob(kind: .reconcile, uniqueKey: "reconcile:A1", outTradeNo: "A1", runAt: now.addingTimeInterval(-50)))
            let claimed = try await store.claim(owner: Self.owner, limit: 3, lease: .seconds(60), now: now, kinds: [.deliver])
            #expect(claimed.map(\.id) == jobs[0..<3].map(\.id))
            try await store.write { tx in
                try tx.complete(claimed[1].lease!)  // ep_c: done
                try tx.deadLetter(claimed[2].lease!, reason: "gave up")  // ep_d: dead
            }
            // Each endpoint's live jobs as the store recorded them (created_at is the store's clock).
            let stored = try await store.read { db in try jobs.map { try #require(try db.job($0.id!)) } }
            let expected: [String: Date] = [
                "ep_a": min(stored[0].createdAt, stored[3].createdAt),
                "ep_b": stored[4].createdAt,
            ]
            #expect(try await store.read { db in try db.oldestUndeliveredByEndpoint() } == expected)
        }
    }

    @Test("pruneWebhooks deletes old attempts, then old events no live or dead delivery needs; new ones and needed ones stay", arguments: Engine.allCases)
    func pruneWebhooks(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let old = Self.wholeSecond(-40 * 86_400)
            let recent = Self.wholeSecond(-60)
            let cutoff = Self.wholeSecond(-30 * 86_400)
            try await store.write { tx in
                _ = try tx.insertWebhookEvent(self.webhookEvent("evt_old_done", sequence: 1, at: old))
                _ = try tx.insertWebhookEvent(self.webhookEvent("evt_old_dead", sequence: 2, at: old))
                _ = try tx.insertWebhookEvent(self.webhookEvent("evt_old_recent_attempt", sequence: 3, at: old))
                _ = try tx.insertWebhookEvent(self.webhookEvent("evt_new", sequence: 4, at: recent))
                for (event, at) in [("evt_old_done", old), ("evt_old_dead", old), ("evt_old_recent_attempt", recent), ("evt_new", recent)] {
                    try tx.insertDeliveryAttempt(
                        DeliveryAttempt(eventId: event, endpointId: "ep_a", jobId: nil, attempt: 1, status: 500, response: nil, error: "x", durationMilliseconds: 1, at: at))
                }
                _ = try tx.enqueueDelivery(DeliveryTarget(event: "evt_old_dead", endpoint: "ep_a"), outTradeNo: "A1", at: Date())
            }
            let claimed = try #require(try await store.claim(owner: "w", limit: 1, lease: .seconds(30), now: Date()).first)
            try await store.write { tx in try tx.deadLetter(claimed.lease!, reason: "gave up") }

            let pruned = try await store.pruneWebhooks(olderThan: cutoff)
            #expect(pruned.attempts == 2, "the two attempts recorded 40 days ago")
            #expect(pruned.events == 1, "only evt_old_done: evt_old_dead has a dead delivery to replay, evt_old_recent_attempt a recent attempt")
            let left = try await store.read { db in try db.webhookEvents(outTradeNo: nil, type: nil, since: nil, limit: 10).map(\.eventId) }
            #expect(Set(left) == ["evt_old_dead", "evt_old_recent_attempt", "evt_new"])
            #expect(try await store.pruneWebhooks(olderThan: cutoff) == (0, 0), "a second run finds nothing")
        }
    }

    @Test("postpone gives the job back uncounted at the given time, with no history row, fenced like retry", arguments: Engine.allCases)
    func postpone(engine: Engine) async throws {
        try await engine.withFreshStore { store, _ in
            let enqueued = try await store.write { tx in
                try tx.enqueueDelivery(DeliveryTarget(event: "evt_1", endpoint: "ep_a"), outTradeNo: "A1", at: Date())
            }
            let now = Date()
            let later = Self.wholeSecond(60)
            let first = try #require(try await store.claim(owner: "old", limit: 1, lease: .seconds(30), now: now).first)
            #expect(first.attempts == 1)
            try await store.write { tx in try tx.postpone(first.lease!, at: later) }
            let postponed = try #require(try await store.read { db in try db.job(enqueued.id!) })
            #expect(postponed.state == .pending)
            #expect(postponed.attempts == 0)
            #expect(postponed.runAt == later)
            #expect(postponed.leaseOwner == nil && postponed.leaseExpiresAt == nil)
            #expect(try await store.read { db in try db.jobHistory(enqueued.id!) }.isEmpty)
            #expect(try await store.claim(owner: "new", limit: 1, lease: .seconds(30), now: now).isEmpty, "not due before `at`")

            let taken = try #require(try await store.claim(owner: "new", limit: 1, lease: .seconds(30), now: later).first)
            #expect(taken.id == enqueued.id)
            #expect(taken.attempts == 1)
            // The old owner's lease, and the new owner's with another attempt number, no longer hold the job.
            let stale = first.lease!
            await #expect(throws: StoreError.leaseLost(jobId: stale.jobId)) { try await store.write { tx in try tx.postpone(stale, at: later) } }
            let otherAttempt = JobLease(jobId: taken.id!, owner: "new", attempt: 2)
            await #expect(throws: StoreError.leaseLost(jobId: taken.id!)) { try await store.write { tx in try tx.postpone(otherAttempt, at: later) } }
            try await store.write { tx in try tx.complete(taken.lease!) }
            await #expect(throws: StoreError.leaseLost(jobId: taken.id!)) {
                try await store.write { tx in try tx.postpone(taken.lease!, at: later) }
            }
            let (job, history) = try await store.read { db in (try db.job(enqueued.id!), try db.jobHistory(enqueued.id!)) }
            #expect(job?.state == .done && job?.attempts == 1)
            // Postponing leaves no history, so the completion is a first-try success: the job row is its record.
            #expect(history.isEmpty)
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
            #expect(store.knownMigrations.starts(with: ["v1-initial-schema", "v2-job-payload", "v3-rejected-notifications", "v4-webhooks", "v5-order-refunded-at"]))
            let pending = try await store.pendingMigrations()
            let applied = try await store.migrate()
            #expect(pending.isEmpty)
            #expect(applied.isEmpty)
            #expect(await store.isWritable())
            #expect(!store.location.contains("secret"))
        }
    }
}
