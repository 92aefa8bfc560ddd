import Foundation
import NotifyStore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The store engines tests run on, as River runs one driver suite over every driver.
///
/// SQLite always runs (a fresh file per test). PostgreSQL runs against the server named by
/// `ALIPAY_NOTIFY_TEST_POSTGRES_URL` — `scripts/test` (and so CI) starts a throwaway one — with a fresh database per
/// test; without that variable a PostgreSQL case is unavailable and says why (the caller prints it, or fails in CI).
public enum TestEngine: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite
    case postgres

    public var description: String { rawValue }

    /// The server for PostgreSQL tests, when one was given.
    public static var postgresURL: String? {
        ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// True when tests run under CI (`CI=true`), where an unavailable engine is a failure, not a skip.
    public static var isCI: Bool {
        let value = ProcessInfo.processInfo.environment["CI"] ?? ""
        return !value.isEmpty && value != "false" && value != "0"
    }

    /// Where a fresh, empty store of this engine lives, or why there is none here.
    public enum Location: Sendable {
        /// `url` is what `STORE_URL` gets (with the password); `remove` drops the database or deletes the file.
        case available(url: String, remove: @Sendable () -> Void)
        /// The engine cannot run here; the reason names what is missing.
        case unavailable(reason: String)
    }

    /// Says that an engine cannot run here: a failure under CI (so CI never passes without PostgreSQL), the reason
    /// printed elsewhere.
    public static func reportUnavailable(_ engine: TestEngine, _ reason: String) {
        if isCI {
            Issue.record("CI: the \(engine) engine must run, but \(reason)")
        } else {
            print("skipped on \(engine): \(reason)")
        }
    }

    /// A fresh location (`STORE_URL` text and how to remove it), or nil after reporting why the engine cannot run here.
    public func freshLocationOrReport(folder: URL) throws -> (url: String, remove: @Sendable () -> Void)? {
        switch try freshLocation(folder: folder) {
        case .available(let url, let remove):
            return (url, remove)
        case .unavailable(let reason):
            Self.reportUnavailable(self, reason)
            return nil
        }
    }

    /// A fresh location: an SQLite file in `folder`, or a new database on the test PostgreSQL server.
    public func freshLocation(folder: URL) throws -> Location {
        switch self {
        case .sqlite:
            let path = folder.appendingPathComponent("var/alipay-notify.sqlite").path
            return .available(url: "sqlite:\(path)", remove: {})
        case .postgres:
            guard let base = Self.postgresURL else {
                let why = ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_TEST_POSTGRES_UNAVAILABLE"].map { " (\($0))" } ?? ""
                return .unavailable(reason: "ALIPAY_NOTIFY_TEST_POSTGRES_URL is not set\(why); scripts/test starts a server and sets it")
            }
            let name = "t_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20))"
            try PostgresAdmin.run(base, "CREATE DATABASE \(name)")
            return .available(
                url: try PostgresAdmin.url(base, database: name),
                remove: { try? PostgresAdmin.run(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") })
        }
    }
}

/// Creates and drops test databases with `psql` (PostgreSQL's own client, installed with the server).
public enum PostgresAdmin {
    /// `base` with its database name replaced. Test stores get small pools and a patient connection wait: many tests
    /// run at once against one server (whose `max_connections` bounds them all) on a busy 2-core machine.
    public static func url(_ base: String, database: String) throws -> String {
        guard var components = URLComponents(string: base) else { throw AdminError("ALIPAY_NOTIFY_TEST_POSTGRES_URL is not a URL") }
        components.path = "/\(database)"
        var items = (components.queryItems ?? []).filter { $0.name != "pool_max" && $0.name != "connect_timeout" }
        if database != "postgres" {
            items += [URLQueryItem(name: "pool_max", value: "4"), URLQueryItem(name: "connect_timeout", value: "30")]
        }
        components.queryItems = items
        return components.string!
    }

    /// Runs one SQL command against the server's `postgres` database.
    public static func run(_ base: String, _ sql: String) throws {
        let status = Command.run(["/usr/bin/env", "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", try url(base, database: "postgres"), "-c", sql])
        guard status == 0 else { throw AdminError("psql \(sql) exited \(status) (is ALIPAY_NOTIFY_TEST_POSTGRES_URL's server up?)") }
    }

    struct AdminError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}

/// Commands the store tests drive: `psql`, `scripts/postgres`.
public enum Command {
    /// The repository's `scripts/NAME`.
    public static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/\(name)").path
    }

    /// Starts a command in the background, output discarded, with no signal blocked (it must stop on SIGTERM even
    /// when this test thread blocks some); its pid, or -1 when it could not start. The caller kills it.
    public static func spawn(_ arguments: [String]) -> pid_t {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, arguments[0], &actions, &attributes, argv, environ) == 0 else { return -1 }
        return pid
    }

    /// Stops a spawned command (SIGTERM) and reaps it.
    public static func stop(_ pid: pid_t) {
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }

    /// Runs a command to its end, output discarded; its exit status (-1 when it could not start). posix_spawn and
    /// waitpid rather than Foundation's Process, whose wait can miss the exit of a script whose grandchild (a
    /// restarted server) keeps running.
    public static func run(_ arguments: [String]) -> Int32 {
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, arguments[0], &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
    }
}
