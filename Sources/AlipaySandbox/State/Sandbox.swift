import AlipayKit
import Foundation
import Logging

/// The sandbox's Alipay: trades, their state machine, the notification outbox and the delivery log.
///
/// One actor owns all state, so the gateway, the cashier, the control API and the notification dispatcher see
/// one consistent story; every change is saved to the state file (when configured) before the call returns.
public actor Sandbox {
    /// The configuration it runs with.
    public nonisolated let configuration: SandboxConfiguration
    /// The fault injector shared by the gateway and the dispatcher.
    public nonisolated let faults: FaultInjector
    /// Certificate mode (`sandbox.certDir`); nil in public key mode.
    public nonisolated let certificates: SandboxCertificates?
    nonisolated let logger: Logger
    private let stateFile: StateFile?
    private var state: SandboxState
    private var generator = SeededGenerator()
    /// Bumped by `reset()`, so attempts started before it cannot touch the new state.
    private var generation = 0
    private var wakeup: AsyncStream<Void>.Continuation?
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiterId = 0

    private struct Waiter {
        let condition: @Sendable (SandboxSnapshot) -> Bool
        let continuation: CheckedContinuation<Void, Never>
    }

    /// Loads the state file when there is one (a damaged file is an error, never silently replaced).
    public init(configuration: SandboxConfiguration, logger: Logger = Logger(label: "alipay-sandbox")) throws(SandboxError) {
        self.configuration = configuration
        self.faults = FaultInjector(configuration: configuration.faults)
        self.logger = logger
        self.certificates = try configuration.certDir.map { directory throws(SandboxError) in
            try SandboxCertificates(
                directory: directory, appId: configuration.appId, alipayPrivateKey: configuration.alipayPrivateKey,
                appPublicKey: configuration.appPublicKey)
        }
        if let path = configuration.stateFile {
            let file = StateFile(path: path)
            stateFile = file
            state = try file.load() ?? SandboxState()
            // Fail at start-up rather than at the first trade when the file cannot be written.
            try file.save(state)
        } else {
            stateFile = nil
            state = SandboxState()
        }
    }

    /// The key Alipay signs with now and, in certificate mode, its certificate's SN (`alipay_cert_sn`).
    public nonisolated var signing: (key: RSAPrivateKey, certSN: String?) {
        guard let certificates else { return (configuration.alipayPrivateKey, nil) }
        let current = certificates.signing
        return (current.key, current.sn)
    }

    // MARK: Trades

    /// Opens an order at the cashier for `alipay.trade.page.pay` (or `POST /sandbox/trades`): a pre-trade, which Alipay
    /// does not know as a trade until the buyer scans or logs in. Asking again for the same unpaid order shows the
    /// same cashier, as Alipay does.
    public func openTrade(_ request: NewTrade, now: Date = Date()) throws(TradeError) -> Trade {
        settleExpired(now: now)
        let expiry = try request.validate(now: now)
        if var existing = state.trades[request.outTradeNo] {
            switch existing.status {
            case .tradeSuccess, .tradeFinished: throw .tradeHasSuccess
            case .tradeClosed: throw .tradeHasClosed
            case .waitBuyerPay:
                guard existing.totalAmount == request.totalAmount, existing.subject == request.subject else {
                    throw .contextInconsistent
                }
                existing.notifyUrl = request.notifyUrl ?? existing.notifyUrl
                existing.returnUrl = request.returnUrl ?? existing.returnUrl
                state.trades[request.outTradeNo] = existing
                commit()
                return existing
            }
        }
        state.tradeSequence += 1
        let trade = Trade(
            outTradeNo: request.outTradeNo, tradeNo: Identifiers.tradeNo(day: now, sequence: state.tradeSequence),
            appId: configuration.appId, subject: request.subject, body: request.body, totalAmount: request.totalAmount,
            notifyUrl: request.notifyUrl, returnUrl: request.returnUrl, passbackParams: request.passbackParams,
            gmtCreate: ChinaTime.string(now), expireAt: expiry?.deadline(openedAt: now, timeScale: configuration.timeScale),
            productCode: request.productCode)
        state.trades[trade.outTradeNo] = trade
        var metadata: Logger.Metadata = [
            "out_trade_no": "\(trade.outTradeNo)", "trade_no": "\(trade.tradeNo)", "total_amount": "\(trade.totalAmount)",
        ]
        if let expireAt = trade.expireAt { metadata["expire_at"] = "\(expireAt)" }
        logger.info("cashier opened (pre-trade: no trade at Alipay until the buyer logs in)", metadata: metadata)
        if let url = trade.notifyUrl, url.contains("?") {
            logger.warning(
                "notify_url has a query string: like Alipay, the sandbox posts to the URL without it and adds its parameters to the notification body, where they are not signed",
                metadata: ["out_trade_no": "\(trade.outTradeNo)", "notify_url": "\(url)"])
        }
        commit()
        return trade
    }

    /// The buyer scans the code or logs in at the cashier: the pre-trade becomes a trade in WAIT_BUYER_PAY (not
    /// notified, as Alipay does not notify WAIT_BUYER_PAY by default). A trade that already exists is returned as is.
    public func login(outTradeNo: String, now: Date = Date()) throws(TradeError) -> Trade {
        settleExpired(now: now)
        guard var trade = state.trades[outTradeNo] else { throw .tradeNotExist }
        switch trade.status {
        case .waitBuyerPay: break
        case .tradeSuccess, .tradeFinished: throw .tradeHasSuccess
        case .tradeClosed: throw .tradeHasClosed
        }
        guard trade.isPreTrade else { return trade }
        trade.isPreTrade = false
        trade.gmtCreate = ChinaTime.string(now)
        state.trades[outTradeNo] = trade
        logger.info("buyer logged in: trade created", metadata: ["out_trade_no": "\(outTradeNo)", "trade_no": "\(trade.tradeNo)"])
        commit()
        return trade
    }

    /// The buyer pays (logging in first if still at the pre-trade): WAIT_BUYER_PAY ⇒ TRADE_SUCCESS and its notification
    /// (with fault `reorder`: TRADE_FINISHED at once, its notification sent before the TRADE_SUCCESS one).
    public func pay(outTradeNo: String, now: Date = Date()) throws(TradeError) -> Trade {
        var trade = try login(outTradeNo: outTradeNo, now: now)
        trade.status = .tradeSuccess
        trade.expireAt = nil
        trade.buyerId = Identifiers.buyerId(using: &generator)
        trade.buyerLogonId = Identifiers.maskedLogonId(using: &generator)
        trade.gmtPayment = ChinaTime.string(now)
        if faults.shouldReorder() {
            trade.status = .tradeFinished
            let finished = enqueue(trade, status: .tradeFinished, now: now)
            enqueue(trade, status: .tradeSuccess, now: now, after: finished)
        } else {
            enqueue(trade, status: .tradeSuccess, now: now)
            if let finishAfter = configuration.finishAfter {
                trade.finishAt = now.addingTimeInterval(configuration.retrySchedule.scaled(finishAfter).timeInterval)
            }
        }
        state.trades[outTradeNo] = trade
        logger.info("trade paid", metadata: ["out_trade_no": "\(outTradeNo)", "trade_status": "\(trade.status.rawValue)"])
        commit()
        return trade
    }

    /// The unpaid order times out now (the cashier's Cancel, `POST /sandbox/trades/{n}/cancel`): a trade closes with a
    /// TRADE_CLOSED notification; a pre-trade just expires, with no trade and no notification, as at Alipay.
    public func cancel(outTradeNo: String, now: Date = Date()) throws(TradeError) -> Trade {
        settleExpired(now: now)
        guard let trade = state.trades[outTradeNo] else { throw .tradeNotExist }
        guard trade.status == .waitBuyerPay else { throw .tradeStatusError }
        let closed = expire(trade, now: now)
        commit()
        return closed
    }

    /// `alipay.trade.close`: only an unpaid trade closes; TRADE_CLOSED is notified. A pre-trade is not a trade yet:
    /// ACQ.TRADE_NOT_EXIST, and it stays payable until it expires, as at Alipay.
    public func close(outTradeNo: String?, tradeNo: String?, now: Date = Date()) throws(TradeError) -> Trade {
        settleExpired(now: now)
        guard let key = existingKey(outTradeNo: outTradeNo, tradeNo: tradeNo), let trade = state.trades[key] else {
            throw .tradeNotExist
        }
        guard trade.status == .waitBuyerPay else { throw .tradeStatusError }
        let closed = expire(trade, now: now)
        commit()
        return closed
    }

    /// `alipay.trade.refund`: refunds up to what is left; the refund that empties the trade closes it (TRADE_CLOSED),
    /// a partial one notifies TRADE_SUCCESS with `refund_fee`. Repeating an `out_request_no` repeats its answer;
    /// repeating it with another amount is ACQ.DISCORDANT_REPEAT_REQUEST. A closed trade refuses with
    /// ACQ.TRADE_STATUS_ERROR, as in the refund API's error list.
    public func refund(
        outTradeNo: String?, tradeNo: String?, amount: Amount, outRequestNo: String?, reason: String?, now: Date = Date()
    ) throws(TradeError) -> RefundResult {
        settleExpired(now: now)
        guard let key = existingKey(outTradeNo: outTradeNo, tradeNo: tradeNo), var trade = state.trades[key] else {
            throw .tradeNotExist
        }
        let requestNo = (outRequestNo?.isEmpty ?? true) ? trade.outTradeNo : outRequestNo!
        if let earlier = trade.refunds.first(where: { $0.outRequestNo == requestNo }) {
            guard earlier.refundAmount == amount else { throw .discordantRepeatRequest }
            return RefundResult(trade: trade, refund: earlier, fundChange: false)
        }
        switch trade.status {
        case .waitBuyerPay, .tradeClosed: throw .tradeStatusError
        case .tradeFinished: throw .tradeHasFinished
        case .tradeSuccess: break
        }
        guard amount.fen > 0 else { throw .invalidParameter("refund_amount must be at least 0.01") }
        guard amount <= trade.refundableAmount else { throw .refundAmountExceeded }
        let record = RefundRecord(outRequestNo: requestNo, refundAmount: amount, refundReason: reason, gmtRefund: ChinaTime.string(now))
        trade.refunds.append(record)
        trade.refundedAmount = Amount(fen: trade.refundedAmount.fen + amount.fen)
        var extra = [
            "refund_fee": trade.refundedAmount.description, "gmt_refund": record.gmtRefund, "out_biz_no": requestNo,
        ]
        if trade.refundableAmount.fen == 0 {
            trade.status = .tradeClosed
            trade.gmtClose = record.gmtRefund
            trade.finishAt = nil
            extra["gmt_close"] = record.gmtRefund
        }
        state.trades[key] = trade
        enqueue(trade, status: trade.status, now: now, extra: extra)
        logger.info(
            "trade refunded",
            metadata: ["out_trade_no": "\(key)", "refund_amount": "\(amount)", "refund_fee": "\(trade.refundedAmount)"])
        commit()
        return RefundResult(trade: trade, refund: record, fundChange: true)
    }

    /// The trade as `alipay.trade.query` sees it: nil for an unknown order and for a pre-trade.
    public func existingTrade(outTradeNo: String?, tradeNo: String? = nil, now: Date = Date()) -> Trade? {
        settleExpired(now: now)
        return existingKey(outTradeNo: outTradeNo, tradeNo: tradeNo).flatMap { state.trades[$0] }
    }

    /// The order with this `trade_no` or `out_trade_no` as the sandbox knows it, pre-trades included.
    public func trade(outTradeNo: String?, tradeNo: String? = nil) -> Trade? {
        settleExpired(now: Date())
        return state.outTradeNo(outTradeNo: outTradeNo, tradeNo: tradeNo).flatMap { state.trades[$0] }
    }

    /// Every order, pre-trades included, oldest first.
    public func trades() -> [Trade] {
        settleExpired(now: Date())
        return state.trades.values.sorted { $0.tradeNo < $1.tradeNo }
    }

    /// Every notification attempt, oldest first.
    public func deliveries() -> [Delivery] {
        state.deliveries
    }

    /// How many notifications still await an attempt or an answer.
    public func pendingNotificationCount() -> Int {
        state.outbox.count
    }

    /// The trade statement of `day` ("yyyy-MM-dd", China time) as Alipay's download serves it: a zip of GBK CSV files;
    /// the `statement` fault plants a discrepancy.
    public func statement(day: String, now: Date = Date()) throws -> Data {
        settleExpired(now: now)
        let mismatch = faults.plantsStatementMismatch()
        logger.info("statement downloaded", metadata: ["bill_date": "\(day)"])
        if mismatch { logger.info("fault: statement with a planted discrepancy", metadata: ["bill_date": "\(day)"]) }
        let trades = state.trades.values.sorted { $0.tradeNo < $1.tradeNo }
        return try StatementFile.zip(trades: trades, day: day, account: configuration.sellerId, plantMismatch: mismatch, now: now)
    }

    /// Forgets every trade, notification and delivery (and saves the empty state); faults stay as they are.
    public func reset() {
        generation += 1
        // Alipay never hands out a trade_no or notify_id twice: the sequences go on, or a notification after a reset
        // would carry the notify_id of one before it and a receiver would rightly take it for a re-delivery.
        var fresh = SandboxState()
        fresh.tradeSequence = state.tradeSequence
        fresh.notifySequence = state.notifySequence
        state = fresh
        logger.info("sandbox reset")
        commit()
    }

    // MARK: Waiting (tests and scripts)

    /// Returns once `condition` holds for the sandbox's state (checked now and after every change).
    public func waitUntil(_ condition: @escaping @Sendable (SandboxSnapshot) -> Bool) async {
        if condition(snapshot()) { return }
        let id = nextWaiterId
        nextWaiterId += 1
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                if Task.isCancelled || condition(snapshot()) {
                    continuation.resume()
                } else {
                    waiters[id] = Waiter(condition: condition, continuation: continuation)
                }
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func cancelWaiter(_ id: Int) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    private func snapshot() -> SandboxSnapshot {
        SandboxSnapshot(trades: state.trades, deliveries: state.deliveries, pendingNotifications: state.outbox.count)
    }

    // MARK: Dispatcher interface

    /// Connects the dispatcher's wake-up signal, yielded whenever a notification may have become due.
    func attach(wakeup continuation: AsyncStream<Void>.Continuation) {
        wakeup = continuation
        for index in state.outbox.indices { state.outbox[index].inFlight = false }
        continuation.yield()
    }

    /// Disconnects the dispatcher.
    func detachWakeup() {
        wakeup = nil
    }

    /// Takes the attempts due at `now` (marking them in flight), turns due trades TRADE_FINISHED, and says when to look again.
    func takeDue(now: Date) -> (due: [DueNotification], nextWake: Date?) {
        var changed = settleExpired(now: now, commitChanges: false)
        for (key, trade) in state.trades {
            guard let finishAt = trade.finishAt, finishAt <= now else { continue }
            var finished = trade
            finished.finishAt = nil
            if trade.status == .tradeSuccess {
                finished.status = .tradeFinished
                // Alipay's TRADE_FINISHED comes long after TRADE_SUCCESS; a scaled clock must not let it overtake.
                let success = state.outbox.first { $0.outTradeNo == key && $0.tradeStatus == .tradeSuccess && $0.attempts == 0 }
                enqueue(finished, status: .tradeFinished, now: now, after: success?.notifyId)
                logger.info("trade finished", metadata: ["out_trade_no": "\(key)"])
            }
            state.trades[key] = finished
            changed = true
        }
        let waitingFirst = Set(state.outbox.filter { $0.attempts == 0 }.map(\.notifyId))
        var due: [DueNotification] = []
        var nextWake: Date? = (state.trades.values.compactMap(\.finishAt) + state.trades.values.compactMap(\.expireAt)).min()
        for index in state.outbox.indices where !state.outbox[index].inFlight {
            let entry = state.outbox[index]
            if let after = entry.after, waitingFirst.contains(after) || inFlightFirstAttempt(after) { continue }
            if entry.nextAttemptAt <= now {
                state.outbox[index].inFlight = true
                var parameters = entry.parameters
                parameters["notify_time"] = ChinaTime.string(now)
                due.append(
                    DueNotification(
                        notifyId: entry.notifyId, outTradeNo: entry.outTradeNo, tradeStatus: entry.tradeStatus, url: entry.url,
                        parameters: parameters, attempt: entry.attempts + 1, generation: generation))
            } else {
                nextWake = min(nextWake ?? entry.nextAttemptAt, entry.nextAttemptAt)
            }
        }
        if changed { commit() }
        return (due, nextWake)
    }

    private func inFlightFirstAttempt(_ notifyId: String) -> Bool {
        state.outbox.contains { $0.notifyId == notifyId && $0.inFlight && $0.attempts == 0 }
    }

    /// Records an attempt: the genuine answer decides (acknowledged ⇒ done; otherwise retried on schedule until the
    /// last attempt); `extras` (forged and duplicate copies) are only logged.
    func complete(_ due: DueNotification, outcome: AttemptOutcome, url: String? = nil, extras: [(Delivery.Kind, AttemptOutcome)]) {
        guard due.generation == generation else { return }
        let url = url ?? due.url
        for (kind, extra) in extras where kind == .forged { log(due, extra, kind: kind, url: url) }
        log(due, outcome, kind: .genuine, url: url)
        for (kind, extra) in extras where kind != .forged { log(due, extra, kind: kind, url: url) }
        if let index = state.outbox.firstIndex(where: { $0.notifyId == due.notifyId }) {
            var entry = state.outbox[index]
            entry.inFlight = false
            entry.attempts = due.attempt
            let delay = outcome.acknowledged ? nil : configuration.retrySchedule.delay(afterFailedAttempt: due.attempt)
            if let delay {
                entry.nextAttemptAt = outcome.finished.addingTimeInterval(delay.timeInterval)
                state.outbox[index] = entry
            } else {
                state.outbox.remove(at: index)
                if !outcome.acknowledged {
                    logger.warning(
                        "notification given up after the last attempt",
                        metadata: ["notify_id": "\(due.notifyId)", "out_trade_no": "\(due.outTradeNo)", "attempts": "\(due.attempt)"])
                }
            }
        }
        commit()
    }

    private func log(_ due: DueNotification, _ outcome: AttemptOutcome, kind: Delivery.Kind, url: String) {
        state.deliveries.append(
            Delivery(
                notifyId: due.notifyId, outTradeNo: due.outTradeNo, tradeStatus: due.tradeStatus, attempt: due.attempt,
                time: outcome.time, answer: outcome.answer,
                durationMs: max(0, Int((outcome.finished.timeIntervalSince(outcome.time) * 1000).rounded())),
                httpStatus: outcome.httpStatus, acknowledged: outcome.acknowledged,
                kind: kind, url: url))
        if state.deliveries.count > SandboxState.deliveryLogLimit {
            state.deliveries.removeFirst(state.deliveries.count - SandboxState.deliveryLogLimit)
        }
        logger.info(
            "notification attempt",
            metadata: [
                "notify_id": "\(due.notifyId)", "out_trade_no": "\(due.outTradeNo)", "trade_status": "\(due.tradeStatus.rawValue)",
                "attempt": "\(due.attempt)", "kind": "\(kind.rawValue)", "answer": "\(outcome.answer)",
            ])
    }

    // MARK: Internals

    /// The key of a trade Alipay knows (not a pre-trade) by `trade_no` or `out_trade_no`.
    private func existingKey(outTradeNo: String?, tradeNo: String?) -> String? {
        guard let key = state.outTradeNo(outTradeNo: outTradeNo, tradeNo: tradeNo), state.trades[key]?.isPreTrade == false else {
            return nil
        }
        return key
    }

    /// Closes an unpaid order: a trade notifies TRADE_CLOSED, a pre-trade ends silently. Does not commit.
    private func expire(_ trade: Trade, now: Date) -> Trade {
        var closed = trade
        closed.status = .tradeClosed
        closed.gmtClose = ChinaTime.string(now)
        closed.expireAt = nil
        state.trades[trade.outTradeNo] = closed
        if trade.isPreTrade {
            logger.info("pre-trade expired: the buyer never logged in, so there is no trade and nothing is notified", metadata: ["out_trade_no": "\(trade.outTradeNo)"])
        } else {
            enqueue(closed, status: .tradeClosed, now: now)
            logger.info("trade closed", metadata: ["out_trade_no": "\(trade.outTradeNo)"])
        }
        return closed
    }

    /// Closes every unpaid order whose `timeout_express` / `time_expire` has passed; returns whether any did.
    @discardableResult
    private func settleExpired(now: Date, commitChanges: Bool = true) -> Bool {
        let due = state.trades.values.filter { trade in
            guard let expireAt = trade.expireAt else { return false }
            return expireAt <= now && trade.status == .waitBuyerPay
        }
        for trade in due.sorted(by: { $0.tradeNo < $1.tradeNo }) {
            // The close happened at the deadline, not whenever the sandbox noticed it.
            _ = expire(trade, now: min(now, trade.expireAt!))
        }
        if !due.isEmpty && commitChanges { commit() }
        return !due.isEmpty
    }

    /// Queues a notification for the trade (when it has a `notify_url`) and returns its `notify_id`.
    @discardableResult
    private func enqueue(_ trade: Trade, status: TradeStatus, now: Date, after: String? = nil, extra: [String: String] = [:]) -> String? {
        guard let url = trade.notifyUrl, !url.isEmpty else { return nil }
        state.notifySequence += 1
        let notifyId = Identifiers.notifyId(day: now, sequence: state.notifySequence)
        var parameters = NotificationFields.parameters(for: trade, status: status, configuration: configuration)
        parameters["notify_id"] = notifyId
        parameters.merge(extra) { $1 }
        // Fault `gbk`: an old account's notification, every attempt of it in GBK.
        if faults.shouldUseGBK() { parameters["charset"] = "GBK" }
        state.outbox.append(
            PendingNotification(
                notifyId: notifyId, outTradeNo: trade.outTradeNo, tradeStatus: status, url: url, parameters: parameters,
                nextAttemptAt: now, after: after))
        return notifyId
    }

    /// Saves the state, wakes the dispatcher and resumes the waiters whose condition now holds.
    private func commit() {
        if let stateFile {
            do {
                try stateFile.save(state)
            } catch {
                logger.error("\(error.description)")
            }
        }
        wakeup?.yield()
        guard !waiters.isEmpty else { return }
        let current = snapshot()
        for (id, waiter) in waiters where waiter.condition(current) {
            waiters.removeValue(forKey: id)
            waiter.continuation.resume()
        }
    }
}

/// What `waitUntil` conditions look at.
public struct SandboxSnapshot: Sendable {
    /// Trades by `out_trade_no`.
    public let trades: [String: Trade]
    /// Every attempt so far.
    public let deliveries: [Delivery]
    /// Notifications not yet acknowledged nor given up.
    public let pendingNotifications: Int
}

/// The outcome of a refund: the trade after it, the refund, and whether money moved (`fund_change`).
public struct RefundResult: Sendable {
    /// The trade after the refund.
    public let trade: Trade
    /// The refund (the earlier one when `out_request_no` repeats).
    public let refund: RefundRecord
    /// `fund_change`: false when the request repeated an earlier one.
    public let fundChange: Bool
}
