import Foundation
import Logging
import NIOCore
import NIOPosix
import NotifyStore
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// The PostgreSQL engine of the store contract, for several receiver and worker hosts sharing one database.
///
/// Opening checks, in order: the server answers within `connect_timeout` with these credentials, commits are durable
/// (`synchronous_commit` is not `off` for this user and database), and the schema is not newer than this build; then
/// it migrates (under an advisory lock, so hosts may start together) or refuses a schema that is behind.
///
/// Units of work run their synchronous closure on a thread of the store's own `NIOThreadPool` (one thread per pooled
/// connection), blocking on each statement there, so neither an event loop nor Swift's cooperative pool ever waits
/// for the database. Claims use `FOR UPDATE SKIP LOCKED`, so claimers on many hosts never wait for each other and
/// never get the same job; a transaction that made jobs due sends `NOTIFY alipay_notify_jobs`, which
/// ``jobWakeUps()`` turns into a hint for idle workers.
///
/// The store owns its connection pool and runs it from ``open(_:migrate:logger:)`` on, so it can migrate before any
/// `ServiceGroup` starts. As a `Service` it only waits for graceful shutdown and then closes: put it first in the
/// group, so that it shuts down last, after the services that use it.
///
/// ```swift
/// let store = try await PostgresStore.open(location, migrate: true, logger: logger)
/// let group = ServiceGroup(services: [store, receiver], logger: logger)
/// ```
public final class PostgresStore: Store, Service {
    /// `postgres://user@host:port/database?sslmode=…`, never with the password.
    public let location: String
    /// The migrations this handle applied when it opened (empty when the schema was already current).
    public let migrationsAppliedOnOpen: [String]

    let settings: PostgresConnectionSettings
    let client: PostgresClient
    let threadPool: NIOThreadPool
    let logger: Logger
    let wakeUps: PostgresWakeUps
    /// How long a unit of work waits for a pooled connection before giving up with `StoreError.unavailable`.
    let leaseTimeout: Duration
    /// The longest one statement may take (see `PostgresTransaction.answerTimeout`).
    let answerTimeout: TimeAmount
    private let clientTask: Task<Void, Never>
    /// Finishes once the pool's task runs (a lease before `run()` would log a warning and wait).
    private let clientStarted: AsyncStream<Void>
    private let closing = Mutex<Task<Void, Never>?>(nil)

    /// The migrations this build knows, in order (`notifyctl db migrate` prints them).
    public static var knownMigrations: [String] { PostgresMigrations.known }

    private init(settings: PostgresConnectionSettings, migrationsAppliedOnOpen: [String], logger: Logger) {
        self.settings = settings
        self.location = settings.location.redacted
        self.migrationsAppliedOnOpen = migrationsAppliedOnOpen
        self.logger = logger
        leaseTimeout = .seconds(settings.location.connectTimeoutSeconds)
        // statement_timeout (or 60 s when it is off) plus the time to reach the server.
        let statementSeconds = settings.location.statementTimeoutMilliseconds > 0 ? (settings.location.statementTimeoutMilliseconds + 999) / 1000 : 60
        answerTimeout = .seconds(Int64(statementSeconds + settings.location.connectTimeoutSeconds))
        // The pool logs every failed connection attempt at info level while the server is down; the store's own
        // errors already say so, so below debug level only its warnings get through.
        var background = logger
        if background.logLevel > .debug { background.logLevel = max(background.logLevel, .notice) }
        client = PostgresClient(configuration: settings.clientConfiguration, backgroundLogger: background)
        threadPool = NIOThreadPool(numberOfThreads: settings.location.poolSize)
        threadPool.start()
        wakeUps = PostgresWakeUps(configuration: settings.connectionConfiguration, logger: logger)
        // Detached: the pool must not inherit a caller's task-locals (such as a service group's graceful shutdown).
        let (started, signal) = AsyncStream.makeStream(of: Void.self)
        clientStarted = started
        clientTask = Task.detached { [client] in
            signal.finish()
            await client.run()
        }
    }

    /// Connects, checks durability, migrates (`migrate: true`) or refuses a schema that is behind, and starts the pool.
    ///
    /// Throws `StoreError.cannotOpen` when the server cannot be reached or refuses the credentials (the reason never
    /// contains the password), `StoreError.notDurable` when `synchronous_commit` is off, `StoreError.schemaTooNew` when
    /// a newer build migrated the database, `StoreError.schemaBehind` when `migrate` is false and migrations are pending.
    public static func open(_ location: PostgresLocation, migrate: Bool, logger: Logger) async throws -> PostgresStore {
        let settings = try PostgresConnectionSettings(location)
        // One stand-alone session does the start-up checks and the migrations, before the pool exists.
        let probe = try await connect(settings, logger: logger)
        let applied: [String]
        do {
            try await checkDurability(probe, logger: logger)
            if migrate {
                applied = try await PostgresMigrations.migrate(on: probe, logger: logger)
            } else {
                let pending = try await PostgresMigrations.pending(on: probe, logger: logger)
                guard pending.isEmpty else { throw StoreError.schemaBehind(pending: pending) }
                applied = []
            }
        } catch {
            try? await probe.close()
            throw PostgresErrors.translate(error)
        }
        try? await probe.close()
        let store = PostgresStore(settings: settings, migrationsAppliedOnOpen: applied, logger: logger)
        for await _ in store.clientStarted {}
        return store
    }

