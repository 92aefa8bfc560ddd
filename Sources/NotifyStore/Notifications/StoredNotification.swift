import Foundation

/// An Alipay notification exactly as received, once per `notify_id`.
public struct StoredNotification: Codable, Sendable, Equatable {

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
    /// What the receiver that stored it wrote after verifying its signature: a MAC of `body` under a secret derived
    /// from the app's private key, which only the merchant's own processes hold. A worker whose MAC agrees reads the
    /// body without verifying Alipay's RSA signature again; nil (stored before this column, or by a receiver with
    /// another key) means verify it. Kept from the first delivery.
    public var seal: String?

    /// A notification record with every column given.
    public init(
        id: Int64? = nil, notifyId: String, outTradeNo: String, tradeStatus: String, body: String, firstReceivedAt: Date,
        lastReceivedAt: Date, deliveryCount: Int = 1, seal: String? = nil
    ) {
        self.seal = seal
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
