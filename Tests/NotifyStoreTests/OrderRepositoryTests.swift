import Foundation
import GRDB
import Testing

@testable import NotifyStore

@Suite("Orders and their events")
struct OrderRepositoryTests {
    @Test("create stores the order with its creation event; a duplicate number is refused")
    func createAndFind() async throws {
        try await withDatabase { database in
            let orders = OrderRepository(database: database)
            let order = Order(outTradeNo: "T1", subject: "测试商品", totalAmountFen: 8888, createdAt: testNow)
            try await orders.create(order)
            #expect(try await orders.find("T1") == order)
            #expect(try await orders.find("missing") == nil)
            await #expect(throws: StoreError.duplicate("order T1")) { try await orders.create(order) }

            let events = try await orders.events("T1")
            #expect(events.count == 1)
            #expect(events.first?.fromStatus == nil)
            #expect(events.first?.toStatus == "CREATED")
            #expect(events.first?.source == "create")

            // Money is an INTEGER column, never a float.
            let type = try await database.pool.read { db in
                try String.fetchOne(db, sql: "SELECT typeof(total_amount_fen) FROM orders WHERE out_trade_no = 'T1'")
            }
            #expect(type == "integer")
        }
    }

    @Test("a transition applies only from the expected status and writes exactly one event")
    func conditionalTransition() async throws {
        try await withDatabase { database in
            let orders = OrderRepository(database: database)
            try await orders.create(Order(outTradeNo: "T1", subject: "s", totalAmountFen: 100, status: "WAIT_BUYER_PAY", createdAt: testNow))
            let paidAt = testNow.addingTimeInterval(10)
            let event = OrderEvent(outTradeNo: "T1", source: "notification", jobId: 7, notifyId: "N1", detail: "paid")

            let applied = try await database.pool.write { db in
                try OrderRepository.transition(
                    "T1", from: "WAIT_BUYER_PAY", to: "TRADE_SUCCESS", changes: OrderChanges(tradeNo: "2025TRADE", paidAt: paidAt),
                    event: event, in: db)
            }
            #expect(applied)
            let stale = try await database.pool.write { db in
                try OrderRepository.transition(
                    "T1", from: "WAIT_BUYER_PAY", to: "TRADE_CLOSED", changes: OrderChanges(tradeNo: "OTHER", closedAt: paidAt),
                    event: event, in: db)
            }
            #expect(!stale)

            let order = try #require(try await orders.find("T1"))
            #expect(order.status == "TRADE_SUCCESS")
            #expect(order.tradeNo == "2025TRADE")
            #expect(order.paidAt == paidAt)
            #expect(order.closedAt == nil)

            let events = try await orders.events("T1")
            #expect(events.count == 2)  // creation + one transition
            let transition = try #require(events.last)
            #expect(transition.fromStatus == "WAIT_BUYER_PAY")
            #expect(transition.toStatus == "TRADE_SUCCESS")
            #expect(transition.source == "notification")
            #expect(transition.jobId == 7)
            #expect(transition.notifyId == "N1")

            // Later changes leave columns that are not given as they were.
            let refunded = try await database.pool.write { db in
                try OrderRepository.transition(
                    "T1", from: "TRADE_SUCCESS", to: "TRADE_CLOSED", changes: OrderChanges(refundedFen: 100, closedAt: paidAt),
                    event: OrderEvent(outTradeNo: "T1", source: "trade.query"), in: db)
            }
            #expect(refunded)
            let closed = try #require(try await orders.find("T1"))
            #expect(closed.tradeNo == "2025TRADE")
            #expect(closed.refundedFen == 100)
            #expect(try await orders.events("T1").count == 3)

            // An unknown order is simply not transitioned.
            let unknown = try await database.pool.write { db in
                try OrderRepository.transition(
                    "NOPE", from: "CREATED", to: "TRADE_SUCCESS", changes: OrderChanges(), event: OrderEvent(outTradeNo: "NOPE", source: "x"),
                    in: db)
            }
            #expect(!unknown)
        }
    }

    @Test("concurrent transitions from the same status: exactly one wins")
    func concurrentTransitions() async throws {
        try await withDatabase { database in
            let orders = OrderRepository(database: database)
            try await orders.create(Order(outTradeNo: "T1", subject: "s", totalAmountFen: 100, status: "WAIT_BUYER_PAY"))
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        try await database.pool.write { db in
                            try OrderRepository.transition(
                                "T1", from: "WAIT_BUYER_PAY", to: "TRADE_SUCCESS", changes: OrderChanges(),
                                event: OrderEvent(outTradeNo: "T1", source: "worker-\(worker)"), in: db)
                        }
                    }
                }
                return try await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
            }
            #expect(wins == 1)
            #expect(try await orders.events("T1").count == 2)
        }
    }

    @Test("flagging for review, listing and counting by status")
    func reviewListAndCount() async throws {
        try await withDatabase { database in
            let orders = OrderRepository(database: database)
            for index in 0..<5 {
                let status = index < 3 ? "WAIT_BUYER_PAY" : "TRADE_SUCCESS"
                try await orders.create(
                    Order(
                        outTradeNo: "T\(index)", subject: "s", totalAmountFen: 100, status: status,
                        createdAt: testNow.addingTimeInterval(Double(index))))
            }
            let flagged = try await database.pool.write { db in
                try OrderRepository.flagForReview("T3", reason: "total_amount mismatch: 1.00 != 0.99", in: db)
            }
            #expect(flagged)
            #expect(try await !database.pool.write { db in try OrderRepository.flagForReview("NOPE", reason: "x", in: db) })
            let order = try #require(try await orders.find("T3"))
            #expect(order.needsReview)
            #expect(order.reviewReason == "total_amount mismatch: 1.00 != 0.99")

            #expect(try await orders.countByStatus() == ["WAIT_BUYER_PAY": 3, "TRADE_SUCCESS": 2])
            #expect(try await orders.list(status: "WAIT_BUYER_PAY", limit: 10).map(\.outTradeNo) == ["T2", "T1", "T0"])
            #expect(try await orders.list(status: nil, limit: 2).map(\.outTradeNo) == ["T4", "T3"])
            let stale = try await orders.listCreated(before: testNow.addingTimeInterval(1.5), statuses: ["CREATED", "WAIT_BUYER_PAY"], limit: 10)
            #expect(stale.map(\.outTradeNo) == ["T0", "T1"])
        }
    }
}
