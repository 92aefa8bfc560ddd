import AlipayKit
import Foundation
import GRDB
import NotifyCore
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import PropertyBased
import Testing

/// Property 4 (invariants 5 and 6) through the worker's real rules and a real SQLite store: `order_events` tells
/// the whole story of each order, one row per change, never backwards.
@Suite("Random facts through TradeApplier and SQLite never move an order backwards")
struct TradeApplierProperties {
    @Test("order_events is a forward-only chain with one row per applied change; rejected facts change nothing")
    func orderEventsOnlyMoveForward() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("property-tests-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try SQLiteStore(path: directory.appendingPathComponent("alipay-notify.sqlite").path)
        let orders = StoreOrders(database)
        let applier = TradeApplier(appId: PropertyFixtures.appId, sellerId: PropertyFixtures.sellerId)

        let input = zip(Gen.int64(in: 1...10_000_000), Gen.bool, FactSpec.any.array(of: 0...10))
        await propertyCheck(count: 60, input: input) { totalFen, waiting, specs in
            let outTradeNo = "P\(UUID().uuidString)"
            let start: OrderStatus = waiting ? .waitBuyerPay : .created
            try await orders.create(Order(outTradeNo: outTradeNo, subject: "property", totalAmountFen: totalFen, status: start))
            var status = start
            var refundedFen: Int64 = 0
            var everPaid = false
            var reviewed = false
            var previous: TradeFact?

            for (index, spec) in specs.enumerated() {
                let fact =
                    spec.repeatsPrevious
                    ? previous ?? spec.fact(outTradeNo: outTradeNo, totalFen: totalFen, index: index)
                    : spec.fact(outTradeNo: outTradeNo, totalFen: totalFen, index: index)
                previous = fact
                let context = "\(status) + \(fact.summary) party \(fact.party.map { "\($0.appId)/\($0.sellerId ?? "-")" } ?? "-")"
                let eventsBefore = try await orders.events(outTradeNo).count

                let result = try await database.write { db in try applier.apply(fact, lease: nil, now: Date(), in: db) }
                let order = try #require(try await orders.find(outTradeNo))
                let events = try await orders.events(outTradeNo)
                let after = order.status

                // TradeApplier's checks come first (invariant 6), then a timeout only closes an unpaid order, then invariant 5.
                let timeoutTooLate = fact.source == .timeout && !status.isUnpaid
                let review: ReviewReason?
                if let party = fact.party, party.appId != PropertyFixtures.appId {
                    review = .appIdMismatch
                } else if let party = fact.party, party.sellerId != PropertyFixtures.sellerId {
                    review = .sellerIdMismatch
                } else if fact.totalAmount.fen != totalFen {
                    review = .amountMismatch
                } else if timeoutTooLate {
                    review = nil
                } else {
                    review = Invariant5.review(status: status, everPaid: everPaid, totalFen: totalFen, observed: fact.observation)
                }
                let expected =
                    review != nil || timeoutTooLate
                    ? status : Invariant5.status(after: status, everPaid: everPaid, totalFen: totalFen, observed: fact.observation)

                switch result {
                case .applied(let transition, let source, let earlier):
                    #expect(review == nil, "applied where a person must look: \(context)")
                    let first = earlier.first ?? transition
                    #expect(source == fact.source && first.from == status && transition.to == after, "\(context)")
                    #expect(events.count == eventsBefore + 1 + earlier.count, "one event per change: \(context)")
                    let last = try #require(events.last)
                    #expect(
                        last.fromStatus == transition.from && last.toStatus == after && last.source == fact.source.rawValue, "\(context)")
                case .unchanged:
                    #expect(review == nil, "\(context)")
                    #expect(events.count == eventsBefore && order.refundedFen == refundedFen, "no change, no event: \(context)")
                case .review(let reason, _):
                    #expect(reason == review, "\(context)")
                    #expect(events.count == eventsBefore && order.refundedFen == refundedFen, "a review changed the order: \(context)")
                    reviewed = true
                }

                #expect(after == expected, "\(context)")
                #expect(Invariant5.rank(after) >= Invariant5.rank(status), "backwards: \(context)")
                #expect(order.refundedFen >= refundedFen && order.refundedFen <= totalFen, "refunded \(order.refundedFen): \(context)")
                if after == .tradeClosed, status != .tradeClosed {
                    #expect(status.isUnpaid || (status == .tradeSuccess && order.refundedFen == totalFen), "closed: \(context)")
                }
                everPaid = everPaid || after.isPaid || order.refundedFen > 0 || order.paidAt != nil
                status = after
                refundedFen = order.refundedFen
            }

            let final = try #require(try await orders.find(outTradeNo))
            #expect(final.needsReview == reviewed)
            let events = try await orders.events(outTradeNo)
            let creation = try #require(events.first)
            #expect(creation.fromStatus == nil && creation.toStatus == start && creation.source == "create")
            for (earlier, later) in zip(events, events.dropFirst()) {
                let from = try #require(later.fromStatus)
                let to = later.toStatus
                #expect(later.fromStatus == earlier.toStatus, "the chain of events is broken at event \(later.id ?? -1)")
                #expect(Invariant5.moves.contains([from, to]) || (from == to && from.isPaid), "event \(from) → \(to)")
                #expect(!Invariant5.terminal.contains(from) || from == to, "an event leaves terminal \(from)")
            }
            #expect(events.last?.toStatus == final.status)
        }
    }
}
