import AlipayNotifyWebhooks
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NotifyStore
import Synchronization

/// Standard Webhooks' retry schedule (docs/webhooks.md): the delay after each failed attempt, with ±10 % jitter.
///
/// Now, then 5 s, 5 min, 30 min, 2 h, 5 h and six times 10 h: twelve attempts over about 2.8 days. `scale` shrinks it
/// for tests and demos (`webhooks.retryScale`).
public struct DeliverySchedule: Sendable {
    /// Seconds to wait after attempt 1, 2, … before the next one.
    public static let delays: [Double] = [5, 300, 1800, 7200, 18_000] + Array(repeating: 36_000, count: 6)
    /// Attempts in all; the last failure is final.
    public static var maxAttempts: Int { delays.count + 1 }

    /// Multiplies every delay.
    public var scale: Double
    /// Picks the jitter factor in `0.9 ... 1.1`; tests inject a fixed one.
    public var random: @Sendable (ClosedRange<Double>) -> Double

    /// A schedule; `scale` 1 in production.
    public init(scale: Double = 1, random: @escaping @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) {
        self.scale = scale
        self.random = random
    }

    /// Seconds before the attempt after `attempt` (1-based); nil when `attempt` was the last.
    public func delay(afterAttempt attempt: Int) -> Double? {
        guard attempt >= 1, attempt <= Self.delays.count else { return nil }
        let factor = min(1.1, max(0.9, random(0.9...1.1)))
        return Self.delays[attempt - 1] * scale * factor
    }
}

/// The knobs of delivery, from `webhooks.*`.
public struct DeliverySettings: Sendable {
    /// Where deliveries may go.
    public var policy: EndpointPolicy
    /// How long one attempt waits for the answer.
    public var timeout: Duration
    /// Deliveries in flight to one endpoint.
    public var perEndpointConcurrency: Int
    /// An endpoint failing for this long is disabled.
    public var disableAfter: TimeInterval
    /// When the next attempt runs.
    public var schedule: DeliverySchedule

    /// Settings from their parts.
    public init(
        policy: EndpointPolicy = EndpointPolicy(), timeout: Duration = .seconds(15), perEndpointConcurrency: Int = 4,
        disableAfter: TimeInterval = 5 * 86_400, schedule: DeliverySchedule = DeliverySchedule()
    ) {
        self.policy = policy
        self.timeout = timeout
        self.perEndpointConcurrency = max(1, perEndpointConcurrency)
        self.disableAfter = disableAfter
        self.schedule = schedule
    }

    /// Settings of `webhooks.*`.
    public init(_ webhooks: NotifyConfiguration.Webhooks, random: @escaping @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) }) {
        self.init(
            policy: EndpointPolicy(webhooks), timeout: webhooks.timeout,
            perEndpointConcurrency: webhooks.perEndpointConcurrency, disableAfter: webhooks.disableAfterDays * 86_400,
            schedule: DeliverySchedule(scale: webhooks.retryScale, random: random))
    }
}

/// Runs `deliver` jobs: POSTs one stored event to one endpoint, signed (Standard Webhooks v1), and records the answer.
///
/// Only a 2xx answer is a success; a redirect is a failure (never followed); 410 Gone disables the endpoint; 429 and
/// 503 are retried no sooner than their `Retry-After`; everything else (other statuses, timeouts, refused
/// connections, an address that is not allowed) is retried on ``DeliverySchedule`` and dead after the last attempt.
/// An endpoint whose deliveries all failed for `disableAfter` is disabled. The attempt (status and the first 1 KiB
/// of the answer) is recorded in the transaction that records the job's outcome.
public struct WebhookDeliverer: Sendable {
    /// Events, endpoints, jobs.
    public let store: any Store
    /// The outgoing HTTP client (no redirects).
    public let http: HTTPClient
    /// The knobs.
    public let settings: DeliverySettings
    /// Deliveries in flight per endpoint.
    let limiter: EndpointLimiter
    /// Counters and histograms.
    public let metrics: WorkerMetrics
    /// The clock (tests move it).
    public let now: @Sendable () -> Date
    /// Log lines.
    public let logger: Logger

    /// The answer's body kept per attempt.
    static let responsePrefixBytes = 1024

    /// A deliverer from its parts.
    public init(
        store: any Store, http: HTTPClient, settings: DeliverySettings, metrics: WorkerMetrics = WorkerMetrics(), logger: Logger,
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.store = store
        self.http = http
        self.settings = settings
        self.limiter = EndpointLimiter(limit: settings.perEndpointConcurrency)
        self.metrics = metrics
        self.logger = logger
        self.now = now
    }

