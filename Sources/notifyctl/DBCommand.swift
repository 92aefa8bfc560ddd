import ArgumentParser
import Foundation
import NotifyCore
import Logging
import NotifyStore
import NotifyStoreEngines
import NotifyStoreSQLite

/// `notifyctl db …`: schema migrations and pruning of old audit data.
struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Migrate, prune and copy the database.", subcommands: [Migrate.self, Prune.self, Copy.self, Backup.self, Restore.self])

    /// `notifyctl db migrate`.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations (safe to run again).")
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            try await reporting {
                let configuration = try await options.load()
                // Migrations run under the engine's lock (SQLite's writer, PostgreSQL's advisory lock), so this is safe
                // while daemons start; a schema newer than this build is refused.
                // Opening to write migrates (under the engine's lock); what it applied is this command's answer.
                let (applied, known) = try await withStore(configuration, creating: true) { store in
                    (store.migrationsAppliedOnOpen, store.knownMigrations)
                }
                let location = configuration.storeURL.redacted
                if applied.isEmpty {
                    print("\(location): schema up to date (\(known.joined(separator: ", ")))")
                } else {
                    print("\(location): applied \(applied.joined(separator: ", "))")
                }
            }
        }
    }

    /// `notifyctl db prune --older-than 30d`.
    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Delete done jobs and their notifications, and delivered order events and delivery attempts, older than an age (pending, running and dead ones are kept).")
        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "Age such as 30d, 12h or 90m.")
        var olderThan: String

        @Flag(name: .long, help: "Print the result as JSON.")
        var json = false

        func run() async throws {
            try await reporting {
                guard let age = parseAge(olderThan) else {
                    throw CLIFailure.configuration("--older-than \"\(olderThan)\": expected a number followed by d, h or m (e.g. 30d)")
                }
                let configuration = try await options.load()
                let cutoff = Date().addingTimeInterval(-age)
                let (result, webhooks) = try await withStore(configuration) { store in
                    (try await store.prune(olderThan: cutoff), try await store.pruneWebhooks(olderThan: cutoff))
                }
                if json {
                    try printJSON([
                        "jobs": result.jobs, "notifications": result.notifications, "webhook_events": webhooks.events,
                        "delivery_attempts": webhooks.attempts,
                    ])
                } else {
                    print(
                        "pruned \(result.jobs) done jobs, \(result.notifications) notifications, \(webhooks.events) order events and "
                            + "\(webhooks.attempts) delivery attempts older than \(olderThan)")
                }
            }
        }
    }
}

extension DB {
    /// The SQLite file of the configuration, or a usage error for PostgreSQL (whose backups are the server's).
    static func sqlitePath(_ configuration: NotifyConfiguration, command: String) throws -> String {
        guard case .sqlite(let path) = configuration.storeURL else {
            throw CLIFailure.configuration(
                "db \(command) is for the SQLite store; with PostgreSQL use the server's tools (pgBackRest, a streaming standby): "
                    + "deploy/postgresql/README.md")
        }
        return path
    }

