import Foundation
import Logging
import NotifyStore
import NotifyStoreEngines
import StoreTestSupport
import Testing

/// What only the PostgreSQL engine has: connection settings, and secrets kept out of messages and logs.
@Suite("PostgreSQL engine")
struct PostgresOnlyTests {
    /// Collects every log line the engine writes.
    final class Lines: @unchecked Sendable {
        private let lock = NSLock()
        private var lines: [String] = []
        func append(_ line: String) { lock.withLock { lines.append(line) } }
        var all: String { lock.withLock { lines.joined(separator: "\n") } }
    }

    struct CapturingHandler: LogHandler {
        let lines: Lines
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            lines.append("\(event.level) \(event.message) \(event.metadata ?? [:]) \(metadata)")
        }
    }

    @Test("a wrong password, an unknown database and a closed port stop start-up with a clear error that never holds the password")
    func connectionFailuresKeepThePasswordOut() async throws {
        guard let base = TestEngine.postgresURL else {
            TestEngine.reportUnavailable(.postgres, "ALIPAY_NOTIFY_TEST_POSTGRES_URL is not set")
            return
        }
        let secret = "Sup3r-Secret-Passw0rd"
        var components = try #require(URLComponents(string: base))
        components.password = secret
        let wrongPassword = try #require(components.string)
        components.password = URLComponents(string: base)?.password
        components.path = "/no_such_database_here"
        let unknownDatabase = try #require(components.string)
        let closedPort = "postgres://alipay:\(secret)@127.0.0.1:9/alipay_notify?sslmode=disable&connect_timeout=2"

        let lines = Lines()
        let logger = Logger(label: "pg-secrets") { _ in CapturingHandler(lines: lines) }
        for (text, expected) in [(wrongPassword, "password"), (unknownDatabase, "no_such_database_here"), (closedPort, "127.0.0.1:9")] {
            let url = try StoreURL(parsing: text)
            #expect(!url.description.contains(secret))
            do {
                let store = try await StoreEngines.open(url, logger: logger)
                await store.close()
                Issue.record("opened \(url) although it should fail")
            } catch let error as StoreError {
                guard case .cannotOpen = error else {
                    Issue.record("expected cannotOpen, got \(error)")
                    continue
                }
                #expect(!error.description.contains(secret), "\(error)")
                #expect(error.description.localizedCaseInsensitiveContains(expected), "\(error)")
            }
        }
        #expect(!lines.all.contains(secret), "a log line holds the password")
    }

    @Test("store.url parameters: sslmode, pool size, timeouts; unknown ones are refused by name")
    func urlParameters() throws {
        let url = try StoreURL(parsing: "postgres://u:p%40ss@db.example:6543/shop?sslmode=verify-full&sslrootcert=/etc/ca.pem&pool_max=4&statement_timeout=1500")
        guard case .postgres(let location) = url else {
            Issue.record("not postgres: \(url)")
            return
        }
        #expect(location.password == "p@ss")
        #expect(location.tls == .verifyFull && location.rootCertificatePath == "/etc/ca.pem")
        #expect(location.poolSize == 4 && location.statementTimeoutMilliseconds == 1500 && location.port == 6543)
        #expect(url.description == "postgres://u@db.example:6543/shop?sslmode=verify-full")
        #expect(throws: StoreError.self) { try StoreURL(parsing: "postgres://u:p@h/db?sslmod=require") }
        #expect(throws: StoreError.self) { try StoreURL(parsing: "mysql://u:p@h/db") }
        #expect(try StoreURL(parsing: "sqlite:var/x.sqlite") == .sqlite(path: "var/x.sqlite"))
    }
}
