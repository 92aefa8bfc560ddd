import AlipayKit
import Foundation

/// When an unpaid order stops being payable: page.pay's `timeout_express` (relative) or `time_expire` (absolute).
///
/// Alipay closes a trade that is still unpaid at that moment (TRADE_CLOSED, notified); an order the buyer never
/// scanned or logged in to simply expires, with no trade and no notification. When both are given `time_expire`
/// wins, as at Alipay.
public enum TradeExpiry: Sendable, Equatable {
    /// `timeout_express` in minutes, hours or days: `90m`, `2h`, `15d`.
    case after(Duration)
    /// `timeout_express` `1c`: at the end of the (China) day the order was opened, whenever that was.
    case endOfDay
    /// `time_expire`, `yyyy-MM-dd HH:mm:ss` China time.
    case at(Date)

    /// Alipay's bounds for `timeout_express`: 1m … 15d.
    static let longest: Duration = .seconds(15 * 24 * 3600)

    /// Parses the two fields; nil when neither is given, `ACQ.INVALID_PARAMETER` when one is malformed.
    public static func parse(timeoutExpress: String?, timeExpire: String?, now: Date = Date()) throws(TradeError) -> TradeExpiry? {
        if let text = timeExpire, !text.isEmpty {
            guard let date = ChinaTime.date(text) else {
                throw .invalidParameter("time_expire must be yyyy-MM-dd HH:mm:ss, got \(text)")
            }
            guard date > now else { throw .invalidParameter("time_expire \(text) is already past") }
            return .at(date)
        }
        guard let text = timeoutExpress, !text.isEmpty else { return nil }
        // Alipay takes no decimals ("1.5h" must be written "90m") and no spaces.
        guard let unit = text.last, let count = Int64(text.dropLast()), count >= 1, String(count) == text.dropLast() else {
            throw .invalidParameter("timeout_express must be a whole number and m, h, d or 1c (e.g. 30m), got \(text)")
        }
        let seconds: Int64
        switch unit {
        case "m": seconds = count * 60
        case "h": seconds = count * 3600
        case "d": seconds = count * 86_400
        case "c":
            guard count == 1 else { throw .invalidParameter("timeout_express in days-of-calendar is only 1c, got \(text)") }
            return .endOfDay
        default:
            throw .invalidParameter("timeout_express must end in m, h, d or c (e.g. 30m), got \(text)")
        }
        guard seconds <= 15 * 86_400 else { throw .invalidParameter("timeout_express must be at most 15d, got \(text)") }
        return .after(.seconds(seconds))
    }

    /// The instant the order expires when opened at `opened`, with the time until then divided by `timeScale`.
    public func deadline(openedAt opened: Date, timeScale: Double) -> Date {
        let realSeconds: Double
        switch self {
        case .after(let duration): realSeconds = duration.timeInterval
        case .endOfDay: realSeconds = ChinaTime.nextMidnight(after: opened).timeIntervalSince(opened)
        case .at(let date): realSeconds = max(0, date.timeIntervalSince(opened))
        }
        return opened.addingTimeInterval(realSeconds / timeScale)
    }
}
