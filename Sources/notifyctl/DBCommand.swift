import ArgumentParser
import Foundation
import NotifyCore
import NotifyStore

/// `notifyctl db …`: schema migrations and pruning of old audit data.
struct DB: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Migrate and prune the database.", subcommands: [Migrate.self, Prune.self])

    /// `notifyctl db migrate`.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending schema migrations (safe to run again).")
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            try await reporting {
                let configuration = try await options.load()
                // Migrations run under the engine's lock (SQLite's writer, PostgreSQL's advisory lock), so this is safe
                // while daemons start; a schema newer than this build is refused.
                let (applied, known) = try await withStore(configuration, creating: true) { store in
                    (try await store.migrate(), store.knownMigrations)
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
            abstract: "Delete done jobs and their notifications older than an age (pending, running and dead ones are kept).")
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
                let result = try await withStore(configuration) { store in try await store.prune(olderThan: Date().addingTimeInterval(-age)) }
                if json {
                    try printJSON(["jobs": result.jobs, "notifications": result.notifications])
                } else {
                    print("pruned \(result.jobs) done jobs and \(result.notifications) notifications older than \(olderThan)")
                }
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
