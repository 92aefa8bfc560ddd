import AlipayNotifyWebhooks
import Foundation
import NotifyStore

/// Endpoints and events, as `notifyctl endpoints|events` and the internal API (`/api/endpoints`, `/api/events`) see
/// them: one implementation, so both answer the same way.
public struct WebhookService: Sendable {
    /// Endpoints, events, jobs.
    public let store: any Store
    /// Which URLs an endpoint may have.
    public let policy: EndpointPolicy
    /// The clock.
    public let now: @Sendable () -> Date

    /// How long a rotated-out secret keeps signing beside the new one.
    public static let rotationOverlap: TimeInterval = 24 * 3600

    /// A service over `store`.
    public init(store: any Store, policy: EndpointPolicy, now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.policy = policy
        self.now = now
    }

    /// A fresh public endpoint id: `ep_` and 24 hex digits.
    public static func makeEndpointId() -> String {
        "ep_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(24)
    }

    /// The event types `--events` may name.
    public static var eventTypes: [String] { OrderEvents.EventType.allCases.map(\.rawValue) }

    /// Adds an endpoint and returns it with its secret (shown this once).
    public func add(url: String, events: [String], note: String?) async throws(WebhookServiceError) -> EndpointView {
        let checked: URL
        do throws(EndpointError) {
            checked = try policy.validate(url)
            try await policy.checkAddresses(of: checked)
        } catch {
            throw .invalid(error.description)
        }
        let types = try Self.checkedTypes(events)
        if let note, note.count > 500 { throw .invalid("description: at most 500 characters") }
        let now = now()
        let endpoint = WebhookEndpoint(
            endpointId: Self.makeEndpointId(), url: checked.absoluteString, eventTypes: types, note: note, secret: WebhookSecret.generate().text,
            createdAt: now, updatedAt: now)
        try await write { tx in try tx.insertWebhookEndpoint(endpoint) }
        return EndpointView(endpoint, now: now, showSecret: true)
    }

    /// Every endpoint, oldest first (secrets never shown).
    public func list() async throws(WebhookServiceError) -> [EndpointView] {
        let now = now()
        return try await read { db in try db.webhookEndpoints() }.map { EndpointView($0, now: now) }
    }

    /// One endpoint, with its undelivered count.
    public func show(_ endpointId: String) async throws(WebhookServiceError) -> EndpointView {
        EndpointView(try await endpoint(endpointId), now: now())
    }

    /// Stops new deliveries (pending ones go dead when claimed; `events replay` sends them later).
    public func disable(_ endpointId: String) async throws(WebhookServiceError) -> EndpointView {
        try await change(endpointId) { endpoint, now in
            endpoint.enabled = false
            endpoint.disabledReason = "disabled by an operator at \(OrderView.timestamp(now))"
        }
    }

    /// Starts deliveries again (from new events on; `events replay --endpoint` sends what it missed).
    public func enable(_ endpointId: String) async throws(WebhookServiceError) -> EndpointView {
        try await change(endpointId) { endpoint, _ in
            endpoint.enabled = true
            endpoint.disabledReason = nil
            endpoint.failingSince = nil
        }
    }

    /// A new secret, shown this once; the old one keeps signing beside it for ``rotationOverlap``.
    public func rotateSecret(_ endpointId: String) async throws(WebhookServiceError) -> EndpointView {
        let fresh = WebhookSecret.generate().text
        var view = try await change(endpointId) { endpoint, now in
            endpoint.previousSecret = endpoint.secret
            endpoint.previousSecretExpiresAt = now.addingTimeInterval(Self.rotationOverlap)
            endpoint.secret = fresh
        }
        view.secret = fresh
        return view
    }

    /// Deletes the endpoint; its past attempts stay, its pending deliveries go dead when claimed.
    public func remove(_ endpointId: String) async throws(WebhookServiceError) {
        let removed = try await write { tx in try tx.deleteWebhookEndpoint(endpointId) }
        if !removed { throw .notFound("no endpoint \(endpointId)") }
    }

    /// Events, newest first.
    public func events(outTradeNo: String?, type: String?, limit: Int) async throws(WebhookServiceError) -> [EventView] {
        if let type { _ = try Self.checkedTypes([type]) }
        return try await read { db in try db.webhookEvents(outTradeNo: outTradeNo, type: type, since: nil, limit: limit) }
            .map { EventView($0, attempts: nil) }
    }

    /// One event with every attempt to deliver it.
    public func event(_ eventId: String) async throws(WebhookServiceError) -> EventView {
        let found = try await read { db in
            try db.webhookEvent(eventId).map { ($0, try db.deliveryAttempts(eventId: eventId, endpointId: nil)) }
        }
        guard let (event, attempts) = found else { throw .notFound("no event \(eventId)") }
        return EventView(event, attempts: attempts)
    }

