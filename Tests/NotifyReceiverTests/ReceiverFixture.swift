import AlipayKit
import Foundation
import GRDB
import Hummingbird
import Logging
import NotifyCore
import NotifyReceiver
import NotifyStore
@testable import NotifyStoreSQLite
import StoreTestSupport
import Prometheus

/// Everything a receiver test needs: real RSA keys, a real SQLite file in a temp folder, both listeners.
final class ReceiverFixture: Sendable {
    static let appId = "2021000000000001"
    static let sellerId = "2088000000000001"

    /// Keys made once per test process (RSA generation is slow in debug builds).
    static let keys: (app: RSAPrivateKey, alipay: RSAPrivateKey, stranger: RSAPrivateKey) = {
        do {
            return (try RSAPrivateKey.generate(), try RSAPrivateKey.generate(), try RSAPrivateKey.generate())
        } catch {
            fatalError("cannot generate RSA test keys: \(error)")
        }
    }()

    let directory: URL
    let database: SQLiteStore
    let writer: NotificationWriter
    let metrics: ReceiverMetrics
    let verifier: NotificationVerifier
    let orders: StoreOrders
    let queue: StoreQueue
    let orderService: OrderService
    let limits: NotifyConfiguration.ReceiverLimits
    var databasePath: String { database.path }

    /// A fresh database; `busyTimeout` is how long a commit waits for a lock before failing.
    init(
        busyTimeout: Duration = .seconds(5), limits: NotifyConfiguration.ReceiverLimits = NotifyConfiguration().receiverLimits,
        writerMode: NotificationWriter.Mode = .groupCommit(maxBatch: 64, maxWait: .milliseconds(2))
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("receiver-tests-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        database = try SQLiteStore(path: directory.appendingPathComponent("notify.sqlite").path, busyTimeout: busyTimeout)
        writer = NotificationWriter(store: database, mode: writerMode)
        metrics = ReceiverMetrics(registry: PrometheusCollectorRegistry())
        verifier = NotificationVerifier(alipayPublicKey: Self.keys.alipay.publicKey, signType: .rsa2, appId: Self.appId)
        orders = StoreOrders(database)
        queue = StoreQueue(database)
        let alipay = AlipayConfiguration(
            appId: Self.appId, signType: .rsa2, appPrivateKey: Self.keys.app, alipayPublicKey: Self.keys.alipay.publicKey,
            gatewayURL: "https://openapi-sandbox.dl.alipaydev.com/gateway.do", notifyURL: "https://shop.example/alipay/notify",
            returnURL: "https://shop.example/alipay/return")
        orderService = OrderService(store: database, signer: RequestSigner(configuration: alipay), timeoutMinutes: 30)
        self.limits = limits
    }

    /// Receiver limits with a rate limit of `perSecond` and `X-Forwarded-For` trusted or not.
    static func limits(rateLimitPerSecond: Int, trustForwardedFor: Bool) -> NotifyConfiguration.ReceiverLimits {
        var limits = NotifyConfiguration().receiverLimits
        limits.rateLimitPerSecond = rateLimitPerSecond
        limits.trustForwardedFor = trustForwardedFor
        return limits
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    /// The public listener on an ephemeral loopback port.
    func publicApp(rateLimiter: RateLimiter? = nil) -> some ApplicationProtocol {
        PublicListener(
            verifier: verifier, writer: writer, store: database, metrics: metrics, limits: limits, rateLimiter: rateLimiter,
            seal: NotificationSeal(appPrivateKey: Self.keys.app))
            .application(host: "127.0.0.1", port: 0, logger: Self.logger)
    }

    /// The internal listener on an ephemeral loopback port.
    func internalApp(token: String? = nil) -> some ApplicationProtocol {
        InternalListener(
            orderService: orderService, store: database, metrics: metrics, token: token
        ).application(host: "127.0.0.1", port: 0, logger: Self.logger)
    }

    static var logger: Logger {
        var logger = Logger(label: "receiver-tests")
        logger.logLevel = .critical
        return logger
    }

    /// The form parameters of a `TRADE_SUCCESS` notification for `outTradeNo`.
    static func notificationParameters(notifyId: String, outTradeNo: String = "T0001", totalAmount: String = "88.88")
        -> [String: String]
    {
        [
            "notify_time": "2025-01-31 16:15:00", "notify_type": "trade_status_sync", "notify_id": notifyId, "app_id": appId,
            "charset": "utf-8", "version": "1.0", "trade_no": "2025013122001400001234567890", "out_trade_no": outTradeNo,
            "trade_status": "TRADE_SUCCESS", "total_amount": totalAmount, "receipt_amount": totalAmount, "seller_id": sellerId,
            "buyer_id": "2088102177846880", "subject": "Coffee + beans 咖啡豆", "gmt_create": "2025-01-31 16:14:50",
            "gmt_payment": "2025-01-31 16:14:59",
            "fund_bill_list": "[{\"amount\":\"\(totalAmount)\",\"fundChannel\":\"ALIPAYACCOUNT\"}]",
        ]
    }

    /// A body signed as Alipay signs it (override parameters, key or sign type to forge one).
    static func signedBody(
        notifyId: String, outTradeNo: String = "T0001", totalAmount: String = "88.88", overrides: [String: String] = [:],
        key: RSAPrivateKey = keys.alipay, signType: SignType = .rsa2
    ) throws -> String {
        var parameters = notificationParameters(notifyId: notifyId, outTradeNo: outTradeNo, totalAmount: totalAmount)
        parameters.merge(overrides) { $1 }
        return try NotificationSigner.signedBody(parameters, key: key, signType: signType)
    }

    /// A signed `return_url` query as Alipay appends it when sending the buyer back.
    static func signedReturnQuery(outTradeNo: String, totalAmount: String = "88.88", key: RSAPrivateKey = keys.alipay) throws
        -> String
    {
        try NotificationSigner.signedBody(
            [
                "method": "alipay.trade.page.pay.return", "app_id": appId, "charset": "utf-8", "version": "1.0",
                "timestamp": "2025-01-31 16:15:02", "out_trade_no": outTradeNo, "trade_no": "2025013122001400001234567890",
                "total_amount": totalAmount, "seller_id": sellerId, "auth_app_id": appId,
            ], key: key)
    }

    /// Every stored notification.
    func storedNotifications() throws -> [StoredNotification] {
        try database.pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM notifications ORDER BY id").map(StoredNotification.init(row:)) }
    }

    /// Every job.
    func jobs() throws -> [Job] {
        try database.pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY id").map(Job.init(row:)) }
    }

    /// The value of one sample in the Prometheus exposition, e.g. `alipay_notify_notifications_rejected_total{reason="bad_signature"}`.
    func metric(_ sample: String) -> Double? {
        for line in metrics.exposition().split(separator: "\n") where line.hasPrefix(sample + " ") {
            return Double(line.dropFirst(sample.count + 1))
        }
        return nil
    }
}
