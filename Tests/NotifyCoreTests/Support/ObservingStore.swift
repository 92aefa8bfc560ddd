import Foundation
import NotifyStore
import Synchronization

/// A store that passes everything to `inner` but can answer `isWritable()` with false, and counts how often it was asked.
final class ObservingStore: Store {
    let inner: any Store
    private let writability = Mutex((writable: true, asked: 0))

    /// What `isWritable()` answers from now on (when the inner store is writable).
    func setWritable(_ writable: Bool) { writability.withLock { $0.writable = writable } }

    /// How many times `isWritable()` was asked.
    var writabilityChecks: Int { writability.withLock { $0.asked } }

    init(_ inner: any Store) {
        self.inner = inner
    }

    var location: String { inner.location }
    var claimsBatchesInsideWrites: Bool { inner.claimsBatchesInsideWrites }
    var knownMigrations: [String] { inner.knownMigrations }
    var migrationsAppliedOnOpen: [String] { inner.migrationsAppliedOnOpen }

    func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReading) throws -> T) async throws -> T { try await inner.read(body) }
    func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws -> T { try await inner.write(body) }
    func append(_ notifications: [IncomingNotification]) async throws -> [AppendResult] { try await inner.append(notifications) }

    func claim(owner: String, limit: Int, lease: Duration, now: Date, kinds: Set<JobKind>?) async throws -> [Job] {
        try await inner.claim(owner: owner, limit: limit, lease: lease, now: now, kinds: kinds)
    }

    func extendLeases(_ leases: [JobLease], until: Date) async throws { try await inner.extendLeases(leases, until: until) }
    func releaseLeases(owner: String) async throws { try await inner.releaseLeases(owner: owner) }
    func replay(_ selection: ReplaySelection, dryRun: Bool) async throws -> [Job] { try await inner.replay(selection, dryRun: dryRun) }
    func prune(olderThan: Date) async throws -> (jobs: Int, notifications: Int) { try await inner.prune(olderThan: olderThan) }
    func recordRejected(_ rejected: RejectedNotification, keep: Int) async throws { try await inner.recordRejected(rejected, keep: keep) }
    func isWritable() async -> Bool {
        let writable = writability.withLock { state in
            state.asked += 1
            return state.writable
        }
        return await inner.isWritable() && writable
    }
    func pendingMigrations() async throws -> [String] { try await inner.pendingMigrations() }
    func migrate() async throws -> [String] { try await inner.migrate() }
    func jobWakeUps() -> AsyncStream<Void>? { inner.jobWakeUps() }
    func close() async { await inner.close() }
}
