import Foundation

/// Where the store lives, parsed from `store.url`: `sqlite:PATH` or `postgres://user:pass@host:port/db?sslmode=…`.
///
/// The password is kept for connecting and never printed: ``description`` and ``redacted`` leave it out.
public enum StoreURL: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite file (relative paths are relative to the working directory).
    case sqlite(path: String)
    /// A PostgreSQL server.
    case postgres(PostgresLocation)

    /// The default store, `sqlite:var/alipay-notify.sqlite`.
    public static let defaultStore = StoreURL.sqlite(path: "var/alipay-notify.sqlite")

    /// Parses `store.url`. Throws ``StoreError/invalidURL(_:)`` with a message naming what is wrong (never the password).
    public init(parsing text: String) throws(StoreError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("sqlite:") {
            var path = String(trimmed.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path.removeFirst(2) }  // sqlite:///abs/path or sqlite://rel
            guard !path.isEmpty else { throw .invalidURL("sqlite: needs a file path, e.g. sqlite:var/alipay-notify.sqlite") }
            self = .sqlite(path: path)
        } else if trimmed.hasPrefix("postgres://") || trimmed.hasPrefix("postgresql://") {
            self = .postgres(try PostgresLocation(parsing: trimmed))
        } else {
            let scheme = trimmed.split(separator: ":", maxSplits: 1).first.map(String.init) ?? trimmed
            throw .invalidURL(
                "unknown scheme \"\(scheme.prefix(20))\"; use sqlite:PATH or postgres://user:password@host:port/database?sslmode=require")
        }
    }

    /// The URL without its password, for logs.
    public var redacted: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let location): location.redacted
        }
    }

    public var description: String { redacted }
}

/// A PostgreSQL connection target from a `postgres://` URL. Printing it, debugging it or dumping it shows the
/// redacted form: the password is only ever read by the engine when it connects.
public struct PostgresLocation: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// How the connection uses TLS (`sslmode`).
    public enum TLSMode: String, Sendable, Equatable, CaseIterable {
        /// Plain TCP.
        case disable
        /// TLS when the server offers it, without verifying the certificate.
        case prefer
        /// TLS required, certificate not verified.
        case require
        /// TLS required, certificate chain and host name verified (`sslrootcert` names the CA file, else the system's).
        case verifyFull = "verify-full"
    }

    /// Host name or address.
    public var host: String
    /// TCP port (5432 by default).
    public var port: Int
    /// User name.
    public var username: String
    /// Password; never printed.
    public var password: String?
    /// Database name.
    public var database: String
    /// `sslmode` (default `prefer`, as libpq).
    public var tls: TLSMode
    /// `sslrootcert`: CA bundle for `verify-full`.
    public var rootCertificatePath: String?
    /// Pool size (`pool_max`, default 16).
    public var poolSize: Int
    /// `statement_timeout` in milliseconds (default 30,000; 0 = none).
    public var statementTimeoutMilliseconds: Int
    /// Connect timeout in seconds (`connect_timeout`, default 5).
    public var connectTimeoutSeconds: Int

    /// Parses `postgres://user:password@host:port/database?sslmode=…&sslrootcert=…&pool_max=…&statement_timeout=…`.
    public init(parsing text: String) throws(StoreError) {
        guard let components = URLComponents(string: text) else {
            throw .invalidURL("not a URL (check for unescaped characters: percent-encode '@', ':', '/' in the password)")
        }
        guard let host = components.host, !host.isEmpty else { throw .invalidURL("postgres URL without a host") }
        self.host = host
        port = components.port ?? 5432
        guard let user = components.user, !user.isEmpty else { throw .invalidURL("postgres URL without a user name") }
        username = user.removingPercentEncoding ?? user
        password = components.password.map { $0.removingPercentEncoding ?? $0 }
        let name = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !name.isEmpty else { throw .invalidURL("postgres URL without a database name (…/DATABASE)") }
        database = name
        tls = .prefer
        rootCertificatePath = nil
        poolSize = 16
        statementTimeoutMilliseconds = 30_000
        connectTimeoutSeconds = 5
        for item in components.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "sslmode":
                guard let mode = TLSMode(rawValue: value) else {
                    throw .invalidURL(
                        "sslmode=\(value.prefix(20)) is not supported; use one of \(TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                tls = mode
            case "sslrootcert":
                rootCertificatePath = value
            case "pool_max":
                guard let size = Int(value), (1...500).contains(size) else { throw .invalidURL("pool_max must be 1…500") }
                poolSize = size
            case "statement_timeout":
                guard let millis = Int(value), millis >= 0 else { throw .invalidURL("statement_timeout must be milliseconds ≥ 0") }
                statementTimeoutMilliseconds = millis
            case "connect_timeout":
                guard let seconds = Int(value), (1...600).contains(seconds) else { throw .invalidURL("connect_timeout must be 1…600 seconds") }
                connectTimeoutSeconds = seconds
            default:
                throw .invalidURL(
                    "unknown parameter \"\(item.name.prefix(30))\" (known: sslmode, sslrootcert, pool_max, statement_timeout, connect_timeout)")
            }
        }
    }

    /// `postgres://user@host:port/database?sslmode=…` — no password.
    public var redacted: String {
        "postgres://\(username)@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    public var description: String { redacted }
    public var debugDescription: String { redacted }
    public var customMirror: Mirror { Mirror(self, children: ["location": redacted]) }
}
