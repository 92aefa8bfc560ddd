import Foundation
import GRDB
import GRDBSQLite

/// A statement of the store's hot paths, taken from GRDB's statement cache but bound and stepped through SQLite's C
/// API: the receiver's append (the notification upsert, its job), every job's INSERT, and what applying a notification
/// reads and writes (the order read and its transition, its event, the outbox sequence and event, the batch's jobs
/// taken and completed).
///
/// GRDB's `execute(arguments:)` boxes each argument as a `DatabaseValue` in an array of existentials, binds it through
/// nested closures and runs its per-statement bookkeeping (region tracking, observers, the aborted-transaction check):
/// on the worker's apply that cost a third of the writer's time, as much as SQLite's own work (BENCHMARKS.md, "Fourth
/// pass"). Here the values go straight to `sqlite3_bind_*`, bound as GRDB binds them (text up to its first NUL).
///
/// Only for INSERT, UPDATE and SELECT statements run inside a transaction GRDB opened (the unit of
/// work): it refuses to run when no transaction is open (GRDB's aborted-transaction check, stricter), so that a
/// statement can never commit on its own after SQLite rolled a failed transaction back. A failure throws a
/// `DatabaseError` with SQLite's extended code and message, which ``SQLiteStore/translate(_:)`` reads as it reads
/// GRDB's. What GRDB also did and this does not: transaction observers and region tracking (the store uses neither),
/// and the check for a cancelled database access before each statement (the unit of work ends at its next GRDB call).
struct HandBoundStatement {
    private let statement: Statement
    private let handle: SQLiteStatement
    private let connection: SQLiteConnection
    private var index: Int32 = 0

