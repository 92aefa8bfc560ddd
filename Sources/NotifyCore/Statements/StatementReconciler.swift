import AlipayKit
import AsyncHTTPClient
import Foundation
import NIOCore
import NotifyStore

/// Where a day's statement comes from: Alipay (the download URL query, then the zip), or a test's fake.
public protocol StatementSource: Sendable {
    /// The day's trade statement, parsed; a ``JobFailure`` says whether trying again later may help.
    func statement(billDate: String) async throws -> TradeStatement
}

/// Alipay's statement: `alipay.data.dataservice.bill.downloadurl.query`, then the zip at the answered URL (fetched at
/// once: the URL lives about 30 seconds), then the detail file parsed.
public struct AlipayStatementSource: StatementSource {
    let client: AlipayClient
    let http: HTTPClient
    let timeout: Duration

    /// A source over `client` (the query) and `http` (the download).
    public init(client: AlipayClient, http: HTTPClient = .shared, timeout: Duration = .seconds(60)) {
        self.client = client
        self.http = http
        self.timeout = timeout
    }

    public func statement(billDate: String) async throws -> TradeStatement {
        let outcome = await client.execute(BillDownloadURLQuery(billDate: billDate))
        let url: String
        switch outcome {
        case .success(let answer):
            guard let found = answer.billDownloadURL, !found.isEmpty else {
                throw JobFailure.retryable("\(BillDownloadURLQuery.method) answered without bill_download_url")
            }
            url = found
        case .rejected(_, let subCode, let message) where subCode == "isp.bill_not_exist":
            // Not made yet (Alipay makes a day's statement the next morning): later.
            throw JobFailure.retryable("no statement for \(billDate) yet (\(subCode ?? ""): \(message))")
        default:
            throw Reconciler.failure(outcome, call: BillDownloadURLQuery.method)
        }
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let zip: ByteBuffer
        do {
            let response = try await http.execute(request, timeout: AlipayClient.timeAmount(timeout))
            guard response.status == .ok else {
                throw JobFailure.retryable("the statement download answered HTTP \(response.status.code)")
            }
            zip = try await response.body.collect(upTo: StatementArchive.maximumDetailBytes)
        } catch let failure as JobFailure {
            throw failure
        } catch {
            throw JobFailure.retryable("the statement download failed: \(error)")
        }
        do {
            return try StatementArchive.statement(Data(zip.readableBytesView))
        } catch {
            throw JobFailure.permanent("the statement of \(billDate) cannot be read: \(error)")
        }
    }
}

/// Compares a day's Alipay trade statement with the database and stores what it found (docs/statements.md).
///
/// Payments: every `交易` row needs an order here with the same amount that was paid; every order paid that day
/// (`paid_at`, Alipay's `gmt_payment`) needs its row. Refunds: per order, the `退款` rows of the day add up to the
/// refunds recorded as made that day (`refunded_at`, Alipay's `gmt_refund`). The day is China time, Alipay's.
public struct StatementReconciler: Sendable {
    /// The store.
    public let store: any Store
    /// Where statements come from.
    public let source: any StatementSource
    /// The clock.
    public let now: @Sendable () -> Date

    /// A reconciler over one store and source.
    public init(store: any Store, source: any StatementSource, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.source = source
        self.now = now
    }

    /// The instants a China-time day covers, or nil for a day that is not `yyyy-MM-dd`.
    public static func range(ofDay day: String) -> (from: Date, to: Date)? {
        guard day.wholeMatch(of: /\d{4}-\d{2}-\d{2}/) != nil, let from = RequestSigner.date(fromTimestamp: day + " 00:00:00") else { return nil }
        return (from, from.addingTimeInterval(86_400))
    }

    /// Yesterday in China time, the latest day with a statement.
    public static func yesterday(now: Date) -> String {
        ChinaTime.day(now.addingTimeInterval(-86_400))
    }

    /// Fetches, compares and stores the check of `billDate` (replacing an earlier one of that day).
    @discardableResult
    public func reconcile(billDate: String) async throws -> StatementCheck {
        guard let day = Self.range(ofDay: billDate) else { throw JobFailure.permanent("bill_date \(billDate) is not yyyy-MM-dd") }
        let statement = try await source.statement(billDate: billDate)
        let now = now()
        // Compared in a read (a snapshot): the writer — the receiver's path on SQLite — is held only for the save.
        let check = try await store.read { db in try Self.compare(statement, billDate: billDate, day: day, now: now, in: db) }
        try await store.write { db in try db.saveStatementCheck(check) }
        return check
    }

