import Foundation
import GRDB

/// One row of `notifications`: an Alipay notification exactly as received, once per `notify_id`.
public struct StoredNotification: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    /// The table this record lives in.
    public static let databaseTableName = "notifications"
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
    /// Swift names are camelCase, columns snake_case.
    public static let databaseColumnEncodingStrategy = DatabaseColumnEncodingStrategy.convertToSnakeCase

    /// Row id; jobs refer to it.
    public var id: Int64?
    /// Alipay's `notify_id`, unique: re-deliveries only bump `deliveryCount`.
    public var notifyId: String
    /// The merchant order number the notification is about.
    public var outTradeNo: String
    /// Alipay's `trade_status` as sent.
    public var tradeStatus: String
    /// The exact form body as received, so the signature can be verified again later.
    public var body: String
    /// When the first delivery was stored.
    public var firstReceivedAt: Date
    /// When the latest delivery arrived.
    public var lastReceivedAt: Date
    /// How many times Alipay delivered it.
    public var deliveryCount: Int

    /// A notification record with every column given.
    public init(
        id: Int64? = nil, notifyId: String, outTradeNo: String, tradeStatus: String, body: String, firstReceivedAt: Date,
        lastReceivedAt: Date, deliveryCount: Int = 1
    ) {
        self.id = id
        self.notifyId = notifyId
        self.outTradeNo = outTradeNo
        self.tradeStatus = tradeStatus
        self.body = body
        self.firstReceivedAt = firstReceivedAt
        self.lastReceivedAt = lastReceivedAt
        self.deliveryCount = deliveryCount
    }
}

extension StoredNotification {
    /// Reads a row by column name (written out: the worker reads every notification it applies).
    public init(row: Row) throws {
        try self.init(
            id: row.decode(forColumn: "id"), notifyId: row.decode(forColumn: "notify_id"), outTradeNo: row.decode(forColumn: "out_trade_no"), tradeStatus: row.decode(forColumn: "trade_status"),
            body: row.decode(forColumn: "body"), firstReceivedAt: row.decode(forColumn: "first_received_at"), lastReceivedAt: row.decode(forColumn: "last_received_at"),
            deliveryCount: row.decode(forColumn: "delivery_count"))
    }
}