    /// An HTTP client for deliveries: no redirects, a connect timeout within the attempt's.
    public static func makeHTTPClient(timeout: Duration) -> HTTPClient {
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow)
        configuration.timeout = .init(connect: .seconds(min(5, max(1, timeout.components.seconds))), read: .init(timeout))
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// What one attempt got.
    struct Answer: Sendable {
        var status: Int?
        var response: String?
        var error: String?
        var retryAfter: TimeInterval?
        var duration: Duration

        var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
    }

    /// Runs one claimed `deliver` job to its end; never throws.
    public func run(_ job: Job, lease: JobLease) async -> JobReport {
        guard let target = DeliveryTarget(job: job) else {
            return await finish(job, lease: lease, outcome: .dead, message: "not a delivery: the payload names no event and endpoint") { tx in
                try tx.deadLetter(lease, reason: "not a delivery: the payload names no event and endpoint")
            }
        }
        let found: (WebhookEvent?, WebhookEndpoint?)
        do {
            found = try await store.read { db in (try db.webhookEvent(target.event), try db.webhookEndpoint(target.endpoint)) }
        } catch {
            return await retryLater(job, lease: lease, reason: "cannot read the event or the endpoint: \(error)")
        }
        guard let event = found.0 else {
            let reason = "event \(target.event) does not exist (pruned?)"
            return await finish(job, lease: lease, outcome: .dead, message: reason) { tx in try tx.deadLetter(lease, reason: reason) }
        }
        guard let endpoint = found.1 else {
            let reason = "endpoint \(target.endpoint) was removed"
            return await finish(job, lease: lease, outcome: .dead, message: reason) { tx in try tx.deadLetter(lease, reason: reason) }
        }
        guard endpoint.enabled else {
            let reason = "\(endpoint) is disabled (\(endpoint.disabledReason ?? "by an operator")); enable it, then `notifyctl events replay`"
            return await finish(job, lease: lease, outcome: .dead, message: reason) { tx in try tx.deadLetter(lease, reason: reason) }
        }
        if job.attempts > DeliverySchedule.maxAttempts {
            let reason = "claimed \(job.attempts) times without finishing (at most \(DeliverySchedule.maxAttempts) attempts)"
            return await finish(job, lease: lease, outcome: .dead, message: reason) { tx in try tx.deadLetter(lease, reason: reason) }
        }
        let ticket: EndpointLimiter.Ticket
        switch await limiter.acquire(endpoint.endpointId) {
        case .acquired(let acquired):
            ticket = acquired
        case .busy(let oldest):
            // The endpoint has its share in flight: this attempt did not run and does not count. It comes back about
            // when the oldest of those may have ended: soon for a busy endpoint, near the timeout for a hanging one
            // (so thousands of waiting deliveries do not spin on claim and postpone).
            let wait = min(max(oldest.seconds, 0.1), max(0.1, settings.timeout.seconds)) + Double.random(in: 0...0.1)
            let at = now().addingTimeInterval(wait)
            return await finish(job, lease: lease, outcome: .retry, message: "\(endpoint) is at its concurrency limit; postponed", retryAt: at) { tx in
                try tx.postpone(lease, at: at)
            }
        }
        let answer = await send(event, to: endpoint)
        await limiter.release(ticket)
        return await record(answer, job: job, lease: lease, event: event, endpoint: endpoint)
    }