    /// Delivers these events again to every enabled endpoint that receives their type (a new `deliver` job each,
    /// unless one is still live). Returns the jobs.
    public func replay(eventIds: [String]) async throws(WebhookServiceError) -> [ReplayedDelivery] {
        let now = now()
        return try await write { tx in
            var replayed: [ReplayedDelivery] = []
            let endpoints = try tx.webhookEndpoints().filter(\.enabled)
            for eventId in eventIds {
                guard let event = try tx.webhookEvent(eventId) else { throw WebhookServiceError.notFound("no event \(eventId)") }
                for endpoint in endpoints where endpoint.receives(event.type) {
                    let job = try tx.enqueueDelivery(DeliveryTarget(event: eventId, endpoint: endpoint.endpointId), outTradeNo: event.outTradeNo, at: now)
                    replayed.append(ReplayedDelivery(event: eventId, endpoint: endpoint.endpointId, job: job.id ?? 0))
                }
            }
            return replayed
        }
    }

    /// Delivers to one endpoint again every event of its types written at or after `since` (at most `limit`).
    public func replay(endpointId: String, since: Date, limit: Int = 10_000) async throws(WebhookServiceError) -> [ReplayedDelivery] {
        let now = now()
        return try await write { tx in
            guard let endpoint = try tx.webhookEndpoint(endpointId) else { throw WebhookServiceError.notFound("no endpoint \(endpointId)") }
            guard endpoint.enabled else { throw WebhookServiceError.conflict("\(endpoint) is disabled; enable it first") }
            let events = try tx.webhookEvents(outTradeNo: nil, type: nil, since: since, limit: limit).reversed()
            var replayed: [ReplayedDelivery] = []
            for event in events where endpoint.receives(event.type) {
                let job = try tx.enqueueDelivery(DeliveryTarget(event: event.eventId, endpoint: endpointId), outTradeNo: event.outTradeNo, at: now)
                replayed.append(ReplayedDelivery(event: event.eventId, endpoint: endpointId, job: job.id ?? 0))
            }
            return replayed
        }
    }

    // MARK: - Helpers

    static func checkedTypes(_ types: [String]) throws(WebhookServiceError) -> [String] {
        let known = Set(eventTypes)
        for type in types where !known.contains(type) {
            throw .invalid("events: \"\(type.prefix(60))\" is not one of \(eventTypes.joined(separator: ", "))")
        }
        var unique: [String] = []
        for type in types where !unique.contains(type) { unique.append(type) }
        return unique
    }

    private func endpoint(_ endpointId: String) async throws(WebhookServiceError) -> WebhookEndpoint {
        guard let endpoint = try await read({ db in try db.webhookEndpoint(endpointId) }) else { throw .notFound("no endpoint \(endpointId)") }
        return endpoint
    }

    private func change(
        _ endpointId: String, _ body: @escaping @Sendable (inout WebhookEndpoint, Date) -> Void
    ) async throws(WebhookServiceError) -> EndpointView {
        let now = now()
        let changed = try await write { tx -> WebhookEndpoint? in
            guard var endpoint = try tx.webhookEndpoint(endpointId) else { return nil }
            body(&endpoint, now)
            endpoint.updatedAt = now
            try tx.updateWebhookEndpoint(endpoint)
            return endpoint
        }
        guard let changed else { throw .notFound("no endpoint \(endpointId)") }
        return EndpointView(changed, now: now)
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (any StoreReading) throws -> T) async throws(WebhookServiceError) -> T {
        do {
            return try await store.read(body)
        } catch {
            throw WebhookServiceError(error)
        }
    }

    private func write<T: Sendable>(_ body: @escaping @Sendable (any StoreTransaction) throws -> T) async throws(WebhookServiceError) -> T {
        do {
            return try await store.write(body)
        } catch {
            throw WebhookServiceError(error)
        }
    }
}

/// What went wrong with an endpoint or event request, classed as the API answers it.
public enum WebhookServiceError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Bad input (400).
    case invalid(String)
    /// No such endpoint or event (404).
    case notFound(String)
    /// Not in this state (409).
    case conflict(String)
    /// The database cannot answer now (503).
    case unavailable(String)

    init(_ error: any Error) {
        switch error {
        case let error as WebhookServiceError: self = error
        case let error as StoreError: self = .unavailable("the database cannot answer now: \(error)")
        default: self = .unavailable("\(error)")
        }
    }

    public var description: String {
        switch self {
        case .invalid(let text), .notFound(let text), .conflict(let text), .unavailable(let text): text
        }
    }
}

