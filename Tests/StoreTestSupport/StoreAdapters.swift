import Foundation
import NotifyStore

/// The queue half of the store contract, with the job-id-and-owner calls the older tests were written in.
///
/// Completions look the job's current attempt up first, so they are fenced by owner only — what these tests check;
/// the attempt part of the fence has its own tests in the conformance suite.
public struct StoreQueue: Sendable {
    public let store: any Store

    public init(_ store: any Store) {
        self.store = store
    }

    @discardableResult
    public func enqueue(_ job: NewJob) async throws -> (job: Job, inserted: Bool) {
        try await store.enqueue(job)
    }

    public func claim(owner: String, limit: Int, lease: Duration, now: Date, kinds: Set<JobKind>? = nil) async throws -> [Job] {
        try await store.claim(owner: owner, limit: limit, lease: lease, now: now, kinds: kinds)
    }

    public func stats() async throws -> QueueStats {
        try await store.queueStats()
    }

    public func history(_ jobId: Int64) async throws -> [JobAttempt] {
        try await store.read { db in try db.jobHistory(jobId) }
    }

    public func job(_ id: Int64) async throws -> Job? {
        try await store.read { db in try db.job(id) }
    }

    public func list(state: JobState?, kind: JobKind?, limit: Int) async throws -> [Job] {
        try await store.read { db in try db.jobs(state: state, kind: kind, outTradeNo: nil, limit: limit) }
    }

    public func replay(_ selection: ReplaySelection, dryRun: Bool) async throws -> [Job] {
        try await store.replay(selection, dryRun: dryRun)
    }

    public func oldestPendingAge(now: Date) async throws -> TimeInterval? {
        try await store.oldestPendingAge(now: now)
    }

    public func prune(olderThan: Date) async throws -> (jobs: Int, notifications: Int) {
        try await store.prune(olderThan: olderThan)
    }

    public func releaseLeases(owner: String) async throws {
        try await store.releaseLeases(owner: owner)
    }

    public func extendLeases(_ jobIds: [Int64], owner: String, until: Date) async throws {
        let leases = try await store.read { db in try jobIds.compactMap { try db.job($0) }.map { JobLease(jobId: $0.id!, owner: owner, attempt: $0.attempts) } }
        try await store.extendLeases(leases, until: until)
    }

    public func complete(_ jobId: Int64, owner: String) async throws {
        try await store.write { tx in try tx.complete(try Self.lease(jobId, owner: owner, in: tx)) }
    }

    public func retry(_ jobId: Int64, owner: String, at: Date, error: String) async throws {
        try await store.write { tx in try tx.retry(try Self.lease(jobId, owner: owner, in: tx), at: at, error: error) }
    }

    public func deadLetter(_ jobId: Int64, owner: String, reason: String) async throws {
        try await store.write { tx in try tx.deadLetter(try Self.lease(jobId, owner: owner, in: tx), reason: reason) }
    }

    /// The lease `owner` would hold on the job's current attempt.
    public static func lease(_ jobId: Int64, owner: String, in db: any StoreReading) throws -> JobLease {
        guard let job = try db.job(jobId) else { throw StoreError.notFound("job \(jobId)") }
        return JobLease(jobId: jobId, owner: owner, attempt: job.attempts)
    }
}

/// The order half of the store contract, with the calls the older tests were written in.
public struct StoreOrders: Sendable {
    public let store: any Store

    public init(_ store: any Store) {
        self.store = store
    }

    public func create(_ order: Order) async throws {
        try await store.insertOrder(order)
    }

    public func find(_ outTradeNo: String) async throws -> Order? {
        try await store.order(outTradeNo)
    }

    public func events(_ outTradeNo: String) async throws -> [OrderEvent] {
        try await store.read { db in try db.orderEvents(outTradeNo) }
    }

    public func list(status: OrderStatus?, limit: Int) async throws -> [Order] {
        try await store.read { db in try db.orders(status: status, limit: limit) }
    }

    public func countByStatus() async throws -> [OrderStatus: Int] {
        try await store.read { db in try db.orderCounts() }
    }
}
