import Foundation

// The outbox of order events for the merchant's own application (docs/webhooks.md): an event row written in the
// transaction of the order change it reports, one `deliver` job per (event, endpoint) on the same queue, and the
// answer of every delivery attempt. The domain (NotifyCore) decides what an event says and where it goes; the
// engines only store these records.

extension JobKind {
    /// Sends one order event to one endpoint (payload: ``DeliveryTarget``).
    public static let deliver: JobKind = "deliver"
}

/// One order event, stored exactly as it is delivered.
public struct WebhookEvent: Codable, Sendable, Equatable {
    /// Row id; nil before insertion.
    public var id: Int64?
    /// The public id (`evt_…`): the `webhook-id` of every delivery of this event, the consumer's idempotency key.
    public var eventId: String
    /// `order.paid`, `order.finished`, `order.closed`, `order.refunded`, `order.needs_review`.
    public var type: String
    /// The order it is about.
    public var outTradeNo: String
    /// Increases with each event of the order (1, 2, 3 …): a consumer drops an event older than one it applied.
    public var sequence: Int64
    /// The `order_events` row it reports (nil for `order.needs_review`, which changes no status).
    public var orderEventId: Int64?
    /// The JSON body, byte for byte what every delivery sends.
    public var payload: String
    /// When it was written.
    public var createdAt: Date

    /// An event from its parts.
    public init(
        id: Int64? = nil, eventId: String, type: String, outTradeNo: String, sequence: Int64, orderEventId: Int64? = nil, payload: String,
        createdAt: Date
    ) {
        self.id = id
        self.eventId = eventId
        self.type = type
        self.outTradeNo = outTradeNo
        self.sequence = sequence
        self.orderEventId = orderEventId
        self.payload = payload
        self.createdAt = createdAt
    }
}

/// A URL of the merchant's application that receives order events, with its signing secrets.
///
/// `description` never shows the secrets: an endpoint printed in a log or an error names only its id and URL.
public struct WebhookEndpoint: Codable, Sendable, Equatable, CustomStringConvertible {
    /// The public id (`ep_…`).
    public var endpointId: String
    /// Where events are POSTed.
    public var url: String
    /// The event types it receives; empty means all.
    public var eventTypes: [String]
    /// Free text for people.
    public var note: String?
    /// The signing secret (`whsec_` + base64 of the key).
    public var secret: String
    /// The secret before the last rotation, still signing beside `secret` until `previousSecretExpiresAt`.
    public var previousSecret: String?
    /// When `previousSecret` stops signing.
    public var previousSecretExpiresAt: Date?
    /// Disabled endpoints get no new deliveries; their pending ones go dead when claimed.
    public var enabled: Bool
    /// Why it was disabled (an operator, 410 Gone, failing for days).
    public var disabledReason: String?
    /// Since when every delivery failed; nil after a success.
    public var failingSince: Date?
    /// When it was added.
    public var createdAt: Date
    /// Last change.
    public var updatedAt: Date

    /// An endpoint from its parts.
    public init(
        endpointId: String, url: String, eventTypes: [String] = [], note: String? = nil, secret: String, previousSecret: String? = nil,
        previousSecretExpiresAt: Date? = nil, enabled: Bool = true, disabledReason: String? = nil, failingSince: Date? = nil,
        createdAt: Date, updatedAt: Date
    ) {
        self.endpointId = endpointId
        self.url = url
        self.eventTypes = eventTypes
        self.note = note
        self.secret = secret
        self.previousSecret = previousSecret
        self.previousSecretExpiresAt = previousSecretExpiresAt
        self.enabled = enabled
        self.disabledReason = disabledReason
        self.failingSince = failingSince
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether it receives events of `type`.
    public func receives(_ type: String) -> Bool {
        eventTypes.isEmpty || eventTypes.contains(type)
    }

    /// The secrets that sign a delivery at `now`: the current one, and the previous one until it expires.
    public func signingSecrets(at now: Date) -> [String] {
        guard let previousSecret, let expires = previousSecretExpiresAt, now < expires else { return [secret] }
        return [secret, previousSecret]
    }

    /// Id and URL only.
    public var description: String { "endpoint \(endpointId) (\(url))" }
}

/// One delivery attempt and the answer it got.
public struct DeliveryAttempt: Codable, Sendable, Equatable {
    /// Row id; nil before insertion.
    public var id: Int64?
    /// The event delivered (`evt_…`).
    public var eventId: String
    /// Where it went (`ep_…`).
    public var endpointId: String
    /// The `deliver` job.
    public var jobId: Int64?
    /// The job's attempt number.
    public var attempt: Int
    /// The HTTP status; nil when there was no answer (refused, timed out, address not allowed).
    public var status: Int?
    /// The first 1 KiB of the answer's body.
    public var response: String?
    /// Why it failed, in words; nil on success.
    public var error: String?
    /// Time from sending to the answer (or the failure), in milliseconds.
    public var durationMilliseconds: Int
    /// When it was sent.
    public var at: Date

