import GRDB
import GRDBSQLite

/// One statement of the worker's apply path, taken from GRDB's statement cache but bound and stepped through SQLite's
/// C API.
///
/// GRDB's `execute(arguments:)` boxes each argument as a `DatabaseValue` in an array of existentials, binds it through
/// nested closures and runs its per-statement bookkeeping (region tracking, observers, the aborted-transaction check):
/// on the statements that apply a notification that cost a third of the writer's time, as much as SQLite's own
/// work (BENCHMARKS.md, "Worker drain, third pass"). Here the values go straight to `sqlite3_bind_*`.
///
/// Only for INSERT, UPDATE and SELECT statements of integer columns run inside a transaction GRDB opened (the unit of work):
/// it refuses to run when no transaction is open, so that a statement can never commit on its own after SQLite
/// rolled a failed transaction back. A failure throws the `DatabaseError` GRDB would have thrown (same extended code
/// and message), which ``SQLiteStore/translate(_:)`` reads as usual.
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
        guard sqlite3_get_autocommit(connection) == 0 else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a hand-bound statement runs only inside a transaction", sql: sql)
        }
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
                bytes.isEmpty
                    ? sqlite3_bind_text(handle, index, "", 0, Self.transient)
                    : sqlite3_bind_text(handle, index, bytes.baseAddress, Int32(bytes.count), Self.transient)
            })
    }

    /// Binds the next parameter: an integer, or NULL.
    mutating func bind(_ value: Int64?) throws {
        index += 1
        guard let value else { return try check(sqlite3_bind_null(handle, index)) }
        try check(sqlite3_bind_int64(handle, index, value))
    }

    /// Binds the next parameter: an integer.
    mutating func bind(_ value: Int) throws {
        try bind(Int64(value))
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
    /// ``reset()``s the statement when it has read what it needs.
    func step() throws -> Bool {
        if sqlite3_stmt_busy(handle) == 0 { try precondition() }
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

    /// Makes the statement ready for its next use (GRDB's, or ours).
    func reset() {
        sqlite3_reset(handle)
    }

    private func precondition() throws {
        guard index == sqlite3_bind_parameter_count(handle) else {
            throw DatabaseError(
                resultCode: .SQLITE_MISUSE, message: "\(index) values bound, \(sqlite3_bind_parameter_count(handle)) expected", sql: statement.sql)
        }
        guard sqlite3_get_autocommit(connection) == 0 else {
            throw DatabaseError(resultCode: .SQLITE_MISUSE, message: "a hand-bound statement runs only inside a transaction", sql: statement.sql)
        }
    }

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw failure(code) }
    }

    private func failure(_ code: Int32) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: sqlite3_extended_errcode(connection)), message: String(cString: sqlite3_errmsg(connection)),
            sql: statement.sql)
    }

    /// SQLite copies the bytes before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
