import AlipayKit
import Foundation
import Metrics
import NotifyStore

/// The worker's metrics (README, "Metrics"), recorded only after the transaction they describe committed.
///
/// The worker has no HTTP listener: these reach Prometheus only where a process exposes its registry; the receiver's
/// `/metrics` reads queue depth and orders needing review from the database, which covers the worker's work.
public struct WorkerMetrics: Sendable {
    private let factory: any MetricsFactory

    /// Metrics through `factory`, by default the process-wide `MetricsSystem` (no-ops until it is bootstrapped).
    public init(factory: (any MetricsFactory)? = nil) {
        self.factory = factory ?? MetricsSystem.factory
    }

    /// `alipay_notify_jobs_total{kind,outcome}`: outcome `done`, `retry`, `dead` or `lease_lost`.
    public func job(kind: String, outcome: String) {
        Counter(label: "alipay_notify_jobs_total", dimensions: [("kind", kind), ("outcome", outcome)], factory: factory).increment()
    }

    /// `alipay_notify_trade_query_total{result}`: `success`, `waiting`, `retryable`, `config_error`, `rejected`.
    public func tradeQuery<R>(_ outcome: GatewayOutcome<R>) {
        Counter(label: "alipay_notify_trade_query_total", dimensions: [("result", Self.result(outcome))], factory: factory).increment()
    }

    /// `alipay_notify_refund_calls_total{method,result}`: `alipay.trade.refund` and `alipay.trade.fastpay.refund.query`
    /// calls by outcome (the `result` values of `alipay_notify_trade_query_total`).
    public func refundCall<R>(_ method: String, _ outcome: GatewayOutcome<R>) {
        Counter(
            label: "alipay_notify_refund_calls_total", dimensions: [("method", method), ("result", Self.result(outcome))], factory: factory
        ).increment()
    }

    /// `alipay_notify_statement_checks_total{result}`: `clean` or `differences`, per day checked.
    public func statementCheck(_ check: StatementCheck) {
        Counter(
            label: "alipay_notify_statement_checks_total", dimensions: [("result", check.differences.isEmpty ? "clean" : "differences")],
            factory: factory
        ).increment()
    }

    /// `alipay_notify_reviews_total{reason}`.
    public func review(_ reason: ReviewReason) {
        Counter(label: "alipay_notify_reviews_total", dimensions: [("reason", reason.rawValue)], factory: factory).increment()
    }

    /// `alipay_notify_order_transitions_total{to,source}` for a status change; a refund that keeps the status (a
    /// partial refund) is not one, and goes to `alipay_notify_refunds_total{kind}` with full refunds.
    public func applied(_ transition: Transition, source: TradeFact.Source) {
        if transition.from != transition.to {
            Counter(
                label: "alipay_notify_order_transitions_total", dimensions: [("to", transition.to.rawValue), ("source", source.rawValue)],
                factory: factory
            ).increment()
        }
        if transition.kind == .partialRefund || transition.kind == .fullRefund {
            Counter(label: "alipay_notify_refunds_total", dimensions: [("kind", transition.kind.rawValue)], factory: factory).increment()
        }
    }

    /// `alipay_notify_webhook_deliveries_total{result}` (`success`, `failure`, `timeout`, `gone`, `refused`), and for a
    /// success `alipay_notify_webhook_delivery_latency_seconds`: from the order change to the endpoint's 2xx.
    public func delivery(result: String, latency: TimeInterval?) {
        Counter(label: "alipay_notify_webhook_deliveries_total", dimensions: [("result", result)], factory: factory).increment()
        if let latency {
            Timer(label: "alipay_notify_webhook_delivery_latency_seconds", factory: factory)
                .recordNanoseconds(Int64(max(0, latency) * 1_000_000_000))
        }
    }

    /// `alipay_notify_webhook_endpoints_disabled_total`: endpoints the worker disabled (410 Gone, failing for days).
    public func endpointDisabled() {
        Counter(label: "alipay_notify_webhook_endpoints_disabled_total", factory: factory).increment()
    }

    /// Every labelled counter at zero, so a dashboard shows 0 rather than "No data" before the first event.
    public func exportZeros(kinds: Set<JobKind>) {
        for kind in kinds.map(\.rawValue).sorted() {
            for outcome in ["done", "retry", "dead", "lease_lost"] {
                Counter(label: "alipay_notify_jobs_total", dimensions: [("kind", kind), ("outcome", outcome)], factory: factory).increment(by: 0)
            }
        }
        for result in ["success", "waiting", "retryable", "config_error", "rejected"] {
            Counter(label: "alipay_notify_trade_query_total", dimensions: [("result", result)], factory: factory).increment(by: 0)
        }
        for method in [TradeRefund.method, TradeRefundQuery.method] {
            for result in ["success", "waiting", "retryable", "config_error", "rejected"] {
                Counter(label: "alipay_notify_refund_calls_total", dimensions: [("method", method), ("result", result)], factory: factory)
                    .increment(by: 0)
            }
        }
        for result in ["clean", "differences"] {
            Counter(label: "alipay_notify_statement_checks_total", dimensions: [("result", result)], factory: factory).increment(by: 0)
        }
        for reason in ReviewReason.allCases {
            Counter(label: "alipay_notify_reviews_total", dimensions: [("reason", reason.rawValue)], factory: factory).increment(by: 0)
        }
        for status in [OrderStatus.waitBuyerPay, .tradeSuccess, .tradeFinished, .tradeClosed] {
            for source in TradeFact.Source.allCases {
                Counter(
                    label: "alipay_notify_order_transitions_total", dimensions: [("to", status.rawValue), ("source", source.rawValue)],
                    factory: factory
                ).increment(by: 0)
            }
        }
        for kind in [Transition.Kind.partialRefund, .fullRefund] {
            Counter(label: "alipay_notify_refunds_total", dimensions: [("kind", kind.rawValue)], factory: factory).increment(by: 0)
        }
        for result in ["success", "failure", "timeout", "gone", "refused"] {
            Counter(label: "alipay_notify_webhook_deliveries_total", dimensions: [("result", result)], factory: factory).increment(by: 0)
        }
        Counter(label: "alipay_notify_webhook_endpoints_disabled_total", factory: factory).increment(by: 0)
    }

    /// `alipay_notify_job_duration_seconds{kind}`: how long one job took, gateway calls included; a notification job
    /// applied in a batch records the batch's time (re-read, verify, commit), which is what it waited.
    public func duration(kind: String, _ duration: Duration) {
        let nanoseconds = duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000
        Timer(label: "alipay_notify_job_duration_seconds", dimensions: [("kind", kind)], factory: factory).recordNanoseconds(nanoseconds)
    }

    /// The `result` label of a gateway outcome.
    public static func result<R>(_ outcome: GatewayOutcome<R>) -> String {
        switch outcome {
        case .success: "success"
        case .tradeNotExist: "waiting"
        case .retryable: "retryable"
        case .configurationError: "config_error"
        case .rejected: "rejected"
        }
    }
}
