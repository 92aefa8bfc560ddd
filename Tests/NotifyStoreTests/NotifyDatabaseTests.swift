import Foundation
import GRDB
import Testing

@testable import NotifyStore

@Suite("Opening the database")
struct NotifyDatabaseTests {
    @Test("the writer connection runs WAL with synchronous=FULL, foreign keys and a busy timeout")
    func writerIsDurable() async throws {
        try await withDatabase { database in
            #expect(try database.synchronousMode() == "full")
            #expect(try database.journalMode() == "wal")
            // Read the pragmas on the writer connection itself, after a write went through it.
            _ = try await SQLiteJobQueue(database: database).enqueue(NewJob(kind: .reconcile))
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
            let first = try NotifyDatabase(path: path, migrate: true)
            #expect(first.migrationsAppliedOnOpen == NotifyDatabase.knownMigrations)
            #expect(try first.migrate().isEmpty)
            #expect(try first.pendingMigrations().isEmpty)
            let applied = try first.pool.read { db in try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") }
            #expect(applied == NotifyDatabase.knownMigrations)
            #expect(NotifyDatabase.knownMigrations.allSatisfy { $0.hasPrefix("v") })

            let second = try NotifyDatabase(path: path, migrate: true)
            #expect(second.migrationsAppliedOnOpen.isEmpty)
            #expect(try second.migrate().isEmpty)
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
            #expect(throws: StoreError.schemaBehind(pending: NotifyDatabase.knownMigrations)) {
                try NotifyDatabase(path: path, migrate: false)
            }
            let migrated = try NotifyDatabase(path: path, migrate: true)
            #expect(try migrated.pendingMigrations().isEmpty)
            _ = try NotifyDatabase(path: path, migrate: false)
        }
    }

    @Test("a database migrated by a newer build is refused with a clear message")
    func newerSchemaIsRefused() async throws {
        try await withTemporaryFolder { folder in
            let path = folder.appendingPathComponent("store.sqlite").path
            let database = try NotifyDatabase(path: path)
            try await database.pool.write { db in
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v9-from-the-future')")
            }
            let expected = StoreError.schemaTooNew(found: ["v9-from-the-future"], known: NotifyDatabase.knownMigrations)
            #expect(throws: expected) { try NotifyDatabase(path: path) }
            #expect(throws: expected) { try NotifyDatabase(path: path, migrate: false) }
            #expect(throws: expected) { try database.migrate() }
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
                try NotifyDatabase(path: file.appendingPathComponent("store.sqlite").path)
            }
            guard case .cannotOpen(let path, _) = error else {
                Issue.record("unexpected \(String(describing: error))")
                return
            }
            #expect(path.hasSuffix("a-file/store.sqlite"))
        }
    }
}
