import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines
import Testing

/// The engines the conformance suite runs on, as River runs one driver suite over every driver.
///
/// SQLite always runs (a fresh file per test). PostgreSQL runs against the server named by
/// `ALIPAY_NOTIFY_TEST_POSTGRES_URL` — `scripts/test` (and so CI) starts a throwaway one — with a fresh database per
/// test. Without that variable the PostgreSQL cases print why they did not run; under `CI=true` they fail instead,
/// so CI can never pass without exercising PostgreSQL.
enum Engine: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }

    /// The server for PostgreSQL tests, when one was given.
    static var postgresURL: String? {
        ProcessInfo.processInfo.environment["ALIPAY_NOTIFY_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Opens a fresh, migrated store of this engine, runs `body`, closes and removes it.
    func withFreshStore(_ body: (any Store, StoreURL) async throws -> Void) async throws {
        let url: StoreURL
        var cleanup: () -> Void = {}
        switch self {
        case .sqlite:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("conformance-\(UUID().uuidString)")
            url = .sqlite(path: folder.appendingPathComponent("store.sqlite").path)
            cleanup = { try? FileManager.default.removeItem(at: folder) }
        case .postgres:
            guard let base = Self.postgresURL else {
                if ProcessInfo.processInfo.environment["CI"] == "true" {
                    Issue.record("CI=true but ALIPAY_NOTIFY_TEST_POSTGRES_URL is not set: scripts/test must start PostgreSQL")
                } else {
                    print("skipped on postgres: ALIPAY_NOTIFY_TEST_POSTGRES_URL is not set (scripts/test starts a server and sets it)")
                }
                return
            }
            let name = "conformance_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
            try PostgresAdmin.run(base, "CREATE DATABASE \(name)")
            url = try StoreURL(parsing: PostgresAdmin.url(base, database: name))
            cleanup = { try? PostgresAdmin.run(base, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
        }
        defer { cleanup() }
        var logger = Logger(label: "conformance")
        logger.logLevel = .warning
        let store = try await StoreEngines.open(url, logger: logger)
        do {
            try await body(store, url)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }
}

/// Creates and drops test databases with `psql` (PostgreSQL's own client, installed with the server).
enum PostgresAdmin {
    /// `base` with its database name replaced.
    static func url(_ base: String, database: String) throws -> String {
        guard var components = URLComponents(string: base) else { throw AdminError("bad ALIPAY_NOTIFY_TEST_POSTGRES_URL") }
        components.path = "/\(database)"
        return components.string!
    }

    /// Runs one SQL command against the server's `postgres` database.
    static func run(_ base: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", try url(base, database: "postgres"), "-c", sql]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            throw AdminError("psql \(sql): \(message)")
        }
    }

    struct AdminError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }
}
