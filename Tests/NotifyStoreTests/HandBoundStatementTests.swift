import Foundation
import GRDB
import Testing

@testable import NotifyStore
@testable import NotifyStoreSQLite

/// The worker's apply statements bind their values through SQLite's C API (``HandBoundStatement``): what they write
/// must read back as GRDB wrote them, and a failure must reach the caller as the same store error, changing nothing.
@Suite("Hand-bound statements")
struct HandBoundStatementTests {
    @Test("the hand-read order and jobs are the rows GRDB decodes, every column set; a value that is not a date is a clear error")
    func readsMatchGRDB() async throws {
        try await withDatabase { database in
            let at = Date(timeIntervalSince1970: 1_750_000_000.25)
            let full = Order(
                outTradeNo: "HR1", subject: "测试 1", totalAmountFen: 12_345, status: .tradeClosed, tradeNo: "2026120522001", refundedFen: 12_345,
                needsReview: true, reviewReason: "amount differs", createdAt: at, updatedAt: at.addingTimeInterval(1), paidAt: at.addingTimeInterval(2),
                closedAt: at.addingTimeInterval(3), refundedAt: at.addingTimeInterval(4), product: .qr)
            try await database.write { tx in
                try tx.insertOrder(full)
                try tx.insertOrder(Order(outTradeNo: "HR2", subject: "", totalAmountFen: 1, createdAt: at))
                _ = try tx.enqueue(NewJob(kind: "deliver", uniqueKey: "k", outTradeNo: "HR1", payload: "{}", runAt: at))
                _ = try tx.enqueue(NewJob(kind: .notification, runAt: at))
            }
            let (handOrders, listed) = try await database.read { tx in
                ([try tx.order("HR1")!, try tx.order("HR2")!], try tx.orders(status: nil, limit: 10).sorted { $0.outTradeNo < $1.outTradeNo })
            }
            #expect(handOrders == listed, "listings decode through GRDB (Order(row:))")
            #expect(handOrders[0] == full)
            // A notification's job (notification_id, notify_id), retried once (last_error) and due again at `at`.
            _ = try await database.append([notification("hb-n1", outTradeNo: "HR1")])
            let claimed = try await database.claim(owner: "w1", limit: 10, lease: .seconds(30), now: Date(), kinds: [.notification])
            #expect(claimed.count == 2)
            try await database.write { tx in for job in claimed { try tx.retry(job.lease!, at: at, error: "gateway 502") } }
            let (handJobs, byId) = try await database.read { tx in
                let jobs = try tx.claimableJobs(kinds: nil, now: at.addingTimeInterval(1), limit: 10)
                return (jobs, try jobs.map { try tx.job($0.id!)! })
            }
            #expect(handJobs.count == 3)
            #expect(handJobs == byId)
            #expect(handJobs.contains { $0.notificationId != nil && $0.notifyId == "hb-n1" && $0.lastError == "gateway 502" && $0.attempts == 1 })

            try await database.pool.write { db in
                try db.execute(sql: "PRAGMA ignore_check_constraints = ON")
                try db.execute(sql: "UPDATE jobs SET created_at = 'tomorrow' WHERE kind = 'deliver'")
                try db.execute(sql: "UPDATE orders SET created_at = 'yesterday' WHERE out_trade_no = 'HR2'")
            }
            await #expect(throws: (any Error).self) { try await database.read { tx in try tx.order("HR2") } }
            do {
                _ = try await database.read { tx in try tx.claimableJobs(kinds: nil, now: at.addingTimeInterval(1), limit: 10) }
                Issue.record("a job whose created_at is not a date was read")
            } catch {
                #expect("\(error)".contains("created_at") && "\(error)".contains("tomorrow"), "\(error)")
            }
        }
    }

