import NotifyStore
import AlipayKit
import NotifyCore
import PropertyBased
import Testing

/// Property 4 (invariant 5) on the pure state machine: random report sequences, refunds included.
@Suite("The order state machine never moves backwards")
struct OrderStateMachineProperties {
    @Test("canMove is exactly invariant 5's table")
    func table() {
        for from in OrderStatus.allCases {
            for to in OrderStatus.allCases {
                #expect(OrderStateMachine.canMove(from: from, to: to) == Invariant5.moves.contains([from, to]), "\(from) → \(to)")
            }
        }
    }

    @Test("any sequence of reports: status rank never falls, FINISHED and CLOSED are terminal, CLOSED only by the rules")
    func neverBackwards() async {
        let input = zip(Gen.int64(in: 1...10_000_000), Gen.bool, ObservationSpec.any.array(of: 0...16))
        await propertyCheck(count: 2_000, input: input) { totalFen, waiting, specs in
            var order = OrderSnapshot(status: waiting ? .waitBuyerPay : .created, totalFen: totalFen, wasPaid: false)
            for spec in specs {
                let observed = spec.observation(totalFen: totalFen)
                let before = order
                let context =
                    "\(before.status) (refunded \(before.refundedFen) of \(totalFen)) + \(spec) \(observed.refundFen.map(String.init) ?? "-")"
                let review = Invariant5.review(status: before.status, everPaid: before.wasPaid, totalFen: totalFen, observed: observed)

                // Like TradeApplier: the rules are asked again after each move until they have nothing to do. Only
                // TRADE_CLOSED with a full refund of an order unpaid here takes two moves (the payment, the refund).
                var moves = 0
                var decision = OrderStateMachine.decide(before, observed)
                decisions: while true {
                    switch decision {
                    case .apply(let transition):
                        let current = order
                        #expect(review == nil, "applied where a person must look: \(context)")
                        #expect(transition.from == current.status, "\(context)")
                        if transition.to == transition.from {
                            #expect(transition.kind == .partialRefund && current.status.isPaid, "a same-status change is a refund: \(context)")
                        } else {
                            #expect(Invariant5.moves.contains([transition.from, transition.to]), "\(transition.from) → \(transition.to): \(context)")
                        }
                        if let refunded = transition.refundedFen {
                            #expect(refunded > current.refundedFen && refunded <= totalFen, "refunded \(refunded): \(context)")
                            order.refundedFen = refunded
                        } else {
                            #expect(transition.kind != .partialRefund, "\(context)")
                        }
                        order.status = transition.to
                        // What TradeApplier keeps: paid_at once a payment applied, any refund, a paid status.
                        order.wasPaid = current.wasPaid || transition.kind == .payment || order.refundedFen > 0 || order.status.isPaid
                        moves += 1
                        let twoMoves = before.status.isUnpaid && observed.status == .tradeClosed && observed.refundFen == totalFen
                        guard moves < (twoMoves ? 2 : 1) else {
                            if case .apply = OrderStateMachine.decide(order, observed) {
                                Issue.record("the same report applied again after \(moves) move(s): \(context)")
                            }
                            break decisions
                        }
                        decision = OrderStateMachine.decide(order, observed)
                    case .unchanged:
                        #expect(review == nil, "\(context)")
                        break decisions
                    case .review(let reason, _):
                        #expect(moves == 0 && reason == review, "\(context)")
                        break decisions
                    }
                }

                #expect(
                    order.status == Invariant5.status(after: before.status, everPaid: before.wasPaid, totalFen: totalFen, observed: observed),
                    "\(context)")
                #expect(Invariant5.rank(order.status) >= Invariant5.rank(before.status), "backwards: \(context)")
                if Invariant5.terminal.contains(before.status) { #expect(order.status == before.status, "left a terminal status: \(context)") }
                if order.status == .tradeClosed, before.status != .tradeClosed {
                    #expect(before.status.isUnpaid || (before.status == .tradeSuccess && order.refundedFen == totalFen), "closed: \(context)")
                }
                #expect(order.refundedFen >= before.refundedFen && order.refundedFen <= totalFen, "\(context)")
            }
        }
    }
}
