import NotifyStore
import AlipayKit
import NotifyCore
import PropertyBased

/// A report Alipay might send about a trade, drawn before the order's amount is known.
struct ObservationSpec: Sendable, CustomStringConvertible {
    /// How `refund_fee` relates to the order's amount.
    enum Refund: Sendable { case none, full, partial, over }

    /// Any trade status, `refund_fee` absent half the time; the other half full, partial (0 included) or too much.
    static let any = zip(Gen<TradeStatus>.case, Gen.int(in: 0...7), Gen.int64(in: 0...1_000_000)).map { status, refund, raw in
        let kind: Refund =
            switch refund {
            case 0...3: .none
            case 4: .full
            case 5, 6: .partial
            default: .over
            }
        return ObservationSpec(status: status, refund: kind, raw: raw)
    }

    var status: TradeStatus
    var refund: Refund
    var raw: Int64

    var description: String { "\(status.rawValue)/\(refund)" }

    /// The observation for an order of `totalFen` fen.
    func observation(totalFen: Int64) -> TradeObservation {
        let refundFen: Int64? =
            switch refund {
            case .none: nil
            case .full: totalFen
            case .partial: raw % totalFen
            case .over: totalFen + 1 + raw % 1_000
            }
        return TradeObservation(status: OrderStatus(status), refundFen: refundFen)
    }
}
