import AlipayKit
import AsyncHTTPClient
import Foundation
import GRDB
import Logging
import MetricsTestKit
import NotifyCore
import NotifyStore
import NotifyStoreSQLite
import StoreTestSupport
import Synchronization

/// Identities and keys shared by the worker tests: real 2048-bit RSA keys, generated once per test process.
enum TestAlipay {
    static let appId = "2021000000000001"
    static let sellerId = "2088000000000001"
    /// Alipay's key pair: notifications and gateway answers are signed with it.
    static let alipayKey: RSAPrivateKey = try! RSAPrivateKey.generate()
    /// A key that is not Alipay's: what a forger would sign with.
    static let forgerKey: RSAPrivateKey = try! RSAPrivateKey.generate()
    /// The app's own key pair (needed by the configuration, never used to verify).
    static let appKey: RSAPrivateKey = try! RSAPrivateKey.generate()

    /// The parameters of a `trade_status_sync` notification as Alipay sends them.
    static func notification(
        _ outTradeNo: String, _ status: TradeStatus, total: String, notifyId: String = UUID().uuidString, refundFee: String? = nil,
        appId: String = TestAlipay.appId, sellerId: String? = TestAlipay.sellerId, tradeNo: String = "2024010122001400000000000001"
    ) -> [String: String] {
        var parameters = [
            "notify_time": "2024-01-01 12:00:00", "notify_type": "trade_status_sync", "notify_id": notifyId, "app_id": appId,
            "charset": "utf-8", "version": "1.0", "trade_no": tradeNo, "out_trade_no": outTradeNo, "trade_status": status.rawValue,
            "total_amount": total, "subject": "Test order", "gmt_create": "2024-01-01 11:59:00", "buyer_id": "2088102177846880",
        ]
        if let sellerId { parameters["seller_id"] = sellerId }
        if let refundFee {
            parameters["refund_fee"] = refundFee
            parameters["gmt_refund"] = "2024-01-02 10:00:00"
            parameters["out_biz_no"] = "R\(notifyId.prefix(8))"
        }
        if status == .tradeSuccess || status == .tradeFinished { parameters["gmt_payment"] = "2024-01-01 12:00:00" }
        return parameters
    }

    /// A gateway answer signed with `key` and classified by AlipayKit's real `ResponseVerifier`.
    static func verifiedQuery(_ json: String, key: RSAPrivateKey = alipayKey, httpStatus: Int = 200) -> GatewayOutcome<TradeQueryResponse> {
        let body = try! ResponseSigner.body(method: TradeQuery.method, responseJSON: json, key: key)
        return ResponseVerifier(alipayPublicKey: alipayKey.publicKey).outcome(for: TradeQuery.self, httpStatus: httpStatus, body: Array(body.utf8))
    }

    /// Raw bytes classified by the real verifier (error responses, malformed JSON, 5xx).
    static func rawQuery(_ body: String, httpStatus: Int = 200) -> GatewayOutcome<TradeQueryResponse> {
        ResponseVerifier(alipayPublicKey: alipayKey.publicKey).outcome(for: TradeQuery.self, httpStatus: httpStatus, body: Array(body.utf8))
    }

