import Foundation

/// Alipay's wall clock: `yyyy-MM-dd HH:mm:ss` in China Standard Time (UTC+8, no daylight saving) — `timestamp`,
/// `time_expire`, `gmt_payment` … — and the ISO 8601 UTC text of our own records, from one civil-date computation.
///
/// Plain arithmetic instead of `DateFormatter`, `Calendar` or `ISO8601FormatStyle`: those are not cheap (the format
/// style went through ICU twice per order event on the worker's hot path), and the first is not `Sendable`.
public enum ChinaTime {
    static let offsetSeconds: Int64 = 8 * 3600

    /// `2026-11-29 14:03:07` for the given instant.
    public static func string(_ date: Date) -> String {
        let (y, m, d, hh, mm, ss) = fields(date)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(hh, 2)):\(pad(mm, 2)):\(pad(ss, 2))"
    }

    /// `2026-11-29`: the day of the instant in China time (a statement's `bill_date`).
    public static func day(_ date: Date) -> String {
        let (y, m, d, _, _, _) = fields(date)
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }

    /// `20261129`, the day prefix of trade and notify numbers.
    public static func compactDay(_ date: Date) -> String {
        let (y, m, d, _, _, _) = fields(date)
        return "\(pad(y, 4))\(pad(m, 2))\(pad(d, 2))"
    }

    /// `140503`, the time of day (China time) inside a `notify_id`.
    public static func compactTime(_ date: Date) -> String {
        let (_, _, _, hh, mm, ss) = fields(date)
        return "\(pad(hh, 2))\(pad(mm, 2))\(pad(ss, 2))"
    }

    /// The next midnight in China after `date`: when a `timeout_express` of `1c` ends.
    public static func nextMidnight(after date: Date) -> Date {
        let local = Int64(date.timeIntervalSince1970.rounded(.down)) + offsetSeconds
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        return Date(timeIntervalSince1970: TimeInterval((days + 1) * 86_400 - offsetSeconds))
    }

    /// Parses `yyyy-MM-dd HH:mm:ss` (China time); nil when the text is not exactly that shape or not a real time.
    public static func date(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count == 19, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: " "),
            bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":")
        else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10), let hh = number(11..<13),
            let mm = number(14..<16), let ss = number(17..<19),
            (1...12).contains(m), (1...daysIn(month: m, year: y)).contains(d), hh < 24, mm < 60, ss < 60
        else { return nil }
        let seconds = daysFromCivil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offsetSeconds
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    /// ISO 8601 in UTC with seconds, `2025-01-31T08:15:00Z`: what `Date.ISO8601FormatStyle(timeZone: .gmt)` writes
    /// (a test holds the two equal); dates outside the years 0…9999, or not finite, are left to the format style.
    public static func utcISO8601(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970.rounded(.down)
        guard interval.isFinite, abs(interval) < 2.5e11 else { return date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt)) }
        let (y, m, d, hh, mm, ss) = fields(date, offset: 0)
        guard (0...9999).contains(y) else { return date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt)) }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(hh, 2)):\(pad(mm, 2)):\(pad(ss, 2))Z"
    }

    private static func fields(_ date: Date, offset: Int64 = offsetSeconds) -> (Int64, Int64, Int64, Int64, Int64, Int64) {
        let local = Int64(date.timeIntervalSince1970.rounded(.down)) + offset
        let days = local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
        let secondOfDay = local - days * 86_400
        let (y, m, d) = civilFromDays(days)
        return (y, m, d, secondOfDay / 3600, secondOfDay % 3600 / 60, secondOfDay % 60)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    private static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    private static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
