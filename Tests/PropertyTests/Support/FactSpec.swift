import AlipayKit
import NotifyCore
import PropertyBased

/// One fact for the worker's rules: a report, where it came from, and whether it is for someone else's money.
struct FactSpec: Sendable, CustomStringConvertible {
    /// Who the fact claims the trade belongs to; anything but `.ours` must go to review.
    enum Party: Sendable { case ours, wrongAmount, foreignApp, foreignSeller }

    /// Mostly notifications, some `trade.query` answers and timeouts; 3 in 20 claim to be someone else's; 1 in 5 re-delivers the previous one.
    static let any = zip(ObservationSpec.any, Gen.int(in: 0...9), Gen.int(in: 0...19), Gen.int(in: 0...4)).map { observation, source, party, again in
        FactSpec(
            observation: observation,
            source: source < 6 ? .notification : source < 8 ? .query : .timeout,
            party: party == 0 ? .wrongAmount : party == 1 ? .foreignApp : party == 2 ? .foreignSeller : .ours,
            repeatsPrevious: again == 0)
    }

    /// What Alipay reports.
    var observation: ObservationSpec
    /// Notification, query answer or timeout.
    var source: TradeFact.Source
    /// Whose trade it claims to be.
    var party: Party
    /// Alipay re-sends: apply the previous fact once more instead.
    var repeatsPrevious: Bool

    var description: String { repeatsPrevious ? "again" : "\(source)/\(observation)/\(party)" }

    /// The fact for an order; a timeout is always our own `trade.close` of the order, a query answer names no party.
    func fact(outTradeNo: String, totalFen: Int64, index: Int) -> TradeFact {
        if source == .timeout {
            return TradeFact(outTradeNo: outTradeNo, status: .tradeClosed, totalAmount: Amount(fen: totalFen), source: .timeout)
        }
        let observed = observation.observation(totalFen: totalFen)
        let claimed: TradeFact.Party? =
            switch (source, party) {
            case (.query, _): nil
            case (_, .foreignApp): .init(appId: "2021999999999999", sellerId: PropertyFixtures.sellerId)
            case (_, .foreignSeller): .init(appId: PropertyFixtures.appId, sellerId: "2088999999999999")
            default: .init(appId: PropertyFixtures.appId, sellerId: PropertyFixtures.sellerId)
            }
        return TradeFact(
            outTradeNo: outTradeNo, status: observed.status, totalAmount: Amount(fen: party == .wrongAmount ? totalFen + 1 : totalFen),
            refundFee: observed.refundFen.map(Amount.init(fen:)), tradeNo: "2024010122001400000000000001", party: claimed, source: source,
            notifyId: source == .notification ? "notify-\(index)" : nil)
    }
}
