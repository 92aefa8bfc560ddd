import Foundation
import GRDB

/// What a job does; the worker dispatches on it.
public enum JobKind: String, Codable, Sendable, CaseIterable {
    /// Apply one stored Alipay notification to its order.
    case notification
    /// Ask Alipay (`alipay.trade.query`) about an order whose notification is late or missing.
    case reconcile
    /// Close an order that stayed unpaid past its timeout.
    case close
    /// Deliver an outbound event to the merchant (reserved for later).
    case deliver
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

/// One row of the `jobs` table: a unit of work in the durable queue.
public struct Job: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// The table this record lives in.
    public static let databaseTableName = "jobs"
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

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
        notificationId: Int64? = nil, notifyId: String? = nil, attempts: Int = 0, runAt: Date, leaseOwner: String? = nil,
        leaseExpiresAt: Date? = nil, lastError: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.kind = kind
        self.state = state
        self.uniqueKey = uniqueKey
        self.outTradeNo = outTradeNo
        self.notificationId = notificationId
        self.notifyId = notifyId
        self.attempts = attempts
        self.runAt = runAt
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.lastError = lastError
        self.createdAt = createdAt
        self.updatedAt = updatedAt
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
    /// Not claimed before this instant.
    public var runAt: Date

    /// A job to enqueue; due now unless `runAt` says otherwise.
    public init(
        kind: JobKind, uniqueKey: String? = nil, outTradeNo: String? = nil, notificationId: Int64? = nil, notifyId: String? = nil,
        runAt: Date = Date()
    ) {
        self.kind = kind
        self.uniqueKey = uniqueKey
        self.outTradeNo = outTradeNo
        self.notificationId = notificationId
        self.notifyId = notifyId
        self.runAt = runAt
    }
}

extension JobKind: DatabaseValueConvertible {}
extension JobState: DatabaseValueConvertible {}

extension Job {
    /// Reads a row by column name. Written out instead of the Codable default: the worker decodes every claimed
    /// job, and Codable's snake-case key conversion cost more than the SQL around it.
    public init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), kind: row.decode(forColumn: "kind"), state: row.decode(forColumn: "state"), uniqueKey: row.decode(forColumn: "unique_key"), outTradeNo: row.decode(forColumn: "out_trade_no"),
            notificationId: row.decode(forColumn: "notification_id"), notifyId: row.decode(forColumn: "notify_id"), attempts: row.decode(forColumn: "attempts"), runAt: row.decode(forColumn: "run_at"),
            leaseOwner: row.decode(forColumn: "lease_owner"), leaseExpiresAt: row.decode(forColumn: "lease_expires_at"), lastError: row.decode(forColumn: "last_error"),
            createdAt: row.decode(forColumn: "created_at"), updatedAt: row.decode(forColumn: "updated_at"))
    }
}
