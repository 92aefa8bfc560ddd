import Foundation
import GRDB

/// Counts of jobs by state; JSON keys are exactly `pending`, `running`, `done`, `dead`.
public struct QueueStats: Codable, Sendable, Equatable {
    /// Waiting to run.
    public var pending: Int
    /// Leased to a worker.
    public var running: Int
    /// Finished.
    public var done: Int
    /// Given up on.
    public var dead: Int

    /// Counts by state.
    public init(pending: Int = 0, running: Int = 0, done: Int = 0, dead: Int = 0) {
        self.pending = pending
        self.running = running
        self.done = done
        self.dead = dead
    }
}

/// Which finished jobs a replay puts back to pending.
public enum ReplaySelection: Sendable, Equatable {
    /// These jobs, if they are dead or done.
    case ids([Int64])
    /// Every dead job.
    case dead
    /// Every dead or done job of this order.
    case outTradeNo(String)
}

/// The durable job queue, small enough that a PostgreSQL backend can implement it too.
///
/// A job's life: `enqueue` (pending) → `claim` (running, leased, attempts + 1) → `complete` (done),
/// `retry` (pending again at a later `runAt`) or `deadLetter` (dead, reason kept). A job whose lease ends
/// before its owner finishes is claimed again by someone else, and the old owner's `complete`, `retry`
/// and `deadLetter` then throw `StoreError.leaseLost`. `replay` puts dead or done jobs back to pending.
public protocol JobQueue: Sendable {
    /// Idempotent on uniqueKey among jobs not done/dead (returns the existing job, inserted=false).
    func enqueue(_ job: NewJob, in db: Database) throws -> (job: Job, inserted: Bool)
    /// Same as `enqueue(_:in:)` in its own transaction.
    func enqueue(_ job: NewJob) async throws -> (job: Job, inserted: Bool)
    /// One BEGIN IMMEDIATE transaction: due pending jobs, or running jobs whose lease expired, ordered by runAt; sets lease.
    /// `kinds` limits the claim to jobs of those kinds (nil: any kind).
    func claim(owner: String, limit: Int, lease: Duration, now: Date, kinds: Set<JobKind>?) async throws -> [Job]
    /// Marks a running job done. Fenced: throws `StoreError.leaseLost` unless it is still running under `owner`.
    func complete(_ jobId: Int64, owner: String, in db: Database) throws
    /// Puts a running job back to pending until `at`, keeping `error`. Fenced like `complete`.
    func retry(_ jobId: Int64, owner: String, at: Date, error: String, in db: Database) throws
    /// Marks a running job dead with `reason`. Fenced like `complete`.
    func deadLetter(_ jobId: Int64, owner: String, reason: String, in db: Database) throws
    /// Moves the lease end of those of `jobIds` still running under `owner`, for long work; the others are skipped.
    func extendLeases(_ jobIds: [Int64], owner: String, until: Date) async throws
    /// Gives every job leased to `owner` back to pending without counting the attempt (graceful shutdown).
    func releaseLeases(owner: String) async throws
    /// Puts dead or done jobs back to pending with attempts reset; history is kept. `dryRun` only lists them.
    func replay(_ selection: ReplaySelection, dryRun: Bool) async throws -> [Job]
    /// Job counts by state.
    func stats() async throws -> QueueStats
    /// Most recent jobs first, optionally filtered.
    func list(state: JobState?, kind: JobKind?, limit: Int) async throws -> [Job]
    /// One job by id.
    func job(_ id: Int64) async throws -> Job?
    /// How each attempt of a job ended, oldest first.
    func history(_ jobId: Int64) async throws -> [JobAttempt]
    /// Seconds since the oldest due pending job became due; nil when none is waiting.
    func oldestPendingAge(now: Date) async throws -> TimeInterval?
    /// Deletes done jobs last changed before `olderThan`, then notifications older than that which no job refers to any more.
    /// Pending, running and dead jobs and their notifications are never pruned.
    func prune(olderThan: Date) async throws -> (jobs: Int, notifications: Int)
}

extension JobQueue {
    /// Claims due jobs of any kind (see `claim(owner:limit:lease:now:kinds:)`).
    public func claim(owner: String, limit: Int, lease: Duration, now: Date) async throws -> [Job] {
        try await claim(owner: owner, limit: limit, lease: lease, now: now, kinds: nil)
    }
}
