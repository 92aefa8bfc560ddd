import Foundation

/// One status change of an order, with what caused it (the `order_events` log).
public struct OrderEvent: Codable, Sendable, Equatable {

    /// Row id; nil before insertion.
    public var id: Int64?
    /// The order that changed.
    public var outTradeNo: String
    /// The status before (nil when the order was created).
    public var fromStatus: OrderStatus?
    /// The status after.
    public var toStatus: OrderStatus
    /// What caused it: `create`, `notification`, `trade.query`, `timeout`, `operator`…
    public var source: String
    /// The job that applied it, if any.
    public var jobId: Int64?
    /// The notification that caused it, if any.
    public var notifyId: String?
    /// Free text for people.
    public var detail: String?
    /// When it happened.
    public var createdAt: Date

    /// An event; `fromStatus`/`toStatus` are filled in by `StoreTransaction.transition` from its arguments.
    public init(
        id: Int64? = nil, outTradeNo: String, fromStatus: OrderStatus? = nil, toStatus: OrderStatus = .created, source: String, jobId: Int64? = nil,
        notifyId: String? = nil, detail: String? = nil, createdAt: Date = Date()
    ) {
        self.id = id
        self.outTradeNo = outTradeNo
        self.fromStatus = fromStatus
        self.toStatus = toStatus
        self.source = source
        self.jobId = jobId
        self.notifyId = notifyId
        self.detail = detail
        self.createdAt = createdAt
    }
}