    /// Checks the address, signs and POSTs; never throws.
    func send(_ event: WebhookEvent, to endpoint: WebhookEndpoint) async -> Answer {
        let started = ContinuousClock.now
        let url: URL
        do throws(EndpointError) {
            url = try settings.policy.validate(endpoint.url)
            try await settings.policy.checkAddresses(of: url)
        } catch {
            return Answer(error: "not sent: \(error)", duration: ContinuousClock.now - started)
        }
        let secrets = endpoint.signingSecrets(at: now()).compactMap { try? WebhookSecret($0) }
        guard !secrets.isEmpty else { return Answer(error: "not sent: the endpoint's secret is unreadable", duration: .zero) }
        let body = Array(event.payload.utf8)
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "alipay-notify-webhooks/1")
        let timestamp = Int64(now().timeIntervalSince1970)
        for (name, value) in WebhookSigner.headers(id: event.eventId, timestamp: timestamp, body: body, secrets: secrets) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: .init(settings.timeout))
            var kept = ByteBuffer()
            for try await chunk in response.body {
                kept.writeImmutableBuffer(chunk.getSlice(at: chunk.readerIndex, length: min(chunk.readableBytes, Self.responsePrefixBytes - kept.readableBytes))!)
                if kept.readableBytes >= Self.responsePrefixBytes { break }
            }
            let status = Int(response.status.code)
            var answer = Answer(
                status: status, response: String(decoding: kept.readableBytesView, as: UTF8.self), duration: ContinuousClock.now - started)
            if !answer.succeeded {
                answer.error = status >= 300 && status < 400 ? "answered \(status) (redirects are not followed)" : "answered \(status)"
                if status == 429 || status == 503, let header = response.headers.first(name: "retry-after") {
                    answer.retryAfter = Self.retryAfter(header, now: now())
                }
            }
            return answer
        } catch {
            return Answer(error: Self.describe(error, timeout: settings.timeout), duration: ContinuousClock.now - started)
        }
    }

    /// Records the attempt and the job's outcome in one transaction.
    func record(_ answer: Answer, job: Job, lease: JobLease, event: WebhookEvent, endpoint: WebhookEndpoint) async -> JobReport {
        let now = now()
        let milliseconds = Int(answer.duration.components.seconds * 1000 + answer.duration.components.attoseconds / 1_000_000_000_000_000)
        let attempt = DeliveryAttempt(
            eventId: event.eventId, endpointId: endpoint.endpointId, jobId: lease.jobId, attempt: lease.attempt, status: answer.status,
            response: answer.response, error: answer.error, durationMilliseconds: milliseconds, at: now)
        let settings = settings
        let what = "\(event.type) \(event.eventId) to \(endpoint)"
        let disabled = Mutex(false)
        // Disables the endpoint and ends the job with `reason`, in the transaction.
        let disable = { @Sendable (tx: any StoreTransaction, current: WebhookEndpoint, why: String, reason: String) throws -> Settled in
            var current = current
            current.enabled = false
            current.disabledReason = why
            current.updatedAt = now
            try tx.updateWebhookEndpoint(current)
            try tx.deadLetter(lease, reason: reason)
            disabled.withLock { $0 = true }
            return Settled(outcome: .dead, message: reason)
        }
        let report = await finish(job, lease: lease) { tx -> Settled in
            try tx.insertDeliveryAttempt(attempt)
            var current = try tx.webhookEndpoint(endpoint.endpointId) ?? endpoint
            if answer.succeeded {
                try tx.complete(lease)
                if current.failingSince != nil {
                    current.failingSince = nil
                    current.updatedAt = now
                    try tx.updateWebhookEndpoint(current)
                }
                return Settled(outcome: .applied, message: "delivered \(what): \(answer.status ?? 0)")
            }
            let failure = answer.error ?? "failed"
            if answer.status == 410 {
                return try disable(
                    tx, current, "answered 410 Gone at \(OrderView.timestamp(now))", "\(endpoint) answered 410 Gone: disabled, no more deliveries")
            }
            let failingSince = current.failingSince ?? now
            if current.failingSince == nil {
                current.failingSince = now
                current.updatedAt = now
                try tx.updateWebhookEndpoint(current)
            }
            if now.timeIntervalSince(failingSince) >= settings.disableAfter {
                let days = Int(now.timeIntervalSince(failingSince) / 86_400)
                return try disable(
                    tx, current, "every delivery failed since \(OrderView.timestamp(failingSince))",
                    "\(failure); \(endpoint) failed for \(days) days: disabled")
            }
            guard var delay = settings.schedule.delay(afterAttempt: lease.attempt) else {
                let reason = "gave up after \(lease.attempt) attempts: \(failure)"
                try tx.deadLetter(lease, reason: reason)
                return Settled(outcome: .dead, message: reason)
            }
            if let retryAfter = answer.retryAfter { delay = max(delay, retryAfter) }
            let at = now.addingTimeInterval(delay)
            try tx.retry(lease, at: at, error: failure)
            return Settled(outcome: .retry, message: "\(what): \(failure); attempt \(lease.attempt + 1) at \(OrderView.timestamp(at))", retryAt: at)
        }
        if report.outcome != .leaseLost {
            metrics.delivery(result: Self.result(answer), latency: answer.succeeded ? now.timeIntervalSince(event.createdAt) : nil)
            if disabled.withLock({ $0 }) {
                metrics.endpointDisabled()
                logger.error("webhook endpoint disabled: \(report.message)", metadata: ["endpoint": "\(endpoint.endpointId)"])
            }
        }
        return report
    }

    /// How a delivery job ended, as decided inside its transaction.
    struct Settled: Sendable {
        var outcome: JobReport.Outcome
        var message: String
        var retryAt: Date? = nil
    }

    /// Runs `body` in one write transaction and reports how the job ended.
    private func finish(
        _ job: Job, lease: JobLease, outcome: JobReport.Outcome, message: String, retryAt: Date? = nil,
        _ body: @escaping @Sendable (any StoreTransaction) throws -> Void
    ) async -> JobReport {
        await finish(job, lease: lease) { tx -> Settled in
            try body(tx)
            return Settled(outcome: outcome, message: message, retryAt: retryAt)
        }
    }

    private func finish(_ job: Job, lease: JobLease, _ body: @escaping @Sendable (any StoreTransaction) throws -> Settled) async -> JobReport {
        do {
            let settled = try await store.write(body)
            return JobReport(job: job, outcome: settled.outcome, message: settled.message, retryAt: settled.retryAt)
        } catch StoreError.leaseLost {
            return JobReport(job: job, outcome: .leaseLost, message: "lease lost: another worker owns the delivery now")
        } catch {
            logger.error(
                "could not record a delivery's outcome; it runs again when its lease ends", metadata: ["job": "\(lease.jobId)", "error": "\(error)"])
            return JobReport(job: job, outcome: .leaseLost, message: "outcome not recorded: \(error)")
        }
    }

    private func retryLater(_ job: Job, lease: JobLease, reason: String) async -> JobReport {
        let at = now().addingTimeInterval(settings.schedule.delay(afterAttempt: 1) ?? 5)
        return await finish(job, lease: lease, outcome: .retry, message: reason, retryAt: at) { tx in try tx.retry(lease, at: at, error: reason) }
    }

    /// The `result` label: `success`, `failure`, `gone`, `timeout`, `refused` (address not allowed).
    static func result(_ answer: Answer) -> String {
        if answer.succeeded { return "success" }
        if answer.status == 410 { return "gone" }
        if answer.error?.hasPrefix("not sent") == true { return "refused" }
        if answer.error?.hasPrefix("timed out") == true { return "timeout" }
        return "failure"
    }

    /// Seconds from a `Retry-After` value (delta seconds or an HTTP date), at most a day.
    static func retryAfter(_ value: String, now: Date) -> TimeInterval? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(text), seconds >= 0 { return min(seconds, 86_400) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: text) else { return nil }
        return min(max(0, date.timeIntervalSince(now)), 86_400)
    }

    /// One line for an error of the HTTP client.
    static func describe(_ error: any Error, timeout: Duration) -> String {
        if let client = error as? HTTPClientError {
            switch client {
            case .deadlineExceeded, .readTimeout, .connectTimeout: return "timed out after \(timeout)"
            default: return "no answer: \(client)"
            }
        }
        return "no answer: \(error)"
    }
}

/// Deliveries in flight per endpoint, at most `limit` each, with when each started.
actor EndpointLimiter {
    /// One delivery in flight.
    struct Ticket: Sendable {
        let endpoint: String
        let id: UInt64
    }

    /// The answer to a request for a slot.
    enum Grant: Sendable {
        case acquired(Ticket)
        /// The endpoint is at its limit; its oldest delivery in flight has been running this long.
        case busy(oldest: Duration)
    }

    let limit: Int
    private var inFlight: [String: [UInt64: ContinuousClock.Instant]] = [:]
    private var next: UInt64 = 0

    init(limit: Int) {
        self.limit = limit
    }

    func acquire(_ endpoint: String) -> Grant {
        let running = inFlight[endpoint, default: [:]]
        if running.count >= limit {
            return .busy(oldest: running.values.min().map { ContinuousClock.now - $0 } ?? .zero)
        }
        next += 1
        inFlight[endpoint, default: [:]][next] = .now
        return .acquired(Ticket(endpoint: endpoint, id: next))
    }

    func release(_ ticket: Ticket) {
        inFlight[ticket.endpoint]?[ticket.id] = nil
        if inFlight[ticket.endpoint]?.isEmpty == true { inFlight[ticket.endpoint] = nil }
    }
}
