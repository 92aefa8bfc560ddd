import NIOCore
import NIOSSL
import NotifyStore
import PostgresNIO

/// How to reach the server, derived once from a `PostgresLocation`: the pool's configuration, and the same settings
/// for the stand-alone connections (the start-up probe, the LISTEN connection).
///
/// `statement_timeout` travels as a startup parameter, so every session starts with it and no unit of work pays a
/// `SET` round trip. TLS follows libpq's `sslmode`: `prefer` and `require` encrypt without verifying the certificate,
/// `verify-full` verifies the chain (against `sslrootcert` when given) and the host name.
struct PostgresConnectionSettings: Sendable {
    let location: PostgresLocation
    /// TLS for the pool (`PostgresClient` takes a configuration).
    let clientTLS: PostgresClient.Configuration.TLS
    /// TLS for single connections (`PostgresConnection` takes a context, built once).
    let connectionTLS: PostgresConnection.Configuration.TLS
    /// Sent in every session's startup message.
    let startupParameters: [(String, String)]

    /// Throws `StoreError.cannotOpen` when the TLS settings cannot be used (an unreadable CA file).
    init(_ location: PostgresLocation) throws(StoreError) {
        self.location = location
        startupParameters = [
            ("statement_timeout", String(location.statementTimeoutMilliseconds)),
            ("application_name", "alipay-notify"),
        ]
        var tls = TLSConfiguration.makeClientConfiguration()
        switch location.tls {
        case .disable:
            clientTLS = .disable
            connectionTLS = .disable
            return
        case .prefer, .require:
            tls.certificateVerification = .none
        case .verifyFull:
            tls.certificateVerification = .fullVerification
            if let path = location.rootCertificatePath { tls.trustRoots = .file(path) }
        }
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: tls)
        } catch {
            throw .cannotOpen(location: location.redacted, reason: "cannot set up TLS (sslrootcert?): \(String(describing: error).prefix(200))")
        }
        if location.tls == .prefer {
            clientTLS = .prefer(tls)
            connectionTLS = .prefer(context)
        } else {
            clientTLS = .require(tls)
            connectionTLS = .require(context)
        }
    }

    /// The pool: `pool_max` connections at most, none kept open without demand.
    var clientConfiguration: PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: clientTLS)
        configuration.options.maximumConnections = location.poolSize
        configuration.options.minimumConnections = 0
        configuration.options.connectTimeout = .seconds(location.connectTimeoutSeconds)
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }

    /// One connection outside the pool.
    var connectionConfiguration: PostgresConnection.Configuration {
        var configuration = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.username, password: location.password,
            database: location.database, tls: connectionTLS)
        configuration.options.connectTimeout = .seconds(Int64(location.connectTimeoutSeconds))
        configuration.options.additionalStartupParameters = startupParameters
        return configuration
    }
}
