import NotifyStore
import AlipayKit
import Testing

@testable import NotifyCore

/// Invariant 5: the status only moves forward, stale and repeated observations change nothing.
@Suite("Order state machine")
struct OrderStateMachineTests {
    /// The whole table of invariant 5, written out independently of the implementation.
    static let allowed: Set<String> = [
        "CREATED>WAIT_BUYER_PAY", "CREATED>TRADE_SUCCESS", "CREATED>TRADE_FINISHED", "CREATED>TRADE_CLOSED",
        "WAIT_BUYER_PAY>TRADE_SUCCESS", "WAIT_BUYER_PAY>TRADE_FINISHED", "WAIT_BUYER_PAY>TRADE_CLOSED",
        "TRADE_SUCCESS>TRADE_FINISHED", "TRADE_SUCCESS>TRADE_CLOSED",
    ]

    @Test("canMove matches the table for every pair of statuses", arguments: OrderStatus.allCases)
    func table(from: OrderStatus) {
        for to in OrderStatus.allCases {
            #expect(OrderStateMachine.canMove(from: from, to: to) == Self.allowed.contains("\(from)>\(to)"), "\(from) → \(to)")
        }
    }

    @Test("every (order status, observed trade status) pair: applied moves are allowed, the rest change nothing")
    func everyPair() {
        for current in OrderStatus.allCases {
            for observed in TradeStatus.allCases {
                let target = OrderStatus(observed)
                // A paid order closing needs a full refund; give it one so the pair is judged on status alone.
                let refund: Int64? = current == .tradeSuccess && target == .tradeClosed ? 1000 : nil
                let decision = OrderStateMachine.decide(
                    OrderSnapshot(status: current, totalFen: 1000), TradeObservation(status: target, refundFen: refund))
                switch decision {
                case .apply(let transition):
                    #expect(transition.from == current)
                    #expect(transition.to == target)
                    #expect(Self.allowed.contains("\(current)>\(target)"), "\(current) → \(target) must not be applied")
                case .unchanged:
                    #expect(!Self.allowed.contains("\(current)>\(target)"), "\(current) → \(target) should have moved")
                case .review(let reason, _):
                    // Only a payment reported for an order closed unpaid is a review here.
                    #expect(current == .tradeClosed && target.isPaid && reason == .paidAfterClose, "\(current), \(target)")
                }
            }
        }
    }

    @Test("TRADE_FINISHED before TRADE_SUCCESS ends FINISHED; the late SUCCESS is stale")
    func finishedOvertakesSuccess() {
        var order = OrderSnapshot(status: .waitBuyerPay, totalFen: 8888)
        guard case .apply(let first) = OrderStateMachine.decide(order, TradeObservation(status: .tradeFinished)) else {
            Issue.record("FINISHED should apply")
            return
        }
        #expect(first.kind == .payment)
        order.status = first.to
        order.wasPaid = true
        #expect(OrderStateMachine.decide(order, TradeObservation(status: .tradeSuccess)) == .unchanged("stale: TRADE_SUCCESS after TRADE_FINISHED"))
    }

    @Test("refunds: partial raises refundedFen without a status change, full closes a paid order, partial close is a review")
    func refunds() throws {
        let paid = OrderSnapshot(status: .tradeSuccess, totalFen: 10_000)
        guard case .apply(let partial) = OrderStateMachine.decide(paid, TradeObservation(status: .tradeSuccess, refundFen: 2_500)) else {
            Issue.record("partial refund should apply")
            return
        }
        #expect(partial.from == .tradeSuccess && partial.to == .tradeSuccess && partial.kind == .partialRefund && partial.refundedFen == 2_500)

        let refunded = OrderSnapshot(status: .tradeSuccess, totalFen: 10_000, refundedFen: 2_500)
        #expect(
            OrderStateMachine.decide(refunded, TradeObservation(status: .tradeSuccess, refundFen: 2_500))
                == .unchanged("repeated: the order is already TRADE_SUCCESS"))
        #expect(
            OrderStateMachine.decide(refunded, TradeObservation(status: .tradeSuccess, refundFen: 1_000))
                == .unchanged("repeated: the order is already TRADE_SUCCESS"))

        guard case .apply(let full) = OrderStateMachine.decide(refunded, TradeObservation(status: .tradeClosed, refundFen: 10_000)) else {
            Issue.record("full refund should apply")
            return
        }
        #expect(full.kind == .fullRefund && full.to == .tradeClosed && full.refundedFen == 10_000)

        guard case .review(let reason, _) = OrderStateMachine.decide(refunded, TradeObservation(status: .tradeClosed, refundFen: 5_000)) else {
            Issue.record("a partial close of a paid order is a review")
            return
        }
        #expect(reason == .refundMismatch)
        guard case .review(.refundMismatch, _) = OrderStateMachine.decide(paid, TradeObservation(status: .tradeSuccess, refundFen: 10_001)) else {
            Issue.record("refunding more than paid is a review")
            return
        }
    }

    @Test("a closed-unpaid order reported paid goes to review; a refunded one does not move back")
    func paidAfterClose() {
        let closedUnpaid = OrderSnapshot(status: .tradeClosed, totalFen: 100)
        guard case .review(.paidAfterClose, _) = OrderStateMachine.decide(closedUnpaid, TradeObservation(status: .tradeSuccess)) else {
            Issue.record("expected paid_after_close")
            return
        }
        let closedRefunded = OrderSnapshot(status: .tradeClosed, totalFen: 100, refundedFen: 100)
        guard case .unchanged = OrderStateMachine.decide(closedRefunded, TradeObservation(status: .tradeSuccess)) else {
            Issue.record("a refunded order must not go back to TRADE_SUCCESS")
            return
        }
    }

    /// The order of statuses along every allowed path (TRADE_CLOSED is terminal like TRADE_FINISHED).
    static func rank(_ status: OrderStatus) -> Int {
        switch status {
        case .created: 0
        case .waitBuyerPay: 1
        case .tradeSuccess: 2
        case .tradeFinished, .tradeClosed: 3
        }
    }

    @Test("property: 2,000 random observation sequences never move an order backwards and refunds never shrink")
    func randomSequences() {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<2_000 {
            let total = Int64.random(in: 1...1_000_000, using: &generator)
            var order = OrderSnapshot(status: Bool.random(using: &generator) ? .created : .waitBuyerPay, totalFen: total)
            var history = [order.status]
            for _ in 0..<Int.random(in: 1...12, using: &generator) {
                let status = TradeStatus.allCases.randomElement(using: &generator)!
                let refund: Int64? =
                    switch Int.random(in: 0...3, using: &generator) {
                    case 0: total
                    case 1: Int64.random(in: 1...total, using: &generator)
                    default: nil
                    }
                let decision = OrderStateMachine.decide(order, TradeObservation(status: OrderStatus(status), refundFen: refund))
                guard case .apply(let transition) = decision else { continue }
                #expect(transition.from == order.status)
                #expect(transition.from == transition.to || OrderStateMachine.canMove(from: transition.from, to: transition.to))
                #expect(Self.rank(transition.to) >= Self.rank(transition.from))
                if let refunded = transition.refundedFen {
                    #expect(refunded > order.refundedFen && refunded <= total)
                    order.refundedFen = refunded
                }
                if transition.to.isPaid { order.wasPaid = true }
                order.status = transition.to
                history.append(order.status)
            }
            #expect(zip(history, history.dropFirst()).allSatisfy { Self.rank($0) <= Self.rank($1) }, "\(history)")
        }
    }
}

/// A small deterministic generator so a failing property run can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
