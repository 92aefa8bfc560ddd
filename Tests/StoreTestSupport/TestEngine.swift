import Foundation
import NotifyStore

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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", try url(base, database: "postgres"), "-c", sql]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw AdminError("psql \(sql): \(message)") }
    }

    struct AdminError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
