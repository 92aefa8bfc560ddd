import AlipayKit
import Foundation

/// Everything the sandbox remembers: trades, notifications still to deliver, the delivery log, number sequences.
///
/// One value, so it is saved (and restored after a restart) as one JSON document.
struct SandboxState: Sendable, Codable {
    /// The format of the state file; bumped when it changes incompatibly.
    static let formatVersion = 1
    /// The delivery log keeps at most this many entries, dropping the oldest.
    static let deliveryLogLimit = 10_000

    var version = SandboxState.formatVersion
    /// Trades by `out_trade_no`.
    var trades: [String: Trade] = [:]
    /// Notifications not yet acknowledged and not exhausted.
    var outbox: [PendingNotification] = []
    /// Every attempt so far, oldest first.
    var deliveries: [Delivery] = []
    /// Last sequence number used in a `trade_no`.
    var tradeSequence: Int64 = 0
    /// Last sequence number used in a `notify_id`.
    var notifySequence: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case version, trades, outbox, deliveries, tradeSequence = "trade_sequence", notifySequence = "notify_sequence"
    }

    /// The trade with this `out_trade_no`, or this `trade_no` (Alipay accepts either, `trade_no` first).
    func outTradeNo(outTradeNo: String?, tradeNo: String?) -> String? {
        if let tradeNo, !tradeNo.isEmpty {
            return trades.values.first { $0.tradeNo == tradeNo }?.outTradeNo
        }
        if let outTradeNo, trades[outTradeNo] != nil { return outTradeNo }
        return nil
    }
}

/// A notification waiting for its next attempt.
struct PendingNotification: Sendable, Codable {
    /// `notify_id`, kept across re-sends.
    var notifyId: String
    var outTradeNo: String
    var tradeStatus: TradeStatus
    /// `notify_url`.
    var url: String
    /// The fields to send, without `notify_time`, `sign_type` and `sign` (added at each attempt).
    var parameters: [String: String]
    /// Attempts made so far.
    var attempts: Int = 0
    /// When the next attempt is due.
    var nextAttemptAt: Date
    /// The `notify_id` whose first attempt must be over before this one's first attempt (fault `reorder`).
    var after: String?
    /// Being delivered right now; not saved, so an attempt cut short by a restart is made again.
    var inFlight = false

    enum CodingKeys: String, CodingKey {
        case notifyId = "notify_id", outTradeNo = "out_trade_no", tradeStatus = "trade_status", url, parameters, attempts
        case nextAttemptAt = "next_attempt_at", after
    }
}

/// One attempt the dispatcher is to make now.
struct DueNotification: Sendable {
    var notifyId: String
    var outTradeNo: String
    var tradeStatus: TradeStatus
    var url: String
    /// The fields with this attempt's `notify_time`, not yet signed.
    var parameters: [String: String]
    /// 1-based number of this attempt.
    var attempt: Int
    /// The sandbox generation it belongs to; a reset makes older attempts' results irrelevant.
    var generation: Int
}
