import Foundation
import GRDB

/// Times as the SQLite engine stores them: TEXT `yyyy-MM-dd HH:mm:ss.SSS` in UTC, GRDB's format for `Date`, so that
/// they sort as text and compare with `datetime()`.
///
/// GRDB converts with a `DateFormatter` and a `Calendar` (ICU), which cost more than the statements around them on the
/// worker's hot path (docs/performance.md). These write and read the same text with integer arithmetic; anything
/// that is not exactly that format (an older row, a hand-edited one) is left to GRDB.
enum SQLiteTime {
    /// The stored text of `date`, to the nearest millisecond (as the formatter rounds).
    static func text(_ date: Date) -> String {
        // Before the Gregorian reform ICU counts Julian days: leave those (never a payment's) to GRDB.
        guard date.timeIntervalSince1970 >= gregorianSince else { return String.fromDatabaseValue(date.databaseValue) ?? "" }
        // As Foundation hands the date to ICU: milliseconds since 1970 from the reference-date value, plus half a
        // millisecond, then floored — so the text is the formatter's, digit for digit.
        let milliseconds = Int64(((date.timeIntervalSinceReferenceDate + 978_307_200) * 1000 + 0.5).rounded(.down))
        var days = milliseconds / 86_400_000
        var rest = milliseconds % 86_400_000
        if rest < 0 {
            rest += 86_400_000
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        let seconds = rest / 1000
        var bytes = [UInt8](repeating: 0, count: 23)
        func put(_ value: Int64, _ at: Int, _ width: Int) {
            var value = value
            for index in stride(from: at + width - 1, through: at, by: -1) {
                bytes[index] = UInt8(truncatingIfNeeded: 48 + value % 10)
                value /= 10
            }
        }
        put(year, 0, 4)
        bytes[4] = 45  // -
        put(month, 5, 2)
        bytes[7] = 45
        put(day, 8, 2)
        bytes[10] = 32  // space
        put(seconds / 3600, 11, 2)
        bytes[13] = 58  // :
        put(seconds / 60 % 60, 14, 2)
        bytes[16] = 58
        put(seconds % 60, 17, 2)
        bytes[19] = 46  // .
        put(rest % 1000, 20, 3)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// 1583-01-01 00:00:00 UTC.
    private static let gregorianSince: Double = -12_212_553_600

    /// The bound value of `date` (what `date.databaseValue` gives, without ICU).
    static func value(_ date: Date) -> DatabaseValue { text(date).databaseValue }

    /// The bound value of an optional date (NULL for nil).
    static func value(_ date: Date?) -> DatabaseValue { date.map(value) ?? .null }

    /// The date of a stored text in the format above (also without milliseconds); nil for anything else.
    static func date(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { bytes -> Date? in
            guard bytes.count == 23 || bytes.count == 19 else { return nil }
            func number(_ at: Int, _ width: Int) -> Int64? {
                var value: Int64 = 0
                for index in at..<(at + width) {
                    let digit = Int64(bytes[index]) - 48
                    guard digit >= 0 && digit <= 9 else { return nil }
                    value = value * 10 + digit
                }
                return value
            }
            guard bytes[4] == 45, bytes[7] == 45, bytes[10] == 32 || bytes[10] == 84, bytes[13] == 58, bytes[16] == 58,
                let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60
            else { return nil }
            var milliseconds: Int64 = 0
            if bytes.count == 23 {
                guard bytes[19] == 46, let fraction = number(20, 3) else { return nil }
                milliseconds = fraction
            }
            guard year >= 1583 else { return nil }
            let days = SQLiteTime.days(fromCivil: year, month, day)
            // Composed as Foundation's calendar composes it (whole days since 2001, then the time of day), so that the
            // Double is GRDB's bit for bit and dates read either way compare equal.
            let sinceReference = days - 11_323  // 2001-01-01
            let time = (hour * 60 + minute) * 60 + second
            return Date(timeIntervalSinceReferenceDate: Double(sinceReference) * 86_400 + (Double(time) + Double(milliseconds) / 1000))
        }
    }

    /// The date of a stored value: the fast path for the stored format, GRDB's conversion for anything else; nil when
    /// it is none (NULL included). GRDB-decoded rows and the hand-read ones (``HandBoundStatement``) both read here.
    static func date(stored value: DatabaseValue) -> Date? {
        if case .string(let text) = value.storage, let date = date(text) { return date }
        return Date.fromDatabaseValue(value)
    }

    /// The date of a column (``date(stored:)``); anything else is GRDB's decoding error.
    static func decode(_ row: Row, _ index: Int) throws -> Date {
        if let date = date(stored: row[index]) { return date }
        return try row.decode(Date.self, atIndex: index)
    }

    /// As ``decode(_:_:)``, nil for NULL.
    static func decodeIfPresent(_ row: Row, _ index: Int) throws -> Date? {
        if row.hasNull(atIndex: index) { return nil }
        return try decode(row, index)
    }

    // Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar, days since 1970-01-01).
    private static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
