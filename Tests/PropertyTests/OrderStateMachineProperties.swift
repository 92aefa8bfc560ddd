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

                switch OrderStateMachine.decide(before, observed) {
                case .apply(let transition):
                    #expect(review == nil, "applied where a person must look: \(context)")
                    #expect(transition.from == before.status, "\(context)")
                    if transition.to == transition.from {
                        #expect(transition.kind == .partialRefund && before.status.isPaid, "a same-status change is a refund: \(context)")
                    } else {
                        #expect(Invariant5.moves.contains([transition.from, transition.to]), "\(transition.from) → \(transition.to): \(context)")
                    }
                    if let refunded = transition.refundedFen {
                        #expect(refunded > before.refundedFen && refunded <= totalFen, "refunded \(refunded): \(context)")
                        order.refundedFen = refunded
                    } else {
                        #expect(transition.kind != .partialRefund, "\(context)")
                    }
                    order.status = transition.to
                    // What TradeApplier keeps: paid_at once a payment applied, any refund, a paid status.
                    order.wasPaid = before.wasPaid || transition.kind == .payment || order.refundedFen > 0 || order.status.isPaid
                    if case .apply = OrderStateMachine.decide(order, observed) {
                        Issue.record("the same report applied twice: \(context)")
                    }
                case .unchanged:
                    #expect(review == nil, "\(context)")
                case .review(let reason, _):
                    #expect(reason == review, "\(context)")
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