    @Test("a transition writes text, integers, NULL and an empty string exactly, and its event row")
    func valuesRoundTrip() async throws {
        try await withDatabase { database in
            let created = Date(timeIntervalSince1970: 1_750_000_000)
            let paid = created.addingTimeInterval(61)
            try await database.write { tx in
                try tx.insertOrder(Order(outTradeNo: "HB1", subject: "测试 & \"quotes\"", totalAmountFen: 8888, status: .waitBuyerPay, createdAt: created))
            }
            let eventId = try await database.write { tx in
                let order = try tx.order("HB1", forUpdate: true)!
                return try tx.transition(
                    order, to: .tradeSuccess, changes: OrderChanges(tradeNo: "", paidAt: paid),
                    event: OrderEvent(outTradeNo: "HB1", toStatus: .tradeSuccess, source: "notification", jobId: 7, notifyId: nil, detail: "测试\u{0}x", createdAt: paid))
            }
            #expect(eventId != nil)
            let order = try await database.read { tx in try tx.order("HB1") }!
            #expect(order.status == .tradeSuccess)
            #expect(order.tradeNo == "", "an empty string is stored as '', not NULL")
            #expect(order.paidAt == paid)
            #expect(order.refundedFen == 0 && order.closedAt == nil)
            let event = try #require(try await database.read { tx in try tx.orderEvents("HB1") }.last)
            #expect(event.fromStatus == .waitBuyerPay && event.toStatus == .tradeSuccess)
            #expect(event.jobId == 7 && event.notifyId == nil)
            // Text is bound up to its first NUL, as GRDB binds it (PostgreSQL, which a copy may go to, refuses NUL in text).
            #expect(event.detail == "测试")
            let detailBytes = try await database.pool.read { db in
                try Int.fetchOne(db, sql: "SELECT length(CAST(detail AS BLOB)) FROM order_events WHERE job_id = 7")
            }
            #expect(detailBytes == 6)
            #expect(event.createdAt == paid)
            let types = try await database.pool.read { db in
                try String.fetchAll(db, sql: "SELECT typeof(trade_no) || ',' || typeof(refunded_at) || ',' || typeof(paid_at) FROM orders")
            }
            #expect(types == ["text,null,text"])
        }
    }

    @Test("a constraint failure is the store error GRDB's path gave, and the unit of work changes nothing")
    func failureIsTranslated() async throws {
        try await withDatabase { database in
            try await database.write { tx in
                try tx.insertOrder(Order(outTradeNo: "HB2", subject: "s", totalAmountFen: 100, status: .tradeSuccess, createdAt: testNow))
            }
            let events = try database.count("order_events")
            // refunded_fen above the total breaks the orders table's CHECK.
            let error = await #expect(throws: StoreError.self) {
                try await database.write { tx in
                    let order = try tx.order("HB2", forUpdate: true)!
                    return try tx.transition(
                        order, to: .tradeClosed, changes: OrderChanges(refundedFen: 101),
                        event: OrderEvent(outTradeNo: "HB2", toStatus: .tradeClosed, source: "notification", createdAt: testNow))
                }
            }
            guard case .constraint(let message) = error else {
                Issue.record("expected StoreError.constraint, got \(String(describing: error))")
                return
            }
            #expect(message.contains("CHECK"), "SQLite's own message: \(message)")
            let order = try await database.read { tx in try tx.order("HB2") }!
            #expect(order.status == .tradeSuccess && order.refundedFen == 0)
            #expect(try database.count("order_events") == events)
            // The cached statement is usable again after the failure.
            try await database.write { tx in
                let order = try tx.order("HB2", forUpdate: true)!
                _ = try tx.transition(
                    order, to: .tradeClosed, changes: OrderChanges(refundedFen: 100),
                    event: OrderEvent(outTradeNo: "HB2", toStatus: .tradeClosed, source: "notification", createdAt: testNow))
            }
            #expect(try await database.read { tx in try tx.order("HB2") }!.status == .tradeClosed)
        }
    }

    @Test("outside a transaction it refuses to run, so nothing can commit on its own")
    func refusesAutocommit() async throws {
        try await withDatabase { database in
            let refused = try await database.pool.writeWithoutTransaction { db -> Bool in
                do {
                    var statement = try HandBoundStatement(db, sql: "INSERT INTO store_heartbeat (id, at) VALUES (1, ?)")
                    try statement.bind("now")
                    try statement.run()
                    return false
                } catch is DatabaseError {
                    return true
                }
            }
            #expect(refused)
            #expect(try database.count("store_heartbeat") == 0)
        }
    }
}
