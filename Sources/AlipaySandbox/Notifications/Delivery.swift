import AlipayKit
import Foundation

/// One notification attempt as `GET /sandbox/deliveries` lists it.
public struct Delivery: Sendable, Equatable, Codable {
    /// What was sent.
    public enum Kind: String, Sendable, Codable {
        /// The notification itself, signed with Alipay's key.
        case genuine
        /// A second copy of the same attempt (fault `duplicate`).
        case duplicate
        /// A copy signed with a key that is not Alipay's (fault `forged`); never retried.
        case forged
    }

    /// `notify_id`, the same for every attempt of one notification.
    public var notifyId: String
    /// `out_trade_no` of the trade.
    public var outTradeNo: String
    /// `trade_status` the notification carried.
    public var tradeStatus: TradeStatus
    /// 1 for the first attempt, up to 8.
    public var attempt: Int
    /// When the attempt was made.
    public var time: Date
    /// What the merchant answered: its body as sent (at most 200 characters), `timeout`, `error: …` or `dropped`.
    public var answer: String
    /// How long the attempt took, in milliseconds.
    public var durationMs: Int
    /// The HTTP status of the merchant's answer, when there was one.
    public var httpStatus: Int?
    /// Whether this answer acknowledged the notification: HTTP 200 and the body exactly `success`.
    public var acknowledged: Bool
    /// Genuine, duplicate or forged.
    public var kind: Kind
    /// The URL it was posted to: `notify_url` without its query string, as Alipay posts.
    public var url: String

    enum CodingKeys: String, CodingKey {
        case notifyId = "notify_id", outTradeNo = "out_trade_no", tradeStatus = "trade_status", attempt, time, answer
        case durationMs = "duration_ms", httpStatus = "http_status", acknowledged, kind, url
    }
}

/// What one HTTP attempt to a `notify_url` came back with.
struct AttemptOutcome: Sendable {
    var answer: String
    var httpStatus: Int?
    var acknowledged: Bool
    /// When the attempt started.
    var time: Date
    /// When the answer came (or the attempt gave up); the next attempt is scheduled from here.
    var finished: Date

    init(answer: String, httpStatus: Int? = nil, acknowledged: Bool = false, time: Date, finished: Date = Date()) {
        self.answer = answer
        self.httpStatus = httpStatus
        self.acknowledged = acknowledged
        self.time = time
        self.finished = finished
    }

    static func dropped(at time: Date) -> AttemptOutcome {
        AttemptOutcome(answer: "dropped", time: time, finished: time)
    }
}