    init(_ db: Database, sql: String) throws {
        statement = try db.cachedStatement(sql: sql)
        handle = statement.sqliteStatement
        guard let connection = db.sqliteConnection else { throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "connection closed", sql: sql) }
        self.connection = connection
        try Self.requireTransaction(connection, sql: sql)
        // GRDB leaves a cached statement as its last step left it; values can only be bound to a reset one.
        sqlite3_reset(handle)
    }

    /// Binds the next parameter: text, or NULL.
    mutating func bind(_ value: String?) throws {
        index += 1
        guard var value else { return try check(sqlite3_bind_null(handle, index)) }
        try check(
            value.withUTF8 { bytes in
                // An empty buffer may have no address, and a NULL pointer would bind NULL rather than ''.
                guard let start = bytes.baseAddress, !bytes.isEmpty else { return sqlite3_bind_text(handle, index, "", 0, Self.transient) }
                // Up to the first NUL, as GRDB binds a String (and as PostgreSQL, which refuses NUL in text, can copy it).
                // memchr, not firstIndex(of:): the generic search ran byte by byte through witnesses (30 % of the drain).
                let length = memchr(start, 0, bytes.count).map { UnsafeRawPointer($0) - UnsafeRawPointer(start) } ?? bytes.count
                return sqlite3_bind_text64(handle, index, start, sqlite3_uint64(length), Self.transient, UInt8(SQLITE_UTF8))
            })
    }

    /// Binds the next parameter: an integer, or NULL.
    mutating func bind(_ value: Int64?) throws {
        index += 1
        guard let value else { return try check(sqlite3_bind_null(handle, index)) }
        try check(sqlite3_bind_int64(handle, index, value))
    }

    /// Runs a statement that returns no row.
    func run() throws {
        defer { reset() }
        guard try !step() else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a statement run for no row returned one", sql: statement.sql)
        }
    }

    /// Runs a statement that returns at most one row and reads its first column as an integer (nil: no row, or NULL).
    func int64() throws -> Int64? {
        defer { reset() }
        return try step() ? int64(at: 0) : nil
    }

    /// Steps once: true when a row is there to read (``int64(at:)``), false when the statement is done. The caller
    /// ``reset()``s the statement as soon as it has read what it needs.
    func step() throws -> Bool {
        if sqlite3_stmt_busy(handle) == 0 {
            guard index == sqlite3_bind_parameter_count(handle) else {
                throw DatabaseError(
                    resultCode: .SQLITE_MISUSE, message: "\(index) values bound, \(sqlite3_bind_parameter_count(handle)) expected",
                    sql: statement.sql)
            }
            try Self.requireTransaction(connection, sql: statement.sql)
        }
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_DONE: return false
        case SQLITE_ROW: return true
        default: throw failure(code)
        }
    }

    /// Column `column` of the current row as an integer (nil: NULL).
    func int64(at column: Int32) -> Int64? {
        sqlite3_column_type(handle, column) == SQLITE_NULL ? nil : sqlite3_column_int64(handle, column)
    }

    /// Column `column` of the current row as text (nil: NULL); a number or blob reads as SQLite converts it.
    func text(at column: Int32) -> String? {
        guard sqlite3_column_type(handle, column) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, column) else { return nil }
        return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
    }

    /// Column `column` of the current row, which must not be NULL, as an integer; `name` is for the error.
    func requiredInt64(at column: Int32, _ name: String) throws -> Int64 {
        guard let value = int64(at: column) else { throw ColumnError(column: name, problem: "is NULL") }
        return value
    }

    /// Column `column` of the current row, which must not be NULL, as text; `name` is for the error.
    func requiredText(at column: Int32, _ name: String) throws -> String {
        guard let value = text(at: column) else { throw ColumnError(column: name, problem: "is NULL") }
        return value
    }

    /// Column `column` of the current row, which must not be NULL, as a word of `Word` (a status, a kind).
    func requiredWord<Word: RawRepresentable<String>>(at column: Int32, _ name: String) throws -> Word {
        let text = try requiredText(at: column, name)
        guard let value = Word(rawValue: text) else { throw ColumnError(column: name, problem: "holds \(text), not a \(Word.self)") }
        return value
    }

    /// Column `column` of the current row as a date stored by ``SQLiteTime`` (nil: NULL); another format is read as
    /// GRDB reads it.
    func date(at column: Int32, _ name: String) throws -> Date? {
        // The store's date columns have TEXT affinity: whatever is written there is read back as text.
        guard let text = text(at: column) else { return nil }
        guard let date = SQLiteTime.date(stored: text.databaseValue) else { throw ColumnError(column: name, problem: "holds \(text), not a date") }
        return date
    }

    /// ``date(at:_:)`` of a column that must not be NULL.
    func requiredDate(at column: Int32, _ name: String) throws -> Date {
        guard let date = try date(at: column, name) else { throw ColumnError(column: name, problem: "is NULL") }
        return date
    }

    /// A stored value a row mapping cannot read (a NULL where the schema forbids one, a word no case has): a bug or a
    /// file changed by hand, reported with the column.
    struct ColumnError: Error, CustomStringConvertible {
        let column: String
        let problem: String
        var description: String { "column \(column) \(problem)" }
    }

    /// Makes the statement ready for its next use (GRDB's, or ours). The values stay bound until then (every use binds
    /// all of them again): clearing them after each use measurably slowed the drain (a few per cent).
    func reset() {
        sqlite3_reset(handle)
    }

    /// A statement outside a transaction would commit on its own: refused, as GRDB refuses a statement after SQLite
    /// aborted the transaction. (`sql` only when it throws: GRDB's `Statement.sql` trims the text with Foundation on
    /// every read, which on each step cost a third of the drain.)
    private static func requireTransaction(_ connection: SQLiteConnection, sql: @autoclosure () -> String) throws {
        guard sqlite3_get_autocommit(connection) == 0 else {
            throw DatabaseError(resultCode: .SQLITE_ABORT, message: "Transaction was aborted (or never began): a hand-bound statement runs only inside one", sql: sql())
        }
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw failure(code) }
    }

    /// SQLite's extended code and message for the failure (`code` when the connection has none).
    private func failure(_ code: Int32) -> DatabaseError {
        let extended = sqlite3_extended_errcode(connection)
        return DatabaseError(
            resultCode: ResultCode(rawValue: extended != SQLITE_OK ? extended : code), message: String(cString: sqlite3_errmsg(connection)),
            sql: statement.sql)
    }

    /// SQLite copies the bytes before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