    /// One connection and a first query within `connect_timeout`, or `StoreError.cannotOpen` with the reason.
    private static func connect(_ settings: PostgresConnectionSettings, logger: Logger) async throws -> PostgresConnection {
        let location = settings.location
        let configuration = settings.connectionConfiguration
        do {
            return try await withThrowingTaskGroup(of: PostgresConnection?.self) { group in
                group.addTask {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
                    do {
                        try await connection.query("SELECT 1", logger: logger)
                    } catch {
                        try? await connection.close()
                        throw error
                    }
                    return connection
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(location.connectTimeoutSeconds))
                    return nil
                }
                let first = try await group.next()!
                group.cancelAll()
                if let first { return first }
                // Timed out. A connection that still completes is closed.
                while let late = try? await group.next() {
                    if let late { try? await late.close() }
                }
                throw StoreError.cannotOpen(
                    location: location.redacted, reason: "no answer from the server within \(location.connectTimeoutSeconds) s")
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.cannotOpen(
                location: location.redacted, reason: PostgresErrors.connectFailureReason(error, password: location.password))
        }
    }

    /// Refuses a session whose commits return before the WAL is flushed: an acknowledged notification must survive
    /// a server crash. (`fsync = off` is only warned about: it is a server-wide test setting.)
    private static func checkDurability(_ connection: PostgresConnection, logger: Logger) async throws {
        let synchronousCommit = try await connection.query("SHOW synchronous_commit", logger: logger).collect().first?.decode(String.self)
        if synchronousCommit == "off" {
            throw StoreError.notDurable(
                "PostgreSQL has synchronous_commit = off for this user and database; set it to on (ALTER ROLE … SET synchronous_commit = on)")
        }
        let fsync = try await connection.query("SHOW fsync", logger: logger).collect().first?.decode(String.self)
        if fsync == "off" {
            logger.warning("PostgreSQL runs with fsync = off: commits do not survive a power loss (acceptable for tests only)")
        }
    }

    // MARK: Units of work

    public func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReading) throws -> T) async throws -> T {
        try await unitOfWork(readOnly: true) { tx in try body(tx) }
    }

    public func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T {
        try await unitOfWork(readOnly: false) { tx in try body(tx) }
    }

    /// Leases a connection, then runs BEGIN, `body`, COMMIT on a thread of the store's pool. Errors come out in the
    /// contract's terms; the caller's own errors pass through.
    func unitOfWork<T: Sendable>(readOnly: Bool, _ body: @escaping @Sendable (PostgresTransaction) throws -> T) async throws -> T {
        let logger = logger
        let threadPool = threadPool
        let answerTimeout = answerTimeout
        do {
            return try await withConnection { connection in
                try await threadPool.runIfActive {
                    try PostgresTransaction(connection: connection, logger: logger, readOnly: readOnly, answerTimeout: answerTimeout).run(body)
                }
            }
        } catch {
            throw PostgresErrors.translate(error)
        }
    }

    /// Runs `body` with a pooled connection, waiting at most ``leaseTimeout`` for one.
    ///
    /// The pool itself waits forever while the server is down (it keeps reconnecting); a caller such as the receiver
    /// must hear `unavailable` instead. Once `body` has started it is never abandoned: the timeout only applies to
    /// the wait for the lease, so a reported failure never hides a commit.
    func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        if closing.withLock({ $0 != nil }) { throw StoreError.unavailable("PostgreSQL: the store is closed") }
        let wait = LeaseWait()
        let client = client
        let leaseTimeout = leaseTimeout
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { connection -> T? in
                    guard wait.start() else { return nil }
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: leaseTimeout)
                if wait.giveUp() {
                    throw StoreError.unavailable(
                        "PostgreSQL: no connection within \(leaseTimeout) (server unreachable, or every pooled connection busy)")
                }
                return nil
            }
            while let result = try await group.next() {
                if let result {
                    group.cancelAll()
                    return result
                }
            }
            throw StoreError.unavailable("PostgreSQL: no connection")
        }
    }

    // MARK: Migrations and life cycle

    public var knownMigrations: [String] { Self.knownMigrations }

    public func pendingMigrations() async throws -> [String] {
        let logger = logger
        do {
            return try await withConnection { connection in try await PostgresMigrations.pending(on: connection, logger: logger) }
        } catch {
            throw PostgresErrors.translate(error)
        }
    }

    /// On a connection of its own, closed afterwards, as at open: the advisory lock and the lifted `statement_timeout`
    /// end with that session and can never come back into the pool with a pooled connection.
    @discardableResult
    public func migrate() async throws -> [String] {
        do {
            let connection = try await Self.connect(settings, logger: logger)
            do {
                let applied = try await PostgresMigrations.migrate(on: connection, logger: logger)
                try? await connection.close()
                return applied
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw PostgresErrors.translate(error)
        }
    }

    public func jobWakeUps() -> AsyncStream<Void>? {
        wakeUps.stream()
    }

    /// Stops the LISTEN connection, the pool (in-flight statements fail) and the threads. Safe to call more than
    /// once; every caller returns once the store is closed.
    public func close() async {
        let task = closing.withLock { closing in
            if let closing { return closing }
            let task = Task { [wakeUps, clientTask, threadPool] in
                await wakeUps.stop()
                clientTask.cancel()
                await clientTask.value
                try? await threadPool.shutdownGracefully()
            }
            closing = task
            return task
        }
        await task.value
    }

    /// Waits for graceful shutdown, then closes: first in a `ServiceGroup`, the store is the last service to stop.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}

/// Who won the race between a connection lease and its timeout.
private final class LeaseWait: Sendable {
    private enum State { case waiting, leased, gaveUp }
    private let state = Mutex(State.waiting)

    /// True when the lease came first: the body may run.
    func start() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .leased
            return true
        }
    }

    /// True when the timeout came first: the body will not run.
    func giveUp() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .gaveUp
            return true
        }
    }
}
