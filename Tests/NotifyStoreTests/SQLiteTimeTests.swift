import Foundation
import GRDB
import Testing

@testable import NotifyStoreSQLite

/// The engine's own date text must be GRDB's, byte for byte, both ways: rows written by either are read by both, and
/// times compare as text in SQL (`run_at <= ?`).
@Suite("SQLite times without ICU")
struct SQLiteTimeTests {
    static let dates: [Date] = {
        var generator = SystemRandomNumberGenerator()
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -0.0005), Date(timeIntervalSince1970: 951_782_400.999),  // 2000-02-29
            Date(timeIntervalSince1970: 4_102_444_799.999), Date(timeIntervalSince1970: -62_135_596_800),  // 0001-01-01
            Date(timeIntervalSince1970: 1_764_000_000.123_9), Date(),
        ]
        for _ in 0..<20000 { dates.append(Date(timeIntervalSince1970: Double.random(in: -2e9...5e9, using: &generator))) }
        return dates
    }()

    @Test("text(date) is what GRDB writes for the date")
    func writesGRDBText() {
        for date in Self.dates {
            #expect(SQLiteTime.value(date) == date.databaseValue, "\(date.timeIntervalSince1970)")
        }
    }

    @Test("date(text) reads what GRDB reads, the same Double; other formats are left to GRDB")
    func readsGRDBText() throws {
        for date in Self.dates {
            let text = String.fromDatabaseValue(date.databaseValue)!
            guard date.timeIntervalSince1970 >= -12_212_553_600 else {
                #expect(SQLiteTime.date(text) == nil, "before 1583 (ICU's Julian days) is GRDB's: \(text)")
                continue
            }
            let fast = try #require(SQLiteTime.date(text), "\(text)")
            let grdb = try #require(Date.fromDatabaseValue(text.databaseValue))
            #expect(fast == grdb, "\(text): \(fast.timeIntervalSinceReferenceDate) vs \(grdb.timeIntervalSinceReferenceDate)")
        }
        #expect(SQLiteTime.date("2026-12-05 07:30:00")! == Date.fromDatabaseValue("2026-12-05 07:30:00".databaseValue))
        for other in ["2026-12-05", "2026-12-05 07:30", "2026-13-05 07:30:00.000", "2026-12-05 07:30:00.0000", "1764000000", "x"] {
            #expect(SQLiteTime.date(other) == nil, "\(other)")
        }
    }

    @Test("a row's date column decodes with the fast path and with GRDB's for what it does not take")
    func decodesRows() throws {
        let queue = try DatabaseQueue()
        try queue.read { db in
            let row = try #require(try Row.fetchOne(db, sql: "SELECT '2026-12-05 07:30:00.250', '2026-12-05T07:30', NULL, 1764000000"))
            #expect(try SQLiteTime.decode(row, 0) == Date(timeIntervalSince1970: 1_796_455_800.25))
            #expect(try SQLiteTime.decode(row, 1) == Date(timeIntervalSince1970: 1_796_455_800))
            #expect(try SQLiteTime.decodeIfPresent(row, 2) == nil)
            #expect(try SQLiteTime.decode(row, 3) == Date(timeIntervalSince1970: 1_764_000_000))
        }
    }
}
