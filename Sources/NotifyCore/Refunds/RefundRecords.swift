import Foundation
import NotifyStore

/// Keeps the refund records in step with what Alipay says about refunds (docs/refunds.md).
///
/// A refund notification (`refund_fee` with `out_biz_no`, the request number) settles the pending request it names,
/// whichever of the `trade.refund` answer and the notification comes first. A refund made elsewhere (Alipay's
/// merchant console) has no record yet: one is written as succeeded for the part of `refund_fee` not accounted for,
/// so that the records add up to what Alipay reports. The order itself always follows `refund_fee`.
enum RefundRecords {
    static func record(_ fact: TradeFact, refundedBefore: Int64, now: Date, in db: any StoreTransaction) throws {
        guard let requestNo = fact.outRequestNo, !requestNo.isEmpty, let refundFee = fact.refundFee else { return }
        if let existing = try db.refund(fact.outTradeNo, outRequestNo: requestNo) {
            if existing.status == .pending {
                try db.settleRefund(
                    outTradeNo: fact.outTradeNo, outRequestNo: requestNo, RefundSettlement(status: .succeeded, refundedAt: fact.refundedAt),
                    now: now)
            }
            return
        }
        let amount = refundFee.fen - refundedBefore
        guard amount > 0 else { return }
        do {
            try db.savepoint {
                try db.insertRefund(
                    Refund(
                        outTradeNo: fact.outTradeNo, outRequestNo: requestNo, amountFen: amount, status: .succeeded,
                        refundedAt: fact.refundedAt, createdAt: now))
            }
        } catch StoreError.overRefund, StoreError.duplicate {
            // The records already claim more than Alipay's total (a pending request of ours that Alipay made under
            // another number?): the order still follows refund_fee; `notifyctl orders show` lists both for a person.
        }
    }
}
