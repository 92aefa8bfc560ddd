import Foundation
import GRDB
import Testing

@testable import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport

@Suite("Opening the database")
struct SQLiteStoreTests {
    @Test("the writer connection runs WAL with synchronous=FULL, foreign keys and a busy timeout")
    func writerIsDurable() async throws {
        try await withDatabase { database in
            #expect(try database.synchronousMode() == "full")
            #expect(try database.journalMode() == "wal")
            // Read the pragmas on the writer connection itself, after a write went through it.
            _ = try await StoreQueue(database).enqueue(NewJob(kind: .reconcile))
            let (synchronous, journal, foreignKeys) = try await database.pool.writeWithoutTransaction { db in
                (
                    try Int.fetchOne(db, sql: "PRAGMA synchronous")!,
                    try String.fetchOne(db, sql: "PRAGMA journal_mode")!,
                    try Int.fetchOne(db, sql: "PRAGMA foreign_keys")!
                )
            }
            #expect(synchronous == 2)  // FULL
            #expect(journal == "wal")
            #expect(foreignKeys == 1)
            #expect(await database.isWritable())
        }
    }

    @Test("migrations apply once; migrating again changes nothing")
    func migrationsAreIdempotent() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("nested/dir/store.sqlite").path
            let first = try SQLiteStore(path: path, migrate: true)
            #expect(first.migrationsAppliedOnOpen == SQLiteStore.knownMigrations)
            #expect(try first.migrateNow().isEmpty)
            #expect(try first.pendingMigrationsNow().isEmpty)
            let applied = try first.pool.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
            #expect(applied == SQLiteStore.knownMigrations)
            #expect(SQLiteStore.knownMigrations.allSatisfy { $0.hasPrefix("v") })

            let second = try SQLiteStore(path: path, migrate: true)
            #expect(second.migrationsAppliedOnOpen.isEmpty)
            #expect(try second.migrateNow().isEmpty)
            let tables = try second.pool.read { db in
                try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
            }
            #expect(tables.isSuperset(of: ["jobs", "job_attempts", "notifications", "orders", "order_events"]))
        }
    }

    @Test("a fresh file opened without migrating is refused, naming the missing migrations")
    func schemaBehindIsRefused() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("store.sqlite").path
            #expect(throws: StoreError.schemaBehind(pending: SQLiteStore.knownMigrations)) {
                try SQLiteStore(path: path, migrate: false)
            }
            let migrated = try SQLiteStore(path: path, migrate: true)
            #expect(try migrated.pendingMigrationsNow().isEmpty)
            _ = try SQLiteStore(path: path, migrate: false)
        }
    }

    @Test("a database migrated by a newer build is refused with a clear message")
    func newerSchemaIsRefused() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("store.sqlite").path
            let database = try SQLiteStore(path: path)
            try await database.pool.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-from-the-future')")
            }
            let expected = StoreError.schemaTooNew(found: ["v9-from-the-future"], known: SQLiteStore.knownMigrations)
            #expect(throws: expected) { try SQLiteStore(path: path) }
            #expect(throws: expected) { try SQLiteStore(path: path, migrate: false) }
            #expect(throws: expected) { try database.migrateNow() }
            #expect(expected.description.contains("v9-from-the-future"))
            #expect(expected.description.contains("newer"))
        }
    }

    @Test("a path whose folder cannot be created fails with a message naming it")
    func unopenablePath() async throws {
        try await withTemporaryFolder { folder in
            let file = folder.appendingPathComponent("a-file")
            try Data("x".utf8).write(to: file)
            let error = #expect(throws: StoreError.self) {
                try SQLiteStore(path: file.appendingPathComponent("store.sqlite").path)
            }
            guard case .cannotOpen(let path, _) = error else {
                Issue.record("unexpected \(String(describing: error))")
                return
            }
            #expect(path.hasSuffix("a-file/store.sqlite"))
        }
    }
}