    /// A verified `trade.query` answer reporting a trade.
    static func queryAnswer(_ outTradeNo: String, _ status: TradeStatus, total: String) -> GatewayOutcome<TradeQueryResponse> {
        verifiedQuery(
            #"{"code":"10000","msg":"Success","trade_no":"2024010122001400000000000001","out_trade_no":"\#(outTradeNo)","#
                + #""buyer_logon_id":"159****5620","trade_status":"\#(status.rawValue)","total_amount":"\#(total)"}"#)
    }

    /// The verified ACQ.TRADE_NOT_EXIST answer.
    static var tradeNotExist: GatewayOutcome<TradeQueryResponse> {
        verifiedQuery(#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#)
    }

    /// A verified `trade.close` answer.
    static func closeAnswer(_ json: String) -> GatewayOutcome<TradeCloseResponse> {
        let body = try! ResponseSigner.body(method: TradeClose.method, responseJSON: json, key: alipayKey)
        return ResponseVerifier(alipayPublicKey: alipayKey.publicKey).outcome(for: TradeClose.self, httpStatus: 200, body: Array(body.utf8))
    }

    static var closeSuccess: GatewayOutcome<TradeCloseResponse> {
        closeAnswer(#"{"code":"10000","msg":"Success","trade_no":"2024010122001400000000000001"}"#)
    }
}

/// A fake gateway in place of `AlipayClient`: answers come from closures, calls are counted.
final class FakeGateway: TradeGateway {
    typealias QueryHandler = @Sendable (String) async -> GatewayOutcome<TradeQueryResponse>
    typealias CloseHandler = @Sendable (String) async -> GatewayOutcome<TradeCloseResponse>
    typealias RefundHandler = @Sendable (TradeRefund) async -> GatewayOutcome<TradeRefundResponse>
    typealias RefundQueryHandler = @Sendable (String, String) async -> GatewayOutcome<TradeRefundQueryResponse>

    private struct State {
        var query: QueryHandler = { _ in TestAlipay.tradeNotExist }
        var close: CloseHandler = { _ in TestAlipay.closeSuccess }
        var refund: RefundHandler = { _ in .retryable("no refund handler set") }
        var refundQuery: RefundQueryHandler = { _, _ in .retryable("no refund query handler set") }
        var queries: [String] = []
        var closes: [String] = []
        var refunds: [TradeRefund] = []
        var refundQueries: [String] = []
    }

    private let state = Mutex(State())

    func onQuery(_ handler: @escaping QueryHandler) { state.withLock { $0.query = handler } }
    func onClose(_ handler: @escaping CloseHandler) { state.withLock { $0.close = handler } }
    func onRefund(_ handler: @escaping RefundHandler) { state.withLock { $0.refund = handler } }
    func onRefundQuery(_ handler: @escaping RefundQueryHandler) { state.withLock { $0.refundQuery = handler } }
    /// The `out_request_no` of every `trade.refund` call, in order.
    var refunds: [String] { state.withLock { $0.refunds.map { $0.outRequestNo ?? "" } } }
    /// The `out_request_no` of every refund query, in order.
    var refundQueries: [String] { state.withLock { $0.refundQueries } }
    var queries: [String] { state.withLock { $0.queries } }
    var closes: [String] { state.withLock { $0.closes } }

    func query(outTradeNo: String) async -> GatewayOutcome<TradeQueryResponse> {
        let handler = state.withLock {
            $0.queries.append(outTradeNo)
            return $0.query
        }
        return await handler(outTradeNo)
    }

    func refund(_ request: TradeRefund) async -> GatewayOutcome<TradeRefundResponse> {
        let handler = state.withLock {
            $0.refunds.append(request)
            return $0.refund
        }
        return await handler(request)
    }

    func refundQuery(outTradeNo: String, outRequestNo: String) async -> GatewayOutcome<TradeRefundQueryResponse> {
        let handler = state.withLock {
            $0.refundQueries.append(outRequestNo)
            return $0.refundQuery
        }
        return await handler(outTradeNo, outRequestNo)
    }

    func close(outTradeNo: String) async -> GatewayOutcome<TradeCloseResponse> {
        let handler = state.withLock {
            $0.closes.append(outTradeNo)
            return $0.close
        }
        return await handler(outTradeNo)
    }
}

/// A clock tests can move.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date = Date()) { current = Mutex(start) }
    var now: Date { current.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }
    func set(_ date: Date) { current.withLock { $0 = date } }
}

/// One test's world: a real SQLite database in a fresh temp folder, real keys on disk, the worker's runtime wired
/// from a configuration exactly as `notify-worker` does, with a fake gateway and a movable clock.
final class WorkerFixture: Sendable {
    let directory: URL
    let database: SQLiteStore
    let queue: StoreQueue
    let orders: StoreOrders
    let writer: NotificationWriter
    let gateway = FakeGateway()
    let metrics = TestMetrics()
    let clock: TestClock
    let configuration: NotifyConfiguration
    let runtime: WorkerRuntime

    init(
        sellerId: String? = TestAlipay.sellerId, confirmWithQuery: Bool = false, maxAttempts: Int = 5,
        jitter: @escaping @Sendable (ClosedRange<Double>) -> Double = { $0.upperBound }, webhooks: Bool = false,
        configure: (inout NotifyConfiguration) -> Void = { _ in }
    ) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("notifycore-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let publicKeyFile = directory.appendingPathComponent("alipay_public_key.pem").path
        let appKeyFile = directory.appendingPathComponent("app_private_key.pem").path
        try TestAlipay.alipayKey.publicKey.pemRepresentation.write(toFile: publicKeyFile, atomically: true, encoding: .utf8)
        try TestAlipay.appKey.pemRepresentation.write(toFile: appKeyFile, atomically: true, encoding: .utf8)

        var configuration = NotifyConfiguration()
        configuration.alipay.appId = TestAlipay.appId
        configuration.alipay.sellerId = sellerId
        configuration.alipay.publicKeyFile = publicKeyFile
        configuration.alipay.appPrivateKeyFile = appKeyFile
        configuration.alipay.gatewayURL = "http://127.0.0.1:9/gateway.do"
        configuration.storeURL = .sqlite(path: directory.appendingPathComponent("alipay-notify.sqlite").path)
        configuration.worker.confirmWithQuery = confirmWithQuery
        configuration.worker.maxAttempts = maxAttempts
        configuration.worker.retryBaseSeconds = 5
        configuration.worker.retryMaxSeconds = 300
        configuration.worker.leaseSeconds = 30
        configuration.worker.pollMilliseconds = 10
        configure(&configuration)
        self.configuration = configuration

        database = try SQLiteStore(path: directory.appendingPathComponent("alipay-notify.sqlite").path)
        queue = StoreQueue(database)
        orders = StoreOrders(database)
        writer = NotificationWriter(store: database, mode: .perRequest)
        // A day ahead of the wall clock, which the store uses to stamp enqueues and replays: those are always due,
        // and moving the test clock is the only thing that makes time pass for the worker.
        let clock = TestClock(Date().addingTimeInterval(86_400))
        self.clock = clock
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        runtime = try WorkerRuntime(
            configuration: configuration, store: database, gateway: gateway, webhookClient: webhooks ? HTTPClient.shared : nil,
            backoffRandom: jitter, metrics: WorkerMetrics(factory: metrics), logger: logger,
            now: { clock.now })
    }

    /// The SQLite file of this fixture's store.
    var databasePath: String { directory.appendingPathComponent("alipay-notify.sqlite").path }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    var runner: JobRunner { runtime.runner }

    /// Creates an order of `fen` fen in `status`, created `age` seconds before the test clock's now.
    @discardableResult
    func order(_ outTradeNo: String, fen: Int64 = 8888, status: OrderStatus = .waitBuyerPay, age: TimeInterval = 0) async throws -> Order {
        let order = Order(
            outTradeNo: outTradeNo, subject: "Test order", totalAmountFen: fen, status: status,
            createdAt: clock.now.addingTimeInterval(-age))
        try await orders.create(order)
        return order
    }

    /// Stores a notification signed with `key` as the receiver would, enqueuing its job; returns the job. `seal` seals
    /// it as a receiver holding that seal's app key does (nil: unsealed, as stored before seals).
    @discardableResult
    func notify(_ parameters: [String: String], key: RSAPrivateKey = TestAlipay.alipayKey, seal: NotificationSeal? = nil) async throws -> Job {
        let body = try NotificationSigner.signedBody(parameters, key: key)
        let result = try await writer.append(
            IncomingNotification(
                notifyId: parameters["notify_id"]!, outTradeNo: parameters["out_trade_no"]!, tradeStatus: parameters["trade_status"]!,
                body: body, seal: seal?.seal(body)))
        guard case .stored(let notificationId) = result else { throw FixtureError("notification was a duplicate") }
        let outTradeNo = parameters["out_trade_no"]!
        let job = try await database.read { db in
            try db.jobs(state: nil, kind: .notification, outTradeNo: outTradeNo, limit: 1000).first { $0.notificationId == notificationId }
        }
        guard let job else { throw FixtureError("no job for notification \(notificationId)") }
        // The writer stamps run_at with the wall clock: keep the test clock from running behind it.
        clock.set(max(clock.now, job.runAt))
        return job
    }

    /// Claims due jobs as `owner` at the test clock's now (plus `after` seconds).
    func claim(
        owner: String = "test-worker", limit: Int = 100, after: TimeInterval = 0, lease: Duration = .seconds(30), kinds: Set<JobKind>? = nil
    ) async throws -> [Job] {
        // The store stamps enqueue and replay with the wall clock: the test clock never runs behind it.
        clock.set(max(clock.now, Date()))
        return try await database.claim(owner: owner, limit: limit, lease: lease, now: clock.now.addingTimeInterval(after), kinds: kinds)
    }

    /// Claims and runs every due job, one claim batch at a time, until none is due. Returns the reports in order.
    @discardableResult
    func drain(owner: String = "test-worker") async throws -> [JobReport] {
        var reports: [JobReport] = []
        while true {
            let jobs = try await claim(owner: owner)
            if jobs.isEmpty { return reports }
            for job in jobs { reports.append(await runner.run(job, owner: owner)) }
        }
    }

    /// Runs one notification end to end: store it, claim its job, run it.
    @discardableResult
    func deliver(_ parameters: [String: String], key: RSAPrivateKey = TestAlipay.alipayKey) async throws -> JobReport {
        let job = try await notify(parameters, key: key)
        // Only notification jobs: other due jobs (the deliveries an endpoint makes, a refund's) would crowd it out of
        // a claim once their leases end, on a slow machine.
        let claimed = try await claim(limit: 1000, kinds: [.notification])
        let mine = try require2(claimed.first { $0.id == job.id }, "job \(job.id ?? 0) was not claimed")
        return await runner.run(mine, owner: "test-worker")
    }

    func currentOrder(_ outTradeNo: String) async throws -> Order {
        guard let order = try await orders.find(outTradeNo) else { throw FixtureError("no order \(outTradeNo)") }
        return order
    }

    func events(_ outTradeNo: String) async throws -> [OrderEvent] {
        try await orders.events(outTradeNo)
    }

    /// Events after the creation event.
    func transitions(_ outTradeNo: String) async throws -> [OrderEvent] {
        try await orders.events(outTradeNo).filter { $0.source != "create" }
    }

    /// The value of a counter the worker incremented (0 when it never was).
    func counter(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        (try? metrics.expectCounter(label, dimensions).totalValue) ?? 0
    }

    func job(_ id: Int64?) async throws -> Job {
        guard let id, let job = try await queue.job(id) else { throw FixtureError("no job \(id ?? 0)") }
        return job
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `#require` for use outside a test function body.
func require2<T>(_ value: T?, _ message: String) throws -> T {
    guard let value else { throw FixtureError(message) }
    return value
}