/// An endpoint as the API and `notifyctl --json` show it; `secret` only when it was just made.
public struct EndpointView: Codable, Sendable, Equatable {
    public var id: String
    public var url: String
    public var events: [String]
    public var description: String?
    public var enabled: Bool
    public var disabledReason: String?
    public var failingSince: String?
    /// Shown once, by `add` and `rotate-secret`.
    public var secret: String?
    /// While a rotation overlaps: when the old secret stops signing.
    public var previousSecretExpiresAt: String?
    public var createdAt: String
    public var updatedAt: String

    enum CodingKeys: String, CodingKey {
        case id, url, events, description, enabled, disabledReason = "disabled_reason", failingSince = "failing_since", secret
        case previousSecretExpiresAt = "previous_secret_expires_at", createdAt = "created_at", updatedAt = "updated_at"
    }

    /// The view of a stored endpoint.
    public init(_ endpoint: WebhookEndpoint, now: Date, showSecret: Bool = false) {
        id = endpoint.endpointId
        url = endpoint.url
        events = endpoint.eventTypes
        description = endpoint.note
        enabled = endpoint.enabled
        disabledReason = endpoint.disabledReason
        failingSince = endpoint.failingSince.map(OrderView.timestamp)
        secret = showSecret ? endpoint.secret : nil
        previousSecretExpiresAt = endpoint.previousSecretExpiresAt.flatMap { $0 > now ? OrderView.timestamp($0) : nil }
        createdAt = OrderView.timestamp(endpoint.createdAt)
        updatedAt = OrderView.timestamp(endpoint.updatedAt)
    }

    // Every key present (null when absent), except `secret`, which exists only when shown.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(url, forKey: .url)
        try container.encode(events, forKey: .events)
        try container.encode(description, forKey: .description)
        try container.encode(enabled, forKey: .enabled)
        try container.encode(disabledReason, forKey: .disabledReason)
        try container.encode(failingSince, forKey: .failingSince)
        try container.encodeIfPresent(secret, forKey: .secret)
        try container.encode(previousSecretExpiresAt, forKey: .previousSecretExpiresAt)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}

/// An event as the API and `notifyctl --json` show it: the stored payload, and the attempts when asked for one.
public struct EventView: Encodable, Sendable {
    public var id: String
    public var type: String
    public var outTradeNo: String
    public var sequence: Int64
    public var createdAt: String
    /// The body every delivery sends, byte for byte.
    public var payload: String
    public var attempts: [AttemptView]?

    /// One delivery attempt.
    public struct AttemptView: Encodable, Sendable {
        public var endpoint: String
        public var attempt: Int
        public var status: Int?
        public var error: String?
        public var response: String?
        public var durationMs: Int
        public var at: String

        enum CodingKeys: String, CodingKey {
            case endpoint, attempt, status, error, response, durationMs = "duration_ms", at
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(endpoint, forKey: .endpoint)
            try container.encode(attempt, forKey: .attempt)
            try container.encode(status, forKey: .status)
            try container.encode(error, forKey: .error)
            try container.encode(response, forKey: .response)
            try container.encode(durationMs, forKey: .durationMs)
            try container.encode(at, forKey: .at)
        }
    }

    enum CodingKeys: String, CodingKey {
        case id, type, outTradeNo = "out_trade_no", sequence, createdAt = "created_at", payload, attempts
    }

    /// The view of a stored event.
    public init(_ event: WebhookEvent, attempts: [DeliveryAttempt]?) {
        id = event.eventId
        type = event.type
        outTradeNo = event.outTradeNo
        sequence = event.sequence
        createdAt = OrderView.timestamp(event.createdAt)
        payload = event.payload
        self.attempts = attempts?.map {
            AttemptView(
                endpoint: $0.endpointId, attempt: $0.attempt, status: $0.status, error: $0.error, response: $0.response,
                durationMs: $0.durationMilliseconds, at: OrderView.timestamp($0.at))
        }
    }
}

/// The body of `POST /api/endpoints`, decoded strictly (an unknown field is an error naming it).
public struct CreateEndpointRequest: Decodable, Sendable, Equatable {
    public var url: String
    public var events: [String]?
    public var description: String?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case url, events, description
    }

    public init(from decoder: any Decoder) throws {
        try UnknownFieldError.check(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let container = try decoder.container(keyedBy: CodingKeys.self)
        url = try container.decode(String.self, forKey: .url)
        events = try container.decodeIfPresent([String].self, forKey: .events)
        description = try container.decodeIfPresent(String.self, forKey: .description)
    }
}

/// One delivery a replay enqueued.
public struct ReplayedDelivery: Codable, Sendable, Equatable {
    public var event: String
    public var endpoint: String
    public var job: Int64
}
