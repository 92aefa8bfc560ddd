import Foundation

/// A body the receiver refused (bad signature, foreign app_id, malformed…), kept so that an operator can diagnose it
/// with `notifyctl verify --rejected ID`. Only the newest few hundred are kept, and the receiver records at most a few
/// per second: a flood of forgeries cannot fill the disk or slow the real notifications down. The body is what the
/// sender posted; nothing of ours (no key, no token) is in it.
public struct RejectedNotification: Sendable, Codable, Equatable {
    /// Row id; nil before insertion.
    public var id: Int64?
    /// When it arrived.
    public var receivedAt: Date
    /// The metric reason (`bad_signature`, `foreign_app_id`, `malformed`…).
    public var reason: String
    /// The check that failed, in words (never key material).
    public var detail: String
    /// The body exactly as received.
    public var body: String

    /// A rejected body with every column given.
    public init(id: Int64? = nil, receivedAt: Date, reason: String, detail: String, body: String) {
        self.id = id
        self.receivedAt = receivedAt
        self.reason = reason
        self.detail = detail
        self.body = body
    }

    enum CodingKeys: String, CodingKey {
        case id, reason, detail, body
        case receivedAt = "received_at"
    }
}