    /// `notifyctl db backup --to FILE`: an online, consistent copy of the SQLite database.
    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the SQLite database while the daemons run (consistent, checked, written atomically).")
        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "The backup file to write (replaced atomically when it exists).")
        var to: String

        @Flag(name: .long, help: "Print {\"path\",\"bytes\",\"counts\",\"migrations\",\"lastEventAt\"}.")
        var json = false

        func run() async throws {
            try await reporting {
                let configuration = try await options.load()
                let path = try DB.sqlitePath(configuration, command: "backup")
                guard FileManager.default.fileExists(atPath: path) else {
                    throw CLIFailure.configuration("store.url (STORE_URL) \(configuration.storeURL): no database at \(path)")
                }
                let report: SQLiteBackup.Report
                do {
                    report = try SQLiteBackup.backup(databaseAt: path, to: to)
                } catch {
                    throw CLIFailure.failed("backup of \(path) to \(to) failed (nothing was replaced): \(error)")
                }
                if json {
                    try printJSON(report)
                } else {
                    let rows = report.counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    print("backup \(report.path): \(report.bytes) bytes, integrity ok, \(rows)")
                }
            }
        }
    }

    /// `notifyctl db restore --from FILE`: put a backup in place of the SQLite database.
    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the SQLite database with a backup (refused while a daemon runs; the replaced file is kept).",
            discussion: """
                Afterwards every unpaid order of the backup is queued for alipay.trade.query at once, and notifications \
                Alipay re-sends are applied as usual. Orders created after the backup cannot be recovered from it: \
                the report lists those the replaced file still shows.
                """)
        @OptionGroup var options: ConfigOptions

        @Option(name: .long, help: "The backup file (from notifyctl db backup).")
        var from: String

        @Flag(name: .long, help: "Print the report as JSON.")
        var json = false

        func run() async throws {
            try await reporting {
                let configuration = try await options.load()
                let path = try DB.sqlitePath(configuration, command: "restore")
                let report: SQLiteBackup.RestoreReport
                do {
                    report = try SQLiteBackup.restore(from: from, to: path)
                } catch StoreError.busy(let reason) {
                    throw CLIFailure.failed("not restored: \(reason)")
                } catch {
                    throw CLIFailure.failed("not restored: \(error)")
                }
                if json {
                    try printJSON(report)
                    return
                }
                print("restored \(path) from \(from)")
                if let kept = report.replacedKeptAt { print("the replaced database is kept at \(kept)") }
                print("unpaid orders queued for alipay.trade.query now: \(report.reconcileQueued)")
                if let last = report.backup.lastEventAt {
                    print("the backup's newest order event: \(OrderView.timestamp(last)); what happened after it comes back only from Alipay")
                }
                if !report.missingOrders.isEmpty {
                    print("NOT recovered (in the replaced database, not in the backup): \(report.missingOrders.joined(separator: ", "))")
                }
            }
        }
    }

    /// `notifyctl db copy --from sqlite:PATH --to postgres://…`: move to another store with the whole history.
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy orders, events, notifications, jobs and their history to another store (idempotent; counts verified).",
            discussion: """
                Stop the daemons first: rows that change on the source after they were copied are not copied again. The \
                target is migrated first; it must be empty or an earlier copy of the same source. Run again to finish an \
                interrupted copy. Exit 0 when every table has as many rows in the target as in the source, 1 otherwise.
                """)

        @Option(name: .long, help: "The store to read: sqlite:PATH or postgres://… (never changed).")
        var from: String

        @Option(name: .long, help: "The store to write: postgres://… or sqlite:PATH.")
        var to: String

        @Flag(name: .long, help: "Print [{\"table\",\"source\",\"copied\",\"target\"}].")
        var json = false

        func run() async throws {
            try await reporting {
                let source: StoreURL
                let target: StoreURL
                do {
                    source = try StoreURL(parsing: from)
                    target = try StoreURL(parsing: to)
                } catch {
                    throw CLIFailure.configuration("\(error)")
                }
                guard source != target else { throw CLIFailure.configuration("--from and --to name the same store") }
                if case .sqlite(let path) = source, !FileManager.default.fileExists(atPath: path) {
                    throw CLIFailure.configuration("--from \(source): no database at \(path)")
                }
                let logger = Logger(label: "notifyctl")
                let reports: [StoreCopier.TableReport]
                do {
                    reports = try await StoreEngines.withStore(source, options: .init(migrate: false), logger: logger) { from in
                        try await StoreEngines.withStore(target, options: .init(migrate: true), logger: logger) { to in
                            try await StoreCopier.copy(from: from, to: to) { table, copied in
                                if !json, copied % 10_000 == 0 { FileHandle.standardError.write(Data("copy: \(table.rawValue) \(copied)\n".utf8)) }
                            }
                        }
                    }
                } catch {
                    throw CLIFailure.failed("copy \(source) → \(target): \(error)")
                }
                if json {
                    try printJSON(reports)
                } else {
                    print(
                        renderTable(
                            ["table", "source", "copied", "target"],
                            reports.map { [$0.table.rawValue, "\($0.source)", "\($0.copied)", "\($0.target)"] }))
                }
                let short = reports.filter { $0.target < $0.source }
                guard short.isEmpty else {
                    throw CLIFailure.no(
                        "the target has fewer rows than the source in \(short.map(\.table.rawValue).joined(separator: ", ")) (rows added meanwhile? run again)")
                }
                if !json { print("copied \(source) → \(target): every table complete") }
            }
        }
    }
}

/// Parses `30d`, `12h`, `90m` into seconds.
func parseAge(_ text: String) -> TimeInterval? {
    guard let unit = text.last, let value = Int(text.dropLast()), value >= 0 else { return nil }
    switch unit {
    case "d": return TimeInterval(value) * 86_400
    case "h": return TimeInterval(value) * 3_600
    case "m": return TimeInterval(value) * 60
    default: return nil
    }
}
