import Foundation

/// How one attempt of a job ended. Replay never deletes these.
public struct JobAttempt: Codable, Sendable, Equatable {
    /// How an attempt ended.
    public enum Outcome: String, Codable, Sendable, CaseIterable {
        /// Completed by its owner.
        case done
        /// Failed; put back to pending for a later `runAt`.
        case retry
        /// Dead-lettered with a reason.
        case dead
        /// The owner's lease expired and another claim took the job over.
        case leaseExpired = "lease_expired"
        /// The owner gave the job back unfinished (graceful shutdown); the attempt does not count.
        case released
        /// An operator put the finished job back to pending; `attempt` is the count it had.
        case replayed
    }

    /// Row id.
    public var id: Int64?
    /// The job this attempt belongs to.
    public var jobId: Int64
    /// The job's attempt counter when this outcome was recorded.
    public var attempt: Int
    /// The lease owner of the attempt (nil for replay by an operator).
    public var owner: String?
    /// How it ended.
    public var outcome: Outcome
    /// The error or reason, when there is one.
    public var error: String?
    /// When the outcome was recorded.
    public var at: Date

    /// An attempt record with every column given.
    public init(id: Int64? = nil, jobId: Int64, attempt: Int, owner: String?, outcome: Outcome, error: String?, at: Date) {
        self.id = id
        self.jobId = jobId
        self.attempt = attempt
        self.owner = owner
        self.outcome = outcome
        self.error = error
        self.at = at
    }
}