    /// A `statement` job: the day's check, unless the day has one already — then the job completes without asking
    /// Alipay. Sweepers on several hosts can enqueue a second job for a day whose first job finished while they were
    /// deciding (PostgreSQL reads committed data per statement); the day is still checked once. The check is stored
    /// in the transaction that completes the job. Nil when the day had its check.
    public func run(billDate: String, lease: JobLease) async throws -> StatementCheck? {
        guard let day = Self.range(ofDay: billDate) else { throw JobFailure.permanent("bill_date \(billDate) is not yyyy-MM-dd") }
        if try await store.read({ db in try db.statementCheck(billDate: billDate) }) != nil {
            try await store.write { db in try db.complete(lease) }
            return nil
        }
        let statement = try await source.statement(billDate: billDate)
        let now = now()
        let check = try await store.read { db in try Self.compare(statement, billDate: billDate, day: day, now: now, in: db) }
        return try await store.write { db in
            // Checked meanwhile (an operator's `bills reconcile`): that result stands.
            if try db.statementCheck(billDate: billDate) != nil {
                try db.complete(lease)
                return nil
            }
            try db.saveStatementCheck(check)
            try db.complete(lease)
            return check
        }
    }

    /// What a `statement` job carries: the day.
    public struct Payload: JobPayload, Equatable {
        /// `yyyy-MM-dd`, China time.
        public var billDate: String
        enum CodingKeys: String, CodingKey { case billDate = "bill_date" }
        /// A payload for one day.
        public init(billDate: String) { self.billDate = billDate }
    }

    /// The job that checks `billDate`.
    public static func job(billDate: String, runAt: Date) -> NewJob {
        NewJob(kind: .statement, uniqueKey: StatementCheck.jobKey(billDate: billDate), payload: Payload(billDate: billDate).text, runAt: runAt)
    }

    /// The differences between `statement` and the database, read in `db`.
    static func compare(
        _ statement: TradeStatement, billDate: String, day: (from: Date, to: Date), now: Date, in db: any StoreReading
    ) throws -> StatementCheck {
        var differences: [StatementDifference] = []
        func fen(_ value: Int64) -> String { Amount(fen: value).description }

        // Payments. The orders paid that day here come in one read; only a payment not among them (paid here on
        // another day, or not at all) is looked up alone.
        var paidAtAlipay: [String: Int64] = [:]
        for row in statement.rows where row.kind == .payment { paidAtAlipay[row.outTradeNo, default: 0] += row.amountFen }
        let paidHere = try db.ordersPaid(from: day.from, to: day.to)
        let paidHereByNumber = Dictionary(paidHere.map { ($0.outTradeNo, $0) }, uniquingKeysWith: { first, _ in first })
        for (outTradeNo, amount) in paidAtAlipay.sorted(by: { $0.key < $1.key }) {
            guard let order = try paidHereByNumber[outTradeNo] ?? db.order(outTradeNo) else {
                differences.append(StatementDifference(
                    kind: .missingHere, outTradeNo: outTradeNo, detail: "Alipay has a payment of \(fen(amount)); there is no such order here"))
                continue
            }
            if amount != order.totalAmountFen {
                differences.append(StatementDifference(
                    kind: .amountDiffers, outTradeNo: outTradeNo,
                    detail: "Alipay's payment is \(fen(amount)); the order is \(fen(order.totalAmountFen))"))
            }
            if order.paidAt == nil && !order.status.isPaid {
                differences.append(StatementDifference(
                    kind: .statusDiffers, outTradeNo: outTradeNo, detail: "paid at Alipay; \(order.status.rawValue) here"))
            }
        }
        for order in paidHere where paidAtAlipay[order.outTradeNo] == nil {
            differences.append(StatementDifference(
                kind: .missingAtAlipay, outTradeNo: order.outTradeNo,
                detail: "paid here (\(fen(order.totalAmountFen)), \(OrderView.timestamp(order.paidAt!))); not in Alipay's statement"))
        }

        // Refunds, per order.
        var refundedAtAlipay: [String: Int64] = [:]
        for row in statement.rows where row.kind == .refund { refundedAtAlipay[row.outTradeNo, default: 0] += -row.amountFen }
        var refundedHere: [String: Int64] = [:]
        for refund in try db.refundsMade(from: day.from, to: day.to) { refundedHere[refund.outTradeNo, default: 0] += refund.amountFen }
        for outTradeNo in Set(refundedAtAlipay.keys).union(refundedHere.keys).sorted() {
            let alipay = refundedAtAlipay[outTradeNo] ?? 0
            let here = refundedHere[outTradeNo] ?? 0
            if alipay != here {
                differences.append(StatementDifference(
                    kind: .refundDiffers, outTradeNo: outTradeNo, detail: "refunded that day: \(fen(alipay)) at Alipay, \(fen(here)) here"))
            }
        }
        return StatementCheck(billDate: billDate, checkedAt: now, rows: statement.rows.count, differences: differences)
    }
}
