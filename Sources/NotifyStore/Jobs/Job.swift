import Foundation

/// What a job does; the worker dispatches on it. Open: a feature adds its own kind (`deliver`, `refund`…) without
/// touching the store, which keeps the raw value as text.
public struct JobKind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// Apply one stored Alipay notification to its order.
    public static let notification: JobKind = "notification"
    /// Ask Alipay (`alipay.trade.query`) about an order whose notification is late or missing.
    public static let reconcile: JobKind = "reconcile"
    /// Close an order that stayed unpaid past its timeout.
    public static let close: JobKind = "close"
    /// Compare one day's Alipay trade statement with the database.
    public static let statement: JobKind = "statement"
    /// Ask Alipay for one recorded refund (`alipay.trade.refund`, settled by `alipay.trade.fastpay.refund.query`).
    public static let refund: JobKind = "refund"

    /// The name stored in the database.
    public let rawValue: String

    /// A kind by name.
    public init(rawValue: String) {
        self.rawValue = rawValue
    }

    /// A kind by name.
    public init(stringLiteral value: String) {
        rawValue = value
    }

    public var description: String { rawValue }
}

/// Where a job is in its life: pending → running → done, or → dead after the last failure.
public enum JobState: String, Codable, Sendable, CaseIterable {
    /// Waiting for `runAt`, then for a worker.
    case pending
    /// Claimed by `leaseOwner` until `leaseExpiresAt`.
    case running
    /// Finished; kept for audit until pruned.
    case done
    /// Gave up (attempts exhausted or invalid); `lastError` says why. Never pruned; replay puts it back.
    case dead
}

/// One job of the durable queue.
public struct Job: Codable, Sendable, Equatable {
    /// Row id; nil before insertion.
    public var id: Int64?
    /// What the job does.
    public var kind: JobKind
    /// Where the job is in its life.
    public var state: JobState
    /// At most one pending or running job holds a given key (enqueue is idempotent on it).
    public var uniqueKey: String?
    /// The order the job is about, when there is one.
    public var outTradeNo: String?
    /// The stored notification (`notifications.id`) a `.notification` job applies.
    public var notificationId: Int64?
    /// Alipay's `notify_id` of that notification, kept on the job for listing.
    public var notifyId: String?
    /// What the kind needs beyond the columns above (JSON text by convention), as enqueued.
    public var payload: String?
    /// How many times the job was claimed since it was enqueued or last replayed.
    public var attempts: Int
    /// Not claimed before this instant.
    public var runAt: Date
    /// The worker holding the lease while running.
    public var leaseOwner: String?
    /// When the lease ends; after it, another worker may claim the job again.
    public var leaseExpiresAt: Date?
    /// The error of the last failed attempt, or the dead-letter reason.
    public var lastError: String?
    /// When the job was enqueued.
    public var createdAt: Date
    /// When the job last changed state.
    public var updatedAt: Date

    /// A job record with every column given.
    public init(
        id: Int64? = nil, kind: JobKind, state: JobState = .pending, uniqueKey: String? = nil, outTradeNo: String? = nil,
        notificationId: Int64? = nil, notifyId: String? = nil, payload: String? = nil, attempts: Int = 0, runAt: Date,
        leaseOwner: String? = nil, leaseExpiresAt: Date? = nil, lastError: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.state = state
        self.uniqueKey = uniqueKey
        self.outTradeNo = outTradeNo
        self.notificationId = notificationId
        self.notifyId = notifyId
        self.payload = payload
        self.attempts = attempts
        self.runAt = runAt
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The lease this claim holds, when the job is running: what every write that finishes the attempt is fenced by.
    public var lease: JobLease? {
        guard state == .running, let id, let leaseOwner else { return nil }
        return JobLease(jobId: id, owner: leaseOwner, attempt: attempts)
    }
}

/// The fence of one claim: the job, the owner that claimed it, and the attempt number the claim produced.
///
/// A completion, retry or dead-letter applies only while the job is still running under the same owner *and* the
/// same attempt, so a worker whose lease expired — even one that claimed the job again itself later, or runs on
/// another host with a skewed clock — can never finish an attempt it no longer holds.
public struct JobLease: Sendable, Hashable {
    /// The job.
    public var jobId: Int64
    /// The owner token the job was claimed with (unique per worker process).
    public var owner: String
    /// The job's `attempts` right after this claim.
    public var attempt: Int

    /// A lease from its parts.
    public init(jobId: Int64, owner: String, attempt: Int) {
        self.jobId = jobId
        self.owner = owner
        self.attempt = attempt
    }
}

/// What a caller asks the queue to run.
public struct NewJob: Sendable, Equatable {
    /// What the job does.
    public var kind: JobKind
    /// Enqueue returns the existing pending or running job with this key instead of adding another.
    public var uniqueKey: String?
    /// The order the job is about.
    public var outTradeNo: String?
    /// The stored notification a `.notification` job applies.
    public var notificationId: Int64?
    /// Alipay's `notify_id` of that notification.
    public var notifyId: String?
    /// What the kind needs beyond the columns above.
    public var payload: String?
    /// Not claimed before this instant.
    public var runAt: Date

    /// A job to enqueue; due now unless `runAt` says otherwise.
    public init(
        kind: JobKind, uniqueKey: String? = nil, outTradeNo: String? = nil, notificationId: Int64? = nil, notifyId: String? = nil,
        payload: String? = nil, runAt: Date = Date()
    ) {
        self.kind = kind
        self.uniqueKey = uniqueKey
        self.outTradeNo = outTradeNo
        self.notificationId = notificationId
        self.notifyId = notifyId
        self.payload = payload
        self.runAt = runAt
    }
}
