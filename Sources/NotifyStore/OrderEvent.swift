import Foundation
import GRDB

/// One row of `order_events`: one status change of an order, with what caused it.
public struct OrderEvent: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// The table this record lives in.
    public static let databaseTableName = "order_events"
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    /// Row id; nil before insertion.
    public var id: Int64?
    /// The order that changed.
    public var outTradeNo: String
    /// The status before (nil when the order was created).
    public var fromStatus: String?
    /// The status after.
    public var toStatus: String
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

    /// An event; `fromStatus`/`toStatus` are filled in by `OrderRepository.transition` from its arguments.
    public init(
        id: Int64? = nil, outTradeNo: String, fromStatus: String? = nil, toStatus: String = "", source: String, jobId: Int64? = nil,
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

extension OrderEvent {
    /// Reads a row by column name.
    public init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), outTradeNo: row.decode(forColumn: "out_trade_no"), fromStatus: row.decode(forColumn: "from_status"), toStatus: row.decode(forColumn: "to_status"),
            source: row.decode(forColumn: "source"), jobId: row.decode(forColumn: "job_id"), notifyId: row.decode(forColumn: "notify_id"), detail: row.decode(forColumn: "detail"), createdAt: row.decode(forColumn: "created_at"))
    }

    /// Writes the columns by name (written out: one event is inserted per order change).
    public func encode(to container: inout PersistenceContainer) throws {
        container["id"] = id
        container["out_trade_no"] = outTradeNo
        container["from_status"] = fromStatus
        container["to_status"] = toStatus
        container["source"] = source
        container["job_id"] = jobId
        container["notify_id"] = notifyId
        container["detail"] = detail
        container["created_at"] = createdAt
    }
}
