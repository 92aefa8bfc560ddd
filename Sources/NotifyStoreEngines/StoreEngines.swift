import Logging
import NotifyStore
import NotifyStorePostgres
import NotifyStoreSQLite
import ServiceLifecycle

/// Opens the store `store.url` names: the one place that knows both engines, so that everything above it — the
/// daemons, `notifyctl`, the tests — picks an engine once, from configuration, and then speaks only the contract.
public enum StoreEngines {
    /// What engines need beyond the URL.
    public struct Options: Sendable {
        /// Apply pending migrations (daemons and `notifyctl db migrate`); otherwise a schema that is behind is refused.
        public var migrate: Bool
        /// SQLite: the writer's page cache (`store.cacheMegabytes`).
        public var sqliteCacheMegabytes: Int
        /// A daemon opens it: SQLite holds the daemon lock meanwhile, so `notifyctl db restore` refuses to run.
        public var daemon: Bool

        /// Options; by default migrate, 256 MiB of SQLite page cache, not a daemon.
        public init(migrate: Bool = true, sqliteCacheMegabytes: Int = SQLiteStore.defaultCacheMegabytes, daemon: Bool = false) {
            self.migrate = migrate
            self.sqliteCacheMegabytes = sqliteCacheMegabytes
            self.daemon = daemon
        }
    }

    /// Opens (and by default migrates) the store. Errors are ``StoreError`` with a message that names the location
    /// without its password.
    public static func open(_ url: StoreURL, options: Options = Options(), logger: Logger) async throws -> any Store {
        switch url {
        case .sqlite(let path):
            return try SQLiteStore(path: path, migrate: options.migrate, cacheMegabytes: options.sqliteCacheMegabytes, daemon: options.daemon)
        case .postgres(let location):
            return try await PostgresStore.open(location, migrate: options.migrate, logger: logger)
        }
    }

    /// The service that keeps the store's connections for as long as a `ServiceGroup` runs and closes them when it
    /// stops. Put it first in the group: graceful shutdown runs in reverse, so the store closes last.
    public static func service(for store: any Store) -> any Service {
        if let service = store as? any Service { return service }
        return StoreCloser(store: store)
    }

    /// Runs `body` with an open store and closes it afterwards, whatever happens (for `notifyctl` and tests).
    public static func withStore<T>(
        _ url: StoreURL, options: Options = Options(), logger: Logger, _ body: (any Store) async throws -> T
    ) async throws -> T {
        try await closing(try await open(url, options: options, logger: logger), body)
    }

    /// Runs `body` with `store`, then closes it, whatever happens.
    public static func closing<T>(_ store: any Store, _ body: (any Store) async throws -> T) async throws -> T {
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}

/// Closes a store that has no service of its own when the group shuts down.
struct StoreCloser: Service {
    let store: any Store

    func run() async throws {
        try? await gracefulShutdown()
        await store.close()
    }
}