    /// An attempt from its parts.
    public init(
        id: Int64? = nil, eventId: String, endpointId: String, jobId: Int64?, attempt: Int, status: Int?, response: String?, error: String?,
        durationMilliseconds: Int, at: Date
    ) {
        self.id = id
        self.eventId = eventId
        self.endpointId = endpointId
        self.jobId = jobId
        self.attempt = attempt
        self.status = status
        self.response = response
        self.error = error
        self.durationMilliseconds = durationMilliseconds
        self.at = at
    }

    /// Only 2xx is a success.
    public var succeeded: Bool { status.map { (200..<300).contains($0) } ?? false }
}

/// What a `deliver` job sends where: its payload, as JSON `{"event":"evt_…","endpoint":"ep_…"}`.
public struct DeliveryTarget: Codable, Sendable, Equatable, Hashable {
    /// `evt_…`.
    public var event: String
    /// `ep_…`.
    public var endpoint: String

    /// A target from its parts.
    public init(event: String, endpoint: String) {
        self.event = event
        self.endpoint = endpoint
    }

    /// The job's unique key: one live delivery per (event, endpoint).
    public var uniqueKey: String { "deliver:\(endpoint):\(event)" }

    /// The job's payload.
    public var payload: String {
        // Ids are generated by us (letters, digits, `_`): no escaping is needed, and the text is stable.
        #"{"event":"\#(event)","endpoint":"\#(endpoint)"}"#
    }

    /// The target a `deliver` job names; nil when the payload is not one.
    public init?(job: Job) {
        guard job.kind == .deliver, let payload = job.payload,
            let target = try? JSONDecoder().decode(DeliveryTarget.self, from: Data(payload.utf8))
        else { return nil }
        self = target
    }
}

extension StoreTransaction {
    /// Writes `event` and enqueues one `deliver` job for each enabled endpoint that receives its type, in this
    /// transaction: the event exists exactly when the order change that caused it does, and so do its deliveries.
    /// Returns the stored event and the deliveries enqueued.
    @discardableResult
    public func publish(_ event: WebhookEvent, now: Date) throws -> (event: WebhookEvent, deliveries: [Job]) {
        let stored = try insertWebhookEvent(event)
        var deliveries: [Job] = []
        for endpoint in try webhookEndpoints() where endpoint.enabled && endpoint.receives(event.type) {
            deliveries.append(try enqueueDelivery(DeliveryTarget(event: event.eventId, endpoint: endpoint.endpointId), outTradeNo: event.outTradeNo, at: now))
        }
        return (stored, deliveries)
    }

    /// Enqueues the delivery of one event to one endpoint (idempotent while one is live).
    @discardableResult
    public func enqueueDelivery(_ target: DeliveryTarget, outTradeNo: String?, at: Date) throws -> Job {
        try enqueue(NewJob(kind: .deliver, uniqueKey: target.uniqueKey, outTradeNo: outTradeNo, payload: target.payload, runAt: at)).job
    }
}

extension Store {
    /// `notifyctl db prune` for the outbox: delivery attempts recorded before `cutoff`, then events written before it
    /// that no pending, running or dead delivery still needs (done deliveries older than `cutoff` are pruned with the
    /// other done jobs). Batches of 1,000 rows, each its own short transaction.
    public func pruneWebhooks(olderThan cutoff: Date) async throws -> (events: Int, attempts: Int) {
        var attempts = 0
        while true {
            let deleted = try await write { tx in try tx.deleteDeliveryAttempts(before: cutoff, limit: 1000) }
            attempts += deleted
            if deleted < 1000 { break }
        }
        // Events a delivery not yet done still names stay (a dead one may be replayed).
        let keeping = try await read { db in
            var ids: Set<String> = []
            for state in [JobState.pending, .running, .dead] {
                for job in try db.jobs(state: state, kind: .deliver, outTradeNo: nil, limit: 1_000_000) {
                    if let target = DeliveryTarget(job: job) { ids.insert(target.event) }
                }
            }
            return ids
        }
        var events = 0
        while true {
            let deleted = try await write { tx in try tx.deleteWebhookEvents(before: cutoff, keeping: keeping, limit: 1000) }
            events += deleted
            if deleted < 1000 { break }
        }
        return (events, attempts)
    }
}
